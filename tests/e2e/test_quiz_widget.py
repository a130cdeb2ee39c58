"""The quiz widget in real Chromium: a page on another local origin embeds the quiz with the one
script tag, a person completes it by keyboard alone, and the answers, traits, subscription and
ledger event land; a page on an origin the brand did not list gets no quiz; axe-core finds no
WCAG A/AA violation on the quiz page in English, German and French."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from brands.models import Brand
from brands.services import brand_update
from consent.models import Contact, Purpose
from consent.services import contact_upsert
from preferences.topics import topic_create
from quizzes.models import Answer, Quiz, Response, Trait
from quizzes.services import quiz_create, quiz_publish
from quizzes.tokens import quiz_token_issue
from tests.actors import TEST_ACTOR
from tests.conftest import current_version
from tests.e2e.conftest import TIMEOUT_MS, ledger, stored
from tests.e2e.test_accessibility import assert_accessible
from tests.quizzes.conftest import running_document

pytestmark = pytest.mark.e2e


@pytest.fixture
def shop(make_brand: Callable[..., Brand], make_purpose: Callable[..., Purpose], server: str) -> Brand:
    brand = make_brand("shop", "Shop Ltd", jurisdiction="DE")
    make_purpose(brand, "personalisation", languages=("en", "de", "fr"))
    marketing = make_purpose(brand, "email-marketing", languages=("en", "de", "fr"))
    topic_create(
        actor=TEST_ACTOR,
        brand=brand,
        slug="training",
        name="Training",
        purpose=marketing,
        channels=["email"],
        cadence_options=["weekly", "monthly"],
    )
    return brand


@pytest.fixture
def quiz(shop: Brand) -> Quiz:
    marketing = Purpose.objects.get(brand=shop, slug="email-marketing")
    document = running_document(current_version(marketing).public_id)
    document["title"].update(fr="Trouvez votre plan")
    quiz = quiz_create(brand=shop, actor=TEST_ACTOR, document=document)
    quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    return quiz


class _Host(http.server.ThreadingHTTPServer):
    page = b""


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = self.server.page  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def host_page() -> Iterator[Callable[[str], str]]:
    """A brand's own site on another local origin (127.0.0.1, its own port): serves `html`."""
    servers: list[_Host] = []

    def serve(html: str) -> str:
        host = _Host(("127.0.0.1", 0), _Handler)
        host.page = html.encode()
        threading.Thread(target=host.serve_forever, daemon=True).start()
        servers.append(host)
        return f"http://127.0.0.1:{host.server_address[1]}"

    yield serve
    for host in servers:
        host.shutdown()
        host.server_close()


def shop_page(server: str, quiz: Quiz, token: str = "") -> str:
    attribute = f' data-contact-token="{token}"' if token else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>Our shop</h1><p><a href="#before">Before the quiz</a></p>
