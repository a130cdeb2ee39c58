"""The catalogue pages: topics (with what a removed channel or cadence does to contacts' choices),
purposes and their notices (new versions, the diff, counts per version), and the theme (the
contrast check, the preview). Each action: the exact rows and audit entries it writes, and on a
refusal, that nothing was written."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from brands.models import AuditEntry, Brand
from consent.models import Contact, NoticeVersion
from consent.services import contact_upsert, notice_version_publish
from preferences.models import Subscription, Topic
from preferences.selectors import preferences_get
from preferences.services import SubscriptionChange, preferences_update
from tests.actors import TEST_ACTOR, audit_mark, audit_rows
from tests.conftest import current_version
from tests.console.conftest import decide

EDITOR = "editor@acme.test"


@pytest.fixture
def editor(brand, make_staff, signed_in):
    return signed_in(make_staff(brand, "editor"))


@pytest.fixture
def viewer(brand, make_staff, signed_in):
    return signed_in(make_staff(brand, "viewer"))


def subscribe(
    brand: Brand, external_id: str, topic: str, channel: str, *, cadence: str, status: str = "subscribed"
) -> None:
    contact_upsert(brand=brand, external_id=external_id, phone="+14155550142")
    purpose = Topic.objects.get(brand=brand, slug=topic).purpose_for(channel)
    preferences_update(
        brand=brand,
        external_id=external_id,
        method="api",
        recorded_by="test",
        subscriptions=[
            SubscriptionChange(
                topic=topic,
                channel=channel,
                status="subscribed",
                cadence=cadence,
                notice_version=current_version(purpose).public_id,
            )
        ],
    )
    if status == "unsubscribed":
        preferences_update(
            brand=brand,
            external_id=external_id,
            method="api",
            recorded_by="test",
            subscriptions=[SubscriptionChange(topic=topic, channel=channel, status="unsubscribed")],
        )


def consent(brand: Brand, external_id: str, purpose: Any, decision: str = "granted") -> None:
    contact_upsert(brand=brand, external_id=external_id)
    decide(brand, external_id, purpose, decision)


def stored_rows(brand: Brand) -> list[tuple[str, str, str, str, str]]:
    return sorted(
        (row.contact.external_id, row.topic.slug, row.channel, row.status, row.cadence)
        for row in Subscription.objects.filter(brand=brand).select_related("contact", "topic")
    )


def topic_form(**changes: Any) -> dict[str, Any]:
    """The newsletter's edit form as the page shows it (tests/console/conftest.py `topics`)."""
    form: dict[str, Any] = {
        "name": "Newsletter",
        "description": "",
        "name_de": "Rundbrief",  # the fixture's translation, shown in the form
        "purpose": "email-marketing",
        "sms_purpose": "",
        "channels": ["email", "sms"],
        "cadence_options": ["weekly", "daily", "monthly"],
        "default_cadence": "weekly",
        "position": "1",
    }
    form.update(changes)
    return form


def topic_row(topic: Topic) -> tuple[Any, ...]:
    topic.refresh_from_db()
    return (topic.name, topic.channels, topic.cadence_options, topic.transactional, topic.position)


# --- Topics ------------------------------------------------------------------------------


