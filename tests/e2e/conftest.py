"""End-to-end tests of the hosted pages in real Chromium (Debian's `chromium`, driven by Playwright).

- One browser for the whole session, a fresh context (cookies, JavaScript on or off, viewport)
  per test; pytest-django's `live_server` serves the app from a transactional database.
- Without /usr/bin/chromium every test marked `e2e` is skipped, and the run says why.
- The demo brand that `make run` seeds is the fixture: what a newcomer sees is what is tested.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect, sync_playwright

from brands.models import Brand
from consent.models import ConsentEvent, Contact
from consent.services import contact_upsert
from preferences.demo import seed_demo
from preferences.models import Subscription
from preferences.services import SubscriptionChange, preferences_update
from preferences.tokens import LinkKind, link_path, token_issue
from tests.conftest import current_version

CHROMIUM = Path("/usr/bin/chromium")
# Playwright's own browser download cannot work on these machines: launch Debian's Chromium.
# The background-networking flags keep it from calling home (refused here, and slow). Playwright
# gives every launch a fresh, empty profile directory of its own (it refuses --user-data-dir).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000
HOME = "/p/demo/"


@pytest.hookimpl(trylast=True)  # after pytest-django has put the tests in its order
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything here is `e2e`, runs last, and needs Chromium: without it, skip and say so (as
    for `postgres`). Last, because from the first e2e test on Playwright keeps an asyncio loop in
    this thread (see `playwright`), which no other test should run beside."""
    here = Path(__file__).parent
    e2e = [item for item in items if here in item.path.parents]
    others = [item for item in items if here not in item.path.parents]
    items[:] = [*others, *e2e]
    for item in e2e:
        item.add_marker(pytest.mark.e2e)
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(reason=f"needs Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)")
    for item in items:
        if "e2e" in item.keywords:
            item.add_marker(skip)


# --- The browser --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    # Playwright's sync API keeps an asyncio loop running in this thread until the session ends,
    # which Django's async-safety check mistakes for async code. The tests' own ORM calls are
    # plain synchronous code; the live server answers in its own thread and is not affected.
    # The e2e tests run last (pytest_collection_modifyitems), so no other test sees this.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as driver:
            yield driver
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="session")
def browser(playwright: Any) -> Iterator[Any]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """A page in a fresh context: `new_page(javascript=False, width=320)`."""
    contexts: list[Any] = []

    def make(*, javascript: bool = True, width: int = 1280, height: int = 900) -> Any:
        context = browser.new_context(
            java_script_enabled=javascript, viewport={"width": width, "height": height}, locale="en-GB"
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(params=[False, True], ids=["no-js", "js"])
def javascript(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


# --- The server and its data --------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _transactional(transactional_db: None) -> None:
    """The live server reads what a test writes from another connection: committed rows."""


@pytest.fixture
def server(live_server: Any, settings: Any) -> str:
    """The live server's base URL, which signed links and ledger evidence name."""
    settings.PUBLIC_BASE_URL = live_server.url
    return str(live_server.url)


@pytest.fixture
def demo(server: str) -> Brand:
    """The brand `make run` seeds: newsletter (email; weekly or monthly), offers (email and SMS;
    as it happens, daily or weekly), back-in-stock alerts (double opt-in), orders (transactional),
    notices in English, German and French; its customer cust-42 (ada@example.com, English)."""
    brand, _ = seed_demo()
    return brand


@pytest.fixture
def customer(demo: Brand) -> Contact:
    """The demo's customer, with a mobile number: texts under their own notice need one."""
    contact, _ = contact_upsert(brand=demo, external_id="cust-42", phone="+14155550142")
    return contact


def link(kind: str, brand: Brand, contact: Contact, *, age: timedelta = timedelta(0), **kw: Any) -> str:
    token = token_issue(kind=kind, brand=brand, contact=contact, now=timezone.now() - age, **kw)
    return link_path(kind=kind, brand=brand, token=token)


def open_centre(page: Any, server: str, brand: Brand, contact: Contact) -> str:
    """Follow a fresh manage link; return the URL the browser lands on."""
    url = server + link(LinkKind.MANAGE, brand, contact)
    page.goto(url)
    page.wait_for_url(server + HOME)
    return str(page.url)


def subscribe(brand: Brand, contact: Contact, *rows: tuple[str, str], cadence: str | None = None) -> None:
    """Subscribe through the API's service, under the current English notice of the purpose each
    row needs (a topic's SMS row may have a purpose of its own)."""
    changes = []
    for topic_slug, channel in rows:
        topic = brand.topics.select_related("purpose", "sms_purpose").get(slug=topic_slug)
        purpose = topic.sms_purpose if channel == "sms" and topic.sms_purpose else topic.purpose
        version = current_version(purpose, "en") if purpose else None
        changes.append(
            SubscriptionChange(
                topic=topic_slug,
                channel=channel,
                status="subscribed",
                cadence=cadence,
                notice_version=version.public_id if version else None,
            )
        )
    preferences_update(
        brand=brand, external_id=contact.external_id, method="api", recorded_by="test", subscriptions=changes
    )


def stored(contact: Contact) -> dict[tuple[str, str], tuple[str, str]]:
    """{(topic, channel): (status, cadence)} of the stored rows."""
    return {
        (row.topic.slug, row.channel): (row.status, row.cadence)
        for row in Subscription.objects.filter(contact=contact).select_related("topic")
    }


def ledger(contact: Contact) -> list[tuple[int, str, str, str, str | None]]:
    """(sequence, purpose, decision, method, notice version) of every ledger row, oldest first."""
    return [
        (
            e.sequence,
            e.purpose.slug,
            e.decision,
            e.method,
            e.notice_version.public_id if e.notice_version else None,
        )
        for e in ConsentEvent.objects.filter(contact=contact)
        .select_related("purpose", "notice_version")
        .order_by("sequence")
    ]


def expect_status(page: Any, text: str) -> None:
    """The live region (role=status) says `text`, waiting for the script that re-inserts it."""
    expect(page.get_by_role("status")).to_have_text(text)


def focus_is_visible(page: Any) -> bool:
    """The focused element draws a focus indicator: an outline or a box-shadow."""
    return bool(
        page.evaluate(
            """() => {
                const el = document.activeElement;
                if (!el || el === document.body) return false;
                const style = getComputedStyle(el);
                const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
                return outline || (style.boxShadow && style.boxShadow !== "none");
            }"""
        )
    )
