"""The hosted pages' Jinja2 templates (templates/jinja2/) against the committed translations.

The msgids of locale/*/LC_MESSAGES/django.po are those Django's template language gave; a
`{% trans %}` block that drifts by one space or one placeholder name would silently show
English. These pin every message of every template to a translation in the .po files (read
directly, so they need none of gettext's tools; tests/test_locale.py checks the .mo files
against them), and render each page in German and French.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.conf import settings
from django.template import engines
from django.utils import translation
from django.utils.html import escape

from config.mail import Mail, MailSummary
from preferences.forms import FACT_FORMS, HoldForm, LinkRequestForm, StepUpCodeForm
from preferences.management.commands.makemessages import jinja_messages, jinja_messages_as_python
from tests.catalogues import LANGUAGES, po_messages

TEMPLATES = Path(settings.BASE_DIR) / "templates" / "jinja2"
BRAND = SimpleNamespace(
    name="Acme", slug="acme", privacy_policy_url="https://acme.test/privacy", contact_email=""
)
UNTIL = datetime.datetime(2026, 12, 24, 12, 0, tzinfo=datetime.UTC)


def _messages() -> list[tuple[str, list[str]]]:
    return [
        (str(path.relative_to(TEMPLATES)), strings)
        for path in sorted(TEMPLATES.rglob("*.html"))
        for _, _, strings in jinja_messages(path.read_text(encoding="utf-8"))
    ]


def test_the_templates_are_where_the_engine_reads_them():
    assert TEMPLATES.resolve() in [Path(d).resolve() for d in engines["pages"].template_dirs]  # type: ignore[attr-defined]
    assert len(_messages()) > 100


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_of_every_template_is_translated(language):
    """In the .po file, with the same plural, and neither empty nor fuzzy."""
    messages = po_messages(language)
    untranslated = []
    for template, strings in _messages():
        entry = messages.get((None, strings[0]))
        plural = strings[1] if len(strings) == 2 else None
        if entry is None or entry.msgid_plural != plural or not entry.translated:
            untranslated.append((template, strings[0]))
    assert untranslated == []


def test_makemessages_sees_every_message_on_its_line():
    source = '<p>{{ _("Pause") }}</p>\n{% trans trimmed name=x %}\n  Hello\n  {{ name }}\n{% endtrans %}'
    assert jinja_messages_as_python(source).split("\n") == [
        "gettext('Pause'); ",
        "gettext('Hello %(name)s'); ",
        "",
        "",
        "",
    ]


def _render(template: str, language: str, **context: Any) -> str:
    with translation.override(language):
        return engines["pages"].get_template(template).render({"brand": BRAND, **context})


def _t(language: str, msgid: str, **values: Any) -> str:
    """The translation as the page shows it: variables escaped, the sentence itself not."""
    with translation.override(language):
        text = translation.gettext(msgid)
    assert text != msgid, f"{msgid!r} has no {language} translation"
    return text % {key: escape(value) for key, value in values.items()}


def _centre() -> dict[str, Any]:
    hold = SimpleNamespace(until=UNTIL, public_id="hold_1")
    return {
        "centre": SimpleNamespace(
            groups=[],
            service=[],
            other_purposes=[],
            channels=["email"],
            holds=[hold],
            agent_holds=[],
            customer_holds=[hold],
            rows=[],
        ),
        "hold_form": HoldForm(),
        "facts": [SimpleNamespace(label="Phone", value="", why="To text you.", field="phone")],
        "channel_all_labels": [("email", "all emails")],
        "undo": [],
        "opted_out_channels": [],
        "submitted": {},
        "error_summary": [],
    }


# template → (context, [(msgid, placeholders)]): at least one message per page, a sentence with
# placeholders where the page has one.
PAGES: dict[str, tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]] = {
    "preferences/centre.html": (
        _centre(),
        [
            ("Your preferences", {}),
            (
                "Choose what %(name)s sends you, on which channel and how often. Nothing here is "
                "ticked unless you chose it, and you can change your mind at any time.",
                {"name": "Acme"},
            ),
            ("Sign out", {}),
            ("Resume now", {}),
            (
                "Everything %(name)s holds about you here, and why. Correct or delete any of it.",
                {"name": "Acme"},
            ),
            ('Add <span class="visually-hidden">%(what)s</span>', {"what": "Phone"}),
            ("Privacy policy", {}),
        ],
    ),
    "preferences/confirm.html": (
        {"items": [], "token": "t"},
        [("Confirm your subscription", {}), ("You asked %(name)s to send you:", {"name": "Acme"})],
    ),
    "preferences/confirm_done.html": (
        {"used": False},
        [("Thank you", {}), ("Manage all your preferences", {})],
    ),
    "preferences/erase.html": ({}, [("Delete your data?", {}), ("Yes, delete my data", {})]),
    "preferences/erased.html": (
        {},
        [
            (
                "%(name)s won't send you marketing messages any more. Links in older emails no "
                "longer open your preferences.",
                {"name": "Acme"},
            )
        ],
    ),
    "preferences/fact_edit.html": (
        {
            "label": "Phone",
            "why": "To text you.",
            "name": "phone",
            "form": FACT_FORMS["phone"](),
            "error_summary": [],
        },
        [("Why we hold it: %(why)s", {"why": "To text you."}), ("Save", {}), ("Cancel", {})],
    ),
    "preferences/link_expired.html": (
        {"kind": "manage", "token": "t", "form": LinkRequestForm()},
        [("This link has expired", {}), ("Email me a new link", {}), ("Unsubscribe from all emails", {})],
    ),
    "preferences/link_request.html": (
        {"form": LinkRequestForm(), "error_summary": []},
        [("Get a new link", {}), ("Your email address", {})],
    ),
    "preferences/link_sent.html": ({}, [("Check your inbox", {}), ("Try another address", {})]),
    "preferences/one_click.html": (
        {"topic_name": "News", "channel_label": "email", "token": "t", "what_all": "all emails"},
        [("Unsubscribe from “%(topic)s” (%(channel)s)?", {"topic": "News", "channel": "email"})],
    ),
    "preferences/session_ended.html": (
        {"form": LinkRequestForm()},
        [
            (
                "To keep your choices private, this page opens from the link in an email from "
                "%(name)s, and stays open for an hour. Use that link again, or we can email you a new one.",
                {"name": "Acme"},
            )
        ],
    ),
    "preferences/too_many.html": ({"retry_after": 30}, [("Too many attempts", {})]),
    "preferences/unsubscribe_all.html": (
        {"what": "all emails", "channel": "email", "topics": ["News"]},
        [("This stops:", {}), ("No, go back to my preferences", {})],
    ),
    "preferences/unsubscribe_offer_taken.html": (
        {"action": "stay"},
        [("You're still unsubscribed", {}), ("Nothing else has changed.", {})],
    ),
    "preferences/unsubscribed.html": (
        {"all": True, "channel_label": "email", "token": "t"},
        [
            (
                "%(name)s won't send you marketing by this channel (%(channel)s) any more. Messages "
                "you need, like order confirmations, still arrive.",
                {"name": "Acme", "channel": "email"},
            )
        ],
    ),
    "preferences/step_up.html": (
        {
            "action": "export",
            "title": "Download my data",
            "submit_label": "Download my data",
            "sent_to": "a•••@example.com",
            "form": StepUpCodeForm(verify=lambda code: None),
            "error_summary": [],
        },
        [
            ("To check it's you, we've emailed a code to %(address)s.", {"address": "a•••@example.com"}),
            ("Code from the email", {}),
            ("Send a new code", {}),
        ],
    ),
    "404.html": ({"brand": None}, [("Page not found", {}), ("Skip to main content", {})]),
    "home.html": (
        {
            "brand": None,
            "debug": True,
            "version": "1.2.3",
            "demo": True,
            "demo_slug": "demo",
            "demo_contact": "c-1",
        },
        [
            ("Candor is running", {}),
            ("Version %(version)s, in development mode (DEBUG is on).", {"version": "1.2.3"}),
            (
                "This development page makes a fresh signed link for the demo brand’s customer "
                "%(contact)s (%(brand)s) and no one else. A link for any contact is printed by:",
                {"contact": "c-1", "brand": "demo"},
            ),
            ("Mail sent by this development server", {}),
        ],
    ),
    # The DEBUG-only development pages are in English (config/home.py): only the frame is translated.
    "dev/mail_list.html": ({"brand": None, "folder": "var/mail"}, [("Skip to main content", {})]),
    "dev/mail_message.html": (
        {
            "brand": None,
            "mail": Mail(
                summary=MailSummary(name="x.eml", subject="Hi", to="a@example.com", sent_at=UNTIL),
                sender="b@example.com",
                text="https://example.com/x",
                has_html=False,
            ),
        },
        [("Skip to main content", {})],
    ),
}


def test_every_page_is_pinned():
    pages = {str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html")}
    partials = {p for p in pages if p.startswith("elements/") or "/_" in p or p == "base.html"}
    console = {p for p in pages if p.startswith("console/")}  # staff pages: tests/console
    quizzes = {p for p in pages if p.startswith("quizzes/")}  # in each language: tests/quizzes/test_page.py
    assert pages - partials - console - quizzes == set(PAGES)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("template", sorted(PAGES))
def test_each_page_renders_in_the_language(template, language):
    context, expected = PAGES[template]
    html = _render(template, language, **context)

    assert f'<html lang="{language}">' in html
    for msgid, values in expected:
        assert _t(language, msgid, **values) in html


@pytest.mark.parametrize("language", LANGUAGES)
def test_plurals_and_localised_dates(language):
    with translation.override(language):
        wait = translation.ngettext(
            "Please wait %(seconds)s second, then try again.",
            "Please wait %(seconds)s seconds, then try again.",
            30,
        ) % {"seconds": 30}
        paused = _t(language, "Paused until %(date)s.", date="{date}")
    html = _render("preferences/too_many.html", language, retry_after=30)
    assert wait in html

    html = _render("preferences/centre.html", language, **_centre())
    date = {"de": "24. Dezember 2026", "fr": "24 décembre 2026"}[language]
    assert paused.format(date=date) in html


def test_variables_are_escaped_and_sentences_are_not():
    brand = SimpleNamespace(name="<b>A&B</b>", slug="acme", privacy_policy_url="", contact_email="")
    html = engines["pages"].get_template("preferences/erased.html").render({"brand": brand})
    assert "&lt;b&gt;A&amp;B&lt;/b&gt; won&#39;t send you" not in html  # the sentence stays as written
    assert "&lt;b&gt;A&amp;B&lt;/b&gt; won't send you marketing messages any more." in html
    assert "<b>A&B</b>" not in html
