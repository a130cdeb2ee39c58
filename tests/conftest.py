"""Factory fixtures and the fixed cast: our brand, and an outsider brand that must see nothing."""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from brands.models import Brand, Scope
from brands.services import api_key_create, brand_create
from config.embedded_postgres import RUN_ROOT as EMBEDDED_ROOT
from config.embedded_postgres import EmbeddedPostgres
from config.embedded_valkey import EmbeddedValkey
from consent.models import ConsentEvent, Contact, NoticeVersion, Purpose
from consent.services import contact_upsert, notice_version_publish, purpose_create
from tests.actors import TEST_ACTOR
from tests.logscan import LeakRecorder, leak_recorder_install

ALL_CONSENT_SCOPES = [Scope.CONSENT_READ, Scope.CONSENT_WRITE]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix: None) -> Iterator[None]:
    """Without DATABASE_URL, the session owns the embedded PostgreSQL under var/postgres (or uses
    the one a running `make run` owns) until the last test is done; pytest-django makes its
    test_candor database there. Without CELERY_BROKER_URL, the same for the embedded Valkey."""
    with contextlib.ExitStack() as servers:
        if not os.environ.get("DATABASE_URL"):
            servers.enter_context(EmbeddedPostgres(EMBEDDED_ROOT, durable=False).serving())
        if not os.environ.get("CELERY_BROKER_URL"):  # what after-commit publishes reach
            servers.enter_context(EmbeddedValkey().serving())
        yield


def pytest_configure(config: pytest.Config) -> None:
    """Passwords hash with a fast hasher here: Django's default (PBKDF2, a million rounds) is
    meant to be slow, and the console's tests make and sign in hundreds of staff accounts. The
    hasher is not what the tests are about; production keeps Django's default."""
    from django.conf import settings

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Say what was skipped and why (no Chromium, say), even without -rs."""
    reasons: Counter[str] = Counter()
    for report in terminalreporter.stats.get("skipped", []):
        if isinstance(report.longrepr, tuple):
            reasons[str(report.longrepr[2]).removeprefix("Skipped: ")] += 1
    if reasons:
        terminalreporter.section("skipped", sep="-")
        for reason, count in sorted(reasons.items()):
            terminalreporter.write_line(f"{count} skipped: {reason}")


_leaks: list[LeakRecorder] = []


@pytest.fixture(scope="session", autouse=True)
def _scan_logs() -> None:
    """Every log line of the run is scanned for tokens, API keys, emails and phone numbers;
    pytest_sessionfinish fails the run if any was written."""
    recorder = leak_recorder_install()
    _leaks.append(recorder)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI (CI=true), where every service the tests need is installed, a skipped test fails
    the run: a skip hides the code production runs. Anywhere, a log line that carried a secret
    or personal data fails it."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("CI", "").lower() == "true" and skipped and exitstatus == 0:
        if reporter:
            reporter.write_line(f"CI: {skipped} test(s) skipped; every test must run here", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    leaks = [leak for recorder in _leaks for leak in recorder.leaks]
    if leaks:
        if reporter:
            reporter.write_line(f"{len(leaks)} log line(s) carried secrets or personal data:", red=True)
            for name, line in leaks[:20]:
                reporter.write_line(f"  {name}: {line}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Rate-limit counters, cached API keys and brand configurations must not leak from one test
    into the next."""
    from django.core.cache import cache

    from console.kept import kept_forget
    from preferences.statements import brand_configs_forget
    from quizzes.page_selectors import quiz_live_forget

    cache.clear()
    # Each process remembers brands' configurations under a random stamp (sound across tests),
    # but a test counting statements must not depend on what an earlier test left behind.
    brand_configs_forget()
    quiz_live_forget()
    kept_forget()


@pytest.fixture(autouse=True)
def _quiz_counts_at_once(settings: Any) -> Iterator[None]:
    """Tests read a quiz's funnel right after a step: each count is written at once (the counts
    gathered per process and written by a timer are tests/quizzes/test_page_speed.py's), and no
    count is left for a timer or the exit to write into a database the test is done with."""
    from quizzes import responses

    settings.QUIZ_FUNNEL_FLUSH_SECONDS = 0
    yield
    responses.funnel_forget()


@pytest.fixture
def make_brand(db: None) -> Callable[..., Brand]:
    def make(slug: str = "acme", name: str = "Acme", **kwargs: Any) -> Brand:
        brand, _ = brand_create(actor=TEST_ACTOR, slug=slug, name=name, **kwargs)
        return brand

    return make


@pytest.fixture
def brand(make_brand: Callable[..., Brand]) -> Brand:
    return make_brand("acme", "Acme Ltd", jurisdiction="DE")


@pytest.fixture
def other_brand(make_brand: Callable[..., Brand]) -> Brand:
    return make_brand("outsider", "Outsider Inc")


@pytest.fixture
def make_purpose(db: None) -> Callable[..., Purpose]:
    def make(
        brand: Brand,
        slug: str = "email-marketing",
        *,
        languages: tuple[str, ...] = ("en",),
        **kwargs: Any,
    ) -> Purpose:
        purpose = purpose_create(
            actor=TEST_ACTOR, brand=brand, slug=slug, name=slug.replace("-", " ").title(), **kwargs
        )
        for language in languages:
            notice_version_publish(
                actor=TEST_ACTOR,
                purpose=purpose,
                language=language,
                title=f"{slug} ({language})",
                text=f"Text for {slug} in {language}.",
            )
        return purpose

    return make


@pytest.fixture
def purpose(brand: Brand, make_purpose: Callable[..., Purpose]) -> Purpose:
    return make_purpose(brand, "email-marketing", languages=("en", "de"))


def current_version(purpose: Purpose, language: str = "en") -> NoticeVersion:
    return (
        NoticeVersion.objects.filter(notice__purpose=purpose, language=language).order_by("-version").first()
    )  # type: ignore[return-value]


@pytest.fixture
def notice_version(purpose: Purpose) -> NoticeVersion:
    return current_version(purpose)


@pytest.fixture
def contact(brand: Brand) -> Contact:
    contact, _ = contact_upsert(brand=brand, external_id="cust-1", email="Ada@Example.com")
    return contact


@pytest.fixture
def make_client(db: None) -> Callable[..., APIClient]:
    def make(brand: Brand, scopes: list[str] | None = None) -> APIClient:
        issued = api_key_create(
            actor=TEST_ACTOR, brand=brand, scopes=[str(s) for s in (scopes or ALL_CONSENT_SCOPES)]
        )
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.raw_key}")
        client.api_key = issued.api_key  # type: ignore[attr-defined]
        return client

    return make


@pytest.fixture
def api(brand: Brand, make_client: Callable[..., APIClient]) -> APIClient:
    return make_client(brand)


@pytest.fixture
def outsider_api(other_brand: Brand, make_client: Callable[..., APIClient]) -> APIClient:
    return make_client(other_brand)


def ledger_rows(contact: Contact) -> list[ConsentEvent]:
    return list(ConsentEvent.objects.filter(contact=contact).order_by("sequence"))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e/ is `e2e` before `-m` selects (tests/e2e/conftest.py orders
    them later, last of all), so `-m e2e` runs all of them and `-m 'not e2e'` none."""
    e2e_root = Path(__file__).parent / "e2e"
    for item in items:
        if e2e_root in item.path.parents:
            item.add_marker(pytest.mark.e2e)