<script src="{server}/q/embed.js" data-quiz="{quiz.public_id}"{attribute} async></script>
<p><a href="#after">After the quiz</a></p></body></html>"""


def tab_to(page: Any, frame: Any, selector: str, *, limit: int = 20) -> None:
    """Press Tab until the quiz frame's focused element matches `selector`."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if frame.evaluate(f"document.activeElement && document.activeElement.matches({selector!r})"):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_a_person_completes_the_embedded_quiz_by_keyboard_and_the_answers_land(
    browser: Any, server: str, shop: Brand, quiz: Quiz, host_page: Callable[[str], str]
):
    contact, _ = contact_upsert(brand=shop, external_id="cust-7", email="ada@example.com")
    token = quiz_token_issue(brand=shop, contact=contact, quiz=quiz).token
    origin = host_page(shop_page(server, quiz, token))
    brand_update(brand=shop, actor=TEST_ACTOR, embed_origins=[origin])

    context = browser.new_context(locale="en-GB", viewport={"width": 1000, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(origin + "/?utm_source=newsletter&utm_campaign=spring&other=x")
    iframe = page.locator("iframe.candor-quiz")
    expect(iframe).to_have_attribute("title", "Find your plan")  # sent by the quiz page
    frame = page.frame_locator("iframe.candor-quiz")
    expect(frame.get_by_role("heading", name="What is your goal?")).to_be_visible()
    height = iframe.evaluate("f => f.style.height")
    assert height.endswith("px"), height
    assert int(height[:-2]) > 300, height  # grown to the quiz by its postMessage
    inner = next(f for f in page.frames if f.url.startswith(server))

    page.locator("a[href='#before']").focus()
    tab_to(page, inner, "input[value=marathon]")
    page.keyboard.press("Space")
    tab_to(page, inner, "button[value=next]")
    page.keyboard.press("Enter")
    expect(frame.get_by_role("heading", name="How fit are you today?")).to_be_visible()

    inner = next(f for f in page.frames if f.url.startswith(server))
    tab_to(page, inner, "input[name=answer]")
    for _ in range(3):
        page.keyboard.press("ArrowRight")  # 1 → 4
    tab_to(page, inner, "button[value=next]")
    page.keyboard.press("Enter")
    expect(frame.get_by_role("heading", name="What do you own already?")).to_be_visible()

    inner = next(f for f in page.frames if f.url.startswith(server))
    tab_to(page, inner, "input[value=shoes]")
    page.keyboard.press("Space")
    tab_to(page, inner, "button[value=next]")
    page.keyboard.press("Enter")
    expect(frame.get_by_role("heading", name="May we send you training tips by email?")).to_be_visible()

    inner = next(f for f in page.frames if f.url.startswith(server))
    tab_to(page, inner, "input[value=yes]")
    page.keyboard.press("Space")
    tab_to(page, inner, "button[value=next]")
    page.keyboard.press("Enter")
    expect(frame.get_by_role("heading", name="Race plan")).to_be_visible()

    # No focus trap: Tab leaves the quiz for the host page's next link.
    inner = next(f for f in page.frames if f.url.startswith(server))
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.getAttribute('href')") == "#after":
            break
    else:
        raise AssertionError("focus never left the quiz frame")
    context.close()

    response = Response.objects.get()
    assert (response.contact_id, response.outcome, response.utm) == (
        contact.pk,
        "racer",
        {"utm_source": "newsletter", "utm_campaign": "spring"},
    )
    assert sorted(Answer.objects.values_list("question__key", "value", "contact")) == [
        ("goal", "marathon", contact.pk),
        ("kit", ["shoes"], contact.pk),
        ("level", 4, contact.pk),
        ("news", True, contact.pk),
    ]
    assert sorted(Trait.objects.values_list("key", "value", "purpose__slug")) == [
        ("fitness", 4, "personalisation"),
        ("goal", "run a marathon", "personalisation"),
    ]
    assert stored(contact) == {("training", "email"): ("subscribed", "weekly")}
    notice = current_version(Purpose.objects.get(brand=shop, slug="email-marketing")).public_id
    assert ledger(contact) == [(1, "email-marketing", "granted", "quiz", notice)]
    evidence = Contact.objects.get(pk=contact.pk)
    assert evidence.event_sequence == 3  # consent.granted, preferences.updated, quiz.completed


def test_a_page_on_an_origin_not_listed_gets_no_quiz(
    browser: Any, server: str, shop: Brand, quiz: Quiz, host_page: Callable[[str], str]
):
    listed = host_page(shop_page(server, quiz))
    brand_update(brand=shop, actor=TEST_ACTOR, embed_origins=[listed])
    elsewhere = host_page(shop_page(server, quiz))
    context = browser.new_context(locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text))
    page.goto(elsewhere + "/")
    iframe = page.locator("iframe.candor-quiz")
    expect(iframe).to_have_count(1)
    page.wait_for_timeout(1000)
    inner = iframe.element_handle().content_frame()
    # Chromium puts its own error page in a frame its CSP refuses: the quiz never loads.
    assert inner is None or not inner.url.startswith(server), inner and inner.url
    assert (
        page.frame_locator("iframe.candor-quiz").get_by_role("heading", name="What is your goal?").count()
        == 0
    )
    assert any("frame-ancestors" in text for text in refused), refused
    context.close()

    # The same page on the listed origin shows it.
    context = browser.new_context(locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(listed + "/")
    expect(
        page.frame_locator("iframe.candor-quiz").get_by_role("heading", name="What is your goal?")
    ).to_be_visible()
    context.close()


@pytest.mark.parametrize(("locale", "language"), [("en-GB", "en"), ("de-DE", "de"), ("fr-FR", "fr")])
def test_the_quiz_page_has_no_wcag_violation(
    browser: Any, server: str, quiz: Quiz, locale: str, language: str
):
    context = browser.new_context(locale=locale, viewport={"width": 1000, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto(f"{server}/q/{quiz.public_id}/")
    page.get_by_role("button").first.click()  # Continue without an answer: the error summary
    expect(page.locator("#error-summary")).to_be_visible()
    assert_accessible(page, language)
    page.set_viewport_size({"width": 1000, "height": 900})
    # Each step is drawn by the page's script (no page load to wait for): wait for what the
    # next page shows before checking it.
    page.locator("input[value=marathon]").check()
    page.locator("button[value=next]").click()
    expect(page.locator("input[value='4']")).to_be_visible()
    assert_accessible(page, language)  # a scale, and "Save my progress"
    page.set_viewport_size({"width": 1000, "height": 900})
    page.locator("input[value='4']").check()
    page.locator("button[value=next]").click()
    expect(page.locator("input[value=shoes]")).to_be_visible()
    page.locator("button[value=next]").click()  # the optional question
    expect(page.locator("input[value=yes]")).to_be_visible()
    assert_accessible(page, language)  # the consent question with its notice
    page.set_viewport_size({"width": 1000, "height": 900})
    page.locator("input[value=yes]").check()
    page.locator("button[value=next]").click()
    expect(page.locator("a[href='https://shop.example/race']")).to_be_visible()
    assert_accessible(page, language)  # the outcome
    context.close()