def test_an_editor_adds_a_topic_and_the_audit_names_them(brand, purpose, editor):
    mark = audit_mark()
    response = editor.post(
        "/console/acme/topics/",
        {
            "action": "create",
            "slug": "tips",
            "name": "Tips",
            "description": "How to use it",
            "purpose": "email-marketing",
            "sms_purpose": "",
            "channels": ["sms", "email"],
            "cadence_options": ["daily", "monthly"],
            "default_cadence": "monthly",
            "double_opt_in": "on",
            "position": "4",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/console/acme/topics/tips/"
    tips = Topic.objects.get(brand=brand, slug="tips")
    assert (
        tips.name,
        tips.purpose,
        tips.channels,
        tips.cadence_options,
        tips.double_opt_in,
        tips.position,
    ) == (
        "Tips",
        purpose,
        ["sms", "email"],
        ["monthly", "daily"],  # the default leads
        True,
        4,
    )
    assert audit_rows(brand, since_id=mark) == [
        (
            "staff",
            EDITOR,
            "topic.created",
            "topic",
            "tips",
            None,
            {
                "slug": "tips",
                "name": "Tips",
                "purpose": "email-marketing",
                "sms_purpose": None,
                "description": "How to use it",
                "translations": {},
                "transactional": False,
                "default_subscribed": False,
                "channels": ["sms", "email"],
                "cadence_options": ["monthly", "daily"],
                "double_opt_in": True,
                "position": 4,
            },
            "",
        )
    ]


def test_a_topic_with_a_taken_slug_or_a_default_not_offered_is_refused_and_nothing_written(
    brand, topics, editor
):
    before = (Topic.objects.count(), AuditEntry.objects.count())
    taken = editor.post(
        "/console/acme/topics/", {"action": "create", **topic_form(slug="newsletter", name="Again")}
    )
    assert taken.status_code == 422
    assert "The brand already has a topic with this slug." in taken.content.decode()
    odd = editor.post(
        "/console/acme/topics/",
        {"action": "create", **topic_form(slug="tips", cadence_options=["daily"], default_cadence="weekly")},
    )
    assert odd.status_code == 400
    assert "Choose one of the cadences offered." in odd.content.decode()
    assert (Topic.objects.count(), AuditEntry.objects.count()) == before


def test_removing_a_cadence_shows_whom_it_affects_and_saves_only_once_confirmed(brand, topics, editor):
    subscribe(brand, "cust-1", "newsletter", "email", cadence="daily")
    subscribe(brand, "cust-2", "newsletter", "email", cadence="daily")
    subscribe(brand, "cust-3", "newsletter", "email", cadence="weekly")
    subscribe(brand, "cust-4", "newsletter", "email", cadence="daily", status="unsubscribed")
    rows = stored_rows(brand)
    mark = audit_mark()
    newsletter = topics["newsletter"]
    asked = editor.post(
        "/console/acme/topics/newsletter/",
        {"action": "save", **topic_form(cadence_options=["weekly", "monthly"])},
    )
    assert asked.status_code == 200
    page = asked.content.decode()
    assert "Before you save: what happens to contacts' choices" in page
    # Two subscriptions chose the daily digest (the unsubscribed one gets nothing anyway).
    assert '<th scope="row">Daily digest</th>\n        <td class="num">2</td>' in page
    assert "Weekly digest, the new default, until they choose again." in page
    assert 'name="confirmed" value="channels:;cadences:daily"' in page
    assert topic_row(newsletter) == ("Newsletter", ["email", "sms"], ["weekly", "daily", "monthly"], False, 1)
    assert audit_rows(brand, since_id=mark) == []

    saved = editor.post(
        "/console/acme/topics/newsletter/",
        {
            "action": "save",
            "confirmed": "channels:;cadences:daily",
            **topic_form(cadence_options=["weekly", "monthly"]),
        },
    )
    assert saved.status_code == 302
    assert topic_row(newsletter) == ("Newsletter", ["email", "sms"], ["weekly", "monthly"], False, 1)
    assert audit_rows(brand, since_id=mark) == [
        (
            "staff",
            EDITOR,
            "topic.updated",
            "topic",
            "newsletter",
            {"cadence_options": ["weekly", "daily", "monthly"]},
            {"cadence_options": ["weekly", "monthly"]},
            "",
        )
    ]
    # The stored choices stay; they read as the new default, as the page said.
    assert stored_rows(brand) == rows
    contact = Contact.objects.get(brand=brand, external_id="cust-1")
    [email_row] = [
        r
        for r in preferences_get(brand=brand, contact=contact).subscriptions
        if r.topic.slug == "newsletter" and r.channel == "email"
    ]
    assert (email_row.status, email_row.cadence) == ("subscribed", "weekly")


def test_removing_a_channel_counts_its_rows_and_a_stale_confirmation_asks_again(brand, topics, editor):
    subscribe(brand, "cust-1", "newsletter", "sms", cadence="weekly")
    subscribe(brand, "cust-2", "newsletter", "sms", cadence="weekly", status="unsubscribed")
    subscribe(brand, "cust-3", "newsletter", "email", cadence="monthly")
    mark = audit_mark()
    newsletter = topics["newsletter"]
    # Confirmed for the SMS channel alone, but the form now also takes the monthly digest away.
    stale = editor.post(
        "/console/acme/topics/newsletter/",
        {
            "action": "save",
            "confirmed": "channels:sms;cadences:",
            **topic_form(channels=["email"], cadence_options=["weekly", "daily"]),
        },
    )
    assert stale.status_code == 200
    page = stale.content.decode()
    assert (
        '<th scope="row">Text message (SMS)</th>\n        <td class="num">1</td>\n'
        '        <td class="num">1</td>' in page
    )
    assert '<th scope="row">Monthly digest</th>\n        <td class="num">1</td>' in page
    assert 'name="confirmed" value="channels:sms;cadences:monthly"' in page
    assert topic_row(newsletter)[1:3] == (["email", "sms"], ["weekly", "daily", "monthly"])
    assert audit_rows(brand, since_id=mark) == []

    saved = editor.post(
        "/console/acme/topics/newsletter/",
        {
            "action": "save",
            "confirmed": "channels:sms;cadences:monthly",
            **topic_form(channels=["email"], cadence_options=["weekly", "daily"]),
        },
    )
    assert saved.status_code == 302
    assert topic_row(newsletter)[1:3] == (["email"], ["weekly", "daily"])
    assert [row[2] for row in audit_rows(brand, since_id=mark)] == ["topic.updated"]


def test_a_change_that_removes_nothing_saves_at_once(brand, topics, editor):
    mark = audit_mark()
    response = editor.post(
        "/console/acme/topics/newsletter/",
        {"action": "save", **topic_form(name="The newsletter", position="7")},
    )
    assert response.status_code == 302
    assert topic_row(topics["newsletter"]) == (
        "The newsletter",
        ["email", "sms"],
        ["weekly", "daily", "monthly"],
        False,
        7,
    )
    assert audit_rows(brand, since_id=mark) == [
        (
            "staff",
            EDITOR,
            "topic.updated",
            "topic",
            "newsletter",
            {"name": "Newsletter", "position": 1},
            {"name": "The newsletter", "position": 7},
            "",
        )
    ]


def test_deleting_an_unused_topic_and_refusing_one_in_use(brand, topics, editor):
    subscribe(brand, "cust-1", "newsletter", "email", cadence="weekly")
    mark = audit_mark()
    in_use = editor.post("/console/acme/topics/newsletter/", {"action": "delete", "slug": "newsletter"})
    assert in_use.status_code == 409
    assert "“Newsletter” cannot be deleted: contacts have chosen about it" in in_use.content.decode()
    assert Topic.objects.filter(brand=brand, slug="newsletter").exists()
    unnamed = editor.post("/console/acme/topics/offers/", {"action": "delete", "slug": "newsletter"})
    assert unnamed.status_code == 400
    assert audit_rows(brand, since_id=mark) == []

    deleted = editor.post("/console/acme/topics/offers/", {"action": "delete", "slug": "offers"})
    assert deleted.status_code == 302
    assert deleted["Location"] == "/console/acme/topics/"
    assert sorted(Topic.objects.filter(brand=brand).values_list("slug", flat=True)) == [
        "launches",
        "newsletter",
    ]
    [entry] = audit_rows(brand, since_id=mark)
    assert entry[:5] == ("staff", EDITOR, "topic.deleted", "topic", "offers")
    assert entry[5]["channels"] == ["email"]
    assert entry[6] is None


def test_a_viewer_reads_a_topic_without_a_form_and_another_brands_topic_is_404(
    brand, other_brand, topics, viewer, editor, make_purpose
):
    page = viewer.get("/console/acme/topics/newsletter/")
    assert page.status_code == 200
    body = page.content.decode()
    assert '<form method="post" novalidate>' not in body
    assert "Weekly digest, Daily digest, Monthly digest" in body
    listing = viewer.get("/console/acme/topics/").content.decode()
    assert 'href="/console/acme/topics/newsletter/"' in listing
    assert "Add a topic" not in listing
    from preferences.topics import topic_create

    topic_create(
        actor=TEST_ACTOR, brand=other_brand, slug="theirs", name="Theirs", purpose=make_purpose(other_brand)
    )
    assert editor.get("/console/acme/topics/theirs/").status_code == 404
    assert (
        editor.post("/console/acme/topics/theirs/", {"action": "delete", "slug": "theirs"}).status_code == 404
    )
    assert Topic.objects.filter(slug="theirs").exists()


# --- Purposes and notices ----------------------------------------------------------------


def test_an_editor_adds_and_changes_a_purpose(brand, editor):
    mark = audit_mark()
    created = editor.post(
        "/console/acme/purposes/",
        {
            "action": "create",
            "slug": "surveys",
            "name": "Surveys",
            "description": "",
            "legal_basis": "consent",
            "consent_type": "express",
            "dpv_purpose": "dpv:Marketing",
            "lifetime_days": "",
        },
    )
    assert created.status_code == 302
    assert created["Location"] == "/console/acme/purposes/surveys/"
    changed = editor.post(
        "/console/acme/purposes/surveys/",
        {
            "action": "save",
            "name": "Customer surveys",
            "description": "",
            "legal_basis": "consent",
            "consent_type": "express",
            "dpv_purpose": "dpv:Marketing",
            "lifetime_days": "365",
        },
    )
    assert changed.status_code == 302
    rows = audit_rows(brand, since_id=mark)
    assert [row[:5] for row in rows] == [
        ("staff", EDITOR, "purpose.created", "purpose", "surveys"),
        ("staff", EDITOR, "purpose.updated", "purpose", "surveys"),
    ]
    assert rows[1][5:] == (
        {"name": "Surveys", "lifetime_days": None},
        {"name": "Customer surveys", "lifetime_days": 365},
        "",
    )
    taken = editor.post(
        "/console/acme/purposes/",
        {
            "action": "create",
            "slug": "surveys",
            "name": "Again",
            "legal_basis": "consent",
            "consent_type": "express",
            "dpv_purpose": "dpv:Marketing",
        },
    )
    assert taken.status_code == 422
    assert len(audit_rows(brand, since_id=mark)) == 2


def test_editing_a_notice_publishes_a_new_version_and_the_same_text_none(brand, purpose, editor):
    first = current_version(purpose)
    mark = audit_mark()
    url = "/console/acme/purposes/email-marketing/notices/en/"
    published = editor.post(
        url, {"action": "publish", "title": first.title, "text": "Text for email-marketing, weekly."}
    )
    assert published.status_code == 302
    assert published["Location"] == url + "?version=2"
    versions = list(
        NoticeVersion.objects.filter(notice__purpose=purpose, language="en")
        .order_by("version")
        .values_list("version", "text")
    )
    assert versions == [(1, "Text for email-marketing in en."), (2, "Text for email-marketing, weekly.")]
    again = editor.post(
        url, {"action": "publish", "title": first.title, "text": "Text for email-marketing, weekly."}
    )
    assert again.status_code == 302
    assert NoticeVersion.objects.filter(notice__purpose=purpose).count() == 3  # en 1, en 2, de 1
    rows = audit_rows(brand, since_id=mark)
    assert [row[:5] for row in rows] == [
        ("staff", EDITOR, "notice.version_published", "purpose", "email-marketing")
    ]
    follow = editor.get(url + "?version=2")
    assert "The text is the same as version 2: nothing new was published." in follow.content.decode()


def test_a_notice_diff_marks_changes_in_text_and_counts_contacts_per_version(brand, purpose, viewer):
    for n in (1, 2):
        consent(brand, f"cust-{n}", purpose, "granted")
    notice_version_publish(
        actor=TEST_ACTOR,
        purpose=purpose,
        language="en",
        title="email-marketing (en)",
        text="Text for newsletters in en.",
    )
    consent(brand, "cust-3", purpose, "granted")
    consent(brand, "cust-4", purpose, "granted")
    consent(brand, "cust-4", purpose, "withdrawn")  # withdrawn: counted under no version
    page = viewer.get("/console/acme/purposes/email-marketing/notices/en/").content.decode()
    assert "Version 2 against version 1" in page
    assert (
        'Text for <del><span class="visually-hidden">[deleted: </span>email-marketing'
        '<span class="visually-hidden">]</span></del>'
        '<ins><span class="visually-hidden">[inserted: </span>newsletters'
        '<span class="visually-hidden">]</span></ins> in en.'
    ) in page
    assert "1 contact consented under version 2." in page
    assert "2 contacts consented under version 1." in page
    assert "Publish a new version" not in page  # a viewer reads


def test_the_notice_page_reads_in_the_same_number_of_queries_whatever_the_contacts(brand, purpose, viewer):
    url = "/console/acme/purposes/email-marketing/notices/en/"
    consent(brand, "cust-1", purpose, "granted")
    viewer.get(url)
    with CaptureQueriesContext(connection) as few:
        viewer.get(url)
    for n in range(2, 12):
        consent(brand, f"cust-{n}", purpose, "granted")
    with CaptureQueriesContext(connection) as many:
        response = viewer.get(url)
    assert "11 contacts consented under version 1." in response.content.decode()
    assert len(many) == len(few)


def test_a_notice_in_an_unknown_language_or_of_another_brand_is_404(
    brand, other_brand, purpose, editor, make_purpose
):
    make_purpose(other_brand, "theirs")
    assert editor.get("/console/acme/purposes/email-marketing/notices/xx/").status_code == 404
    assert editor.get("/console/acme/purposes/theirs/").status_code == 404
    before = NoticeVersion.objects.count()
    refused = editor.post(
        "/console/acme/purposes/theirs/notices/en/", {"action": "publish", "title": "T", "text": "X"}
    )
    assert refused.status_code == 404
    assert NoticeVersion.objects.count() == before


# --- The theme ---------------------------------------------------------------------------


def theme_form(**changes: str) -> dict[str, str]:
    form = {
        "name": "Acme Ltd",
        "default_language": "en",
        "primary_colour": "#1f5f8b",
        "typeface": "system",
        "logo_url": "",
        "privacy_policy_url": "",
        "website": "",
        "contact_email": "",
        "address": "",
    }
    form.update(changes)
    return form


def test_an_editor_saves_the_theme(brand, editor):
    mark = audit_mark()
    response = editor.post(
        "/console/acme/theme/",
        {
            "action": "save",
            **theme_form(
                primary_colour="#5A2D82", typeface="serif", logo_url="https://cdn.acme.test/logo.svg"
            ),
        },
    )
    assert response.status_code == 302
    brand.refresh_from_db()
    assert (brand.primary_colour, brand.typeface, brand.logo_url) == (
        "#5a2d82",
        "serif",
        "https://cdn.acme.test/logo.svg",
    )
    assert audit_rows(brand, since_id=mark) == [
        (
            "staff",
            EDITOR,
            "brand.updated",
            "brand",
            "acme",
            {"primary_colour": "#1f5f8b", "logo_url": "", "typeface": "system"},
            {"primary_colour": "#5a2d82", "logo_url": "https://cdn.acme.test/logo.svg", "typeface": "serif"},
            "",
        )
    ]


def test_a_colour_below_aa_contrast_is_refused_with_its_ratio_and_nothing_changes(brand, editor):
    mark = audit_mark()
    response = editor.post("/console/acme/theme/", {"action": "save", **theme_form(primary_colour="#ffcc00")})
    assert response.status_code == 400
    assert (
        "#ffcc00 on white has a contrast of 1.51:1; WCAG AA needs at least 4.5:1 for text. "
        "Choose a darker colour." in response.content.decode()
    )
    brand.refresh_from_db()
    assert brand.primary_colour == "#1f5f8b"
    assert audit_rows(brand, since_id=mark) == []
    bad_url = editor.post(
        "/console/acme/theme/", {"action": "save", **theme_form(website="javascript:alert(1)")}
    )
    assert bad_url.status_code == 400
    assert audit_rows(brand, since_id=mark) == []


def test_the_preview_follows_what_was_typed_and_writes_nothing(brand, editor):
    mark = audit_mark()
    full = editor.post(
        "/console/acme/theme/",
        {"action": "preview", **theme_form(name="Acme Shop", primary_colour="#0b6e3a", typeface="serif")},
    )
    assert full.status_code == 200
    page = full.content.decode()
    assert 'href="/console/acme/theme/preview.css?colour=%230b6e3a&amp;typeface=serif"' in page
    assert '<p class="theme-preview__brand">Acme Shop</p>' in page
    assert "<h1>" in page
    fragment = editor.post(
        "/console/acme/theme/",
        {"action": "preview", **theme_form(primary_colour="#0b6e3a")},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "<h1>" not in fragment  # the section alone, for htmx to swap
    assert 'id="theme-preview"' in fragment
    brand.refresh_from_db()
    assert (brand.name, brand.primary_colour) == ("Acme Ltd", "#1f5f8b")
    assert audit_rows(brand, since_id=mark) == []


def test_the_preview_stylesheet(brand, editor):
    css = editor.get("/console/acme/theme/preview.css", {"colour": "#0b6e3a", "typeface": "serif"})
    assert css.status_code == 200
    assert css["Content-Type"] == "text/css; charset=utf-8"
    body = css.content.decode()
    assert "--preview-brand: #0b6e3a; --preview-on-brand: #ffffff; --preview-ink: #0b6e3a;" in body
    assert "Charter" in body
    saved = editor.get("/console/acme/theme/preview.css").content.decode()
    assert "--preview-brand: #1f5f8b;" in saved
    assert (
        editor.get("/console/acme/theme/preview.css", {"colour": "red", "typeface": "serif"}).status_code
        == 400
    )


def test_the_catalogue_speaks_german_and_french(brand, topics, editor):
    editor.cookies["django_language"] = "de"
    german = editor.post(
        "/console/acme/topics/newsletter/",
        {"action": "save", **topic_form(cadence_options=["weekly", "monthly"])},
    ).content.decode()
    assert "Vor dem Speichern: was mit den Entscheidungen der Kontakte geschieht" in german
    assert "Wöchentliche Zusammenfassung, die neue Voreinstellung, bis sie erneut wählen." in german
    editor.cookies["django_language"] = "fr"
    french = editor.get("/console/acme/theme/").content.decode()
    assert '<html lang="fr">' in french
    assert "Enregistrer le thème" in french
