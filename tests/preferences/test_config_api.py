"""The brand configuration API (/api/v1/purposes…, /topics…, /theme, the `admin` scope): what
each operation writes through the services, what it refuses and writes nothing for, and that
another brand's objects do not exist for a key."""

from __future__ import annotations

import pytest

from brands.models import Brand, Scope, Typeface
from consent.models import Notice, NoticeVersion, Purpose
from consent.services import notice_content_hash
from preferences.models import Topic
from preferences.services import SubscriptionChange, preferences_update
from preferences.topics import topic_create
from tests.actors import TEST_ACTOR


@pytest.fixture
def admin(brand, make_client):
    return make_client(brand, [Scope.ADMIN])


@pytest.fixture
def outsider_admin(other_brand, make_client):
    return make_client(other_brand, [Scope.ADMIN])


def problem_errors(response):
    assert response["Content-Type"] == "application/problem+json", response.content
    return response.json().get("errors")


# --- Scopes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/purposes"),
        ("get", "/api/v1/purposes/email-marketing"),
        ("patch", "/api/v1/purposes/email-marketing"),
        ("get", "/api/v1/purposes/email-marketing/notice"),
        ("post", "/api/v1/purposes/email-marketing/notice"),
        ("get", "/api/v1/topics"),
        ("post", "/api/v1/topics"),
        ("get", "/api/v1/topics/news"),
        ("patch", "/api/v1/topics/news"),
        ("delete", "/api/v1/topics/news"),
        ("get", "/api/v1/theme"),
        ("patch", "/api/v1/theme"),
        ("get", "/api/v1/config"),
        ("put", "/api/v1/config"),
    ],
)
def test_every_configuration_operation_needs_the_admin_scope(brand, purpose, make_client, method, path):
    every_other_scope = [scope for scope in Scope.values if scope != Scope.ADMIN]
    client = make_client(brand, every_other_scope)
    response = getattr(client, method)(path, {}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"] == "This API key needs the scope(s) admin."
    assert Purpose.objects.count() == 1
    assert NoticeVersion.objects.count() == 2


def test_the_purpose_list_is_unchanged_for_a_consent_read_key(brand, purpose, make_client):
    client = make_client(brand, [Scope.CONSENT_READ])
    response = client.get("/api/v1/purposes")
    assert response.status_code == 200
    versions = {v.language: v for v in NoticeVersion.objects.all()}
    ref = {
        lang: {"id": v.public_id, "language": lang, "hash": v.content_hash, "version": 1}
        for lang, v in versions.items()
    }
    assert response.json() == [
        {
            "slug": "email-marketing",
            "name": "Email Marketing",
            "description": "",
            "legal_basis": "consent",
            "consent_type": "express",
            "notice_version": ref["en"],
            "notice_versions": [ref["en"], ref["de"]],
        }
    ]
    # …and writing needs admin.
    assert client.post("/api/v1/purposes", {"slug": "x", "name": "X"}, format="json").status_code == 403


# --- Purposes ------------------------------------------------------------------------


def test_create_a_purpose(brand, admin):
    body = {
        "slug": "profiling",
        "name": "Personalised offers",
        "description": "Offers chosen from what you bought.",
        "legal_basis": "consent",
        "consent_type": "express",
        "lifetime_days": 365,
        "dpv_purpose": "dpv:PersonalisedAdvertising",
        "sale_or_sharing": False,
        "third_parties": ["Ads Inc"],
        "personal_data": ["pd:PurchasesAndSpendingHabit"],
    }
    response = admin.post("/api/v1/purposes", body, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    assert response.status_code == 201, response.content
    assert response.json() == {**body, "notices": []}
    purpose = Purpose.objects.get(brand=brand)
    assert (purpose.slug, purpose.lifetime_days, purpose.third_parties) == ("profiling", 365, ["Ads Inc"])
    assert Notice.objects.filter(purpose=purpose).count() == 1  # purpose_create gives it its notice

    replay = admin.post("/api/v1/purposes", body, format="json", HTTP_IDEMPOTENCY_KEY="p-1")
    assert (replay.status_code, replay["Idempotent-Replayed"]) == (201, "true")
    again = admin.post("/api/v1/purposes", body, format="json")
    assert again.status_code == 422
    assert problem_errors(again) == {"slug": ["The brand already has a purpose 'profiling'."]}
    assert Purpose.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "No slug"}, "slug"),
        ({"slug": "Bad Slug", "name": "x"}, "slug"),
        ({"slug": "ok"}, "name"),
        ({"slug": "ok", "name": "x", "legal_basis": "whim"}, "legal_basis"),
        ({"slug": "ok", "name": "x", "lifetime_days": -1}, "lifetime_days"),
        ({"slug": "ok", "name": "x", "lifetime_days": 2**40}, "lifetime_days"),
        ({"slug": "ok", "name": "x", "personal_data": ["pd:Soul"]}, "personal_data.0"),
        ({"slug": "ok", "name": "x\x00"}, "name"),
        ({"slug": "ok", "name": "x", "colour": "red"}, "colour"),
    ],
)
def test_a_bad_purpose_is_422_and_writes_nothing(brand, admin, body, field):
    response = admin.post("/api/v1/purposes", body, format="json")
    assert response.status_code == 422
    assert field in problem_errors(response)
    assert not Purpose.objects.exists()


def test_get_and_change_a_purpose(brand, purpose, admin):
    response = admin.patch(
        "/api/v1/purposes/email-marketing", {"name": "Our news", "lifetime_days": 730}, format="json"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["slug"], body["name"], body["lifetime_days"]) == ("email-marketing", "Our news", 730)
    assert [(n["language"], n["version"], n["current"]) for n in body["notices"]] == [
        ("en", 1, True),
        ("de", 1, True),
    ]
    purpose.refresh_from_db()
    assert (purpose.name, purpose.lifetime_days) == ("Our news", 730)
    assert admin.get("/api/v1/purposes/email-marketing").json() == body


def test_a_purpose_slug_never_changes(purpose, admin):
    response = admin.patch("/api/v1/purposes/email-marketing", {"slug": "renamed"}, format="json")
    assert response.status_code == 422
    assert problem_errors(response) == {
        "slug": ["A purpose's slug cannot change: the ledger and API clients name it."]
    }
    assert Purpose.objects.get().slug == "email-marketing"


def test_purposes_cannot_be_deleted(purpose, admin):
    assert admin.delete("/api/v1/purposes/email-marketing").status_code == 405
    assert Purpose.objects.count() == 1


# --- Notices -------------------------------------------------------------------------


def test_publishing_a_notice_makes_a_new_version_and_the_same_text_none(purpose, admin):
    url = "/api/v1/purposes/email-marketing/notice"
    first = NoticeVersion.objects.get(language="en")
    body = {"language": "en", "title": "News by email", "text": "We email you our news.\n"}

    response = admin.post(url, body, format="json")
    assert response.status_code == 201, response.content
    new = NoticeVersion.objects.get(language="en", version=2)
    assert response.json() == {
        "id": new.public_id,
        "version": 2,
        "language": "en",
        "title": "News by email",
        "text": "We email you our news.\n",
        "hash": notice_content_hash(language="en", title="News by email", text="We email you our news.\n"),
        "published_at": new.published_at.isoformat().replace("+00:00", "Z"),
        "current": True,
    }

    same = admin.post(url, body, format="json")
    assert (same.status_code, same.json()) == (200, response.json())
    assert NoticeVersion.objects.filter(language="en").count() == 2

    listed = admin.get(url).json()
    assert listed["purpose"] == "email-marketing"
    assert [(v["language"], v["version"], v["current"]) for v in listed["versions"]] == [
        ("de", 1, True),
        ("en", 1, False),
        ("en", 2, True),
    ]
    assert listed["versions"][1]["id"] == first.public_id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"language": "es", "title": "T", "text": "x"}, "language"),
        ({"language": "en", "title": "", "text": "x"}, "title"),
        ({"language": "en", "title": "T", "text": "   "}, "text"),
        ({"language": "en", "title": "T" * 201, "text": "x"}, "title"),
        ({"language": "en", "title": "T"}, "text"),
    ],
)
def test_a_bad_notice_is_422_and_publishes_nothing(purpose, admin, body, field):
    response = admin.post("/api/v1/purposes/email-marketing/notice", body, format="json")
    assert response.status_code == 422
    assert field in problem_errors(response)
    assert NoticeVersion.objects.count() == 2


# --- Topics --------------------------------------------------------------------------


def test_create_change_and_delete_a_topic(brand, purpose, make_purpose, admin):
    make_purpose(brand, "sms-marketing")
    body = {
        "slug": "news",
        "name": "News",
        "purpose": "email-marketing",
        "sms_purpose": "sms-marketing",
        "channels": ["email", "sms"],
        "cadence_options": ["weekly", "monthly"],
        "translations": {"de": {"name": "Neuigkeiten"}},
        "double_opt_in": True,
    }
    response = admin.post("/api/v1/topics", body, format="json")
    assert response.status_code == 201, response.content
    expected = {
        "slug": "news",
        "name": "News",
        "description": "",
        "translations": {"de": {"name": "Neuigkeiten"}},
        "purpose": "email-marketing",
        "sms_purpose": "sms-marketing",
        "transactional": False,
        "default_subscribed": False,
        "channels": ["email", "sms"],
        "cadence_options": ["weekly", "monthly"],
        "double_opt_in": True,
        "position": 0,
    }
    assert response.json() == expected
    topic = Topic.objects.get(brand=brand)
    assert (topic.purpose, topic.sms_purpose.slug, topic.cadence_options) == (
        purpose,
        "sms-marketing",
        ["weekly", "monthly"],
    )

    changed = admin.patch("/api/v1/topics/news", {"channels": ["email"], "sms_purpose": None}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json() == {**expected, "channels": ["email"], "sms_purpose": None}
    assert admin.get("/api/v1/topics").json() == [changed.json()]

    deleted = admin.delete("/api/v1/topics/news")
    assert deleted.status_code == 204
    assert not Topic.objects.exists()
    assert admin.get("/api/v1/topics/news").status_code == 404


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({"slug": "t", "name": "T", "purpose": "nope"}, {"purpose": ["No purpose 'nope'."]}),
        (
            {"slug": "t", "name": "T"},
            {"purpose": ["Only a transactional topic may go without a purpose."]},
        ),
        (
            {"slug": "t", "name": "T", "purpose": "email-marketing", "channels": []},
            {"channels": ["Give at least one channel."]},
        ),
        (
            {"slug": "t", "name": "T", "purpose": "email-marketing", "channels": ["email", "email"]},
            {"channels": ["Each channel may appear only once."]},
        ),
        (
            {"slug": "t", "name": "T", "purpose": "email-marketing", "cadence_options": ["hourly"]},
            {"cadence_options.0": ['"hourly" is not a valid choice.']},
        ),
        (
            {"slug": "t", "name": "T", "purpose": "email-marketing", "translations": {"es": {"name": "x"}}},
            {"translations.es": ["Use one of the supported languages: en, de, fr."]},
        ),
        (
            {"slug": "t", "name": "T", "purpose": "email-marketing", "sms_purpose": "email-marketing"},
            {"sms_purpose": ["Only a marketing topic offered by SMS takes an SMS purpose."]},
        ),
    ],
)
def test_a_bad_topic_is_422_and_writes_nothing(purpose, admin, body, errors):
    response = admin.post("/api/v1/topics", body, format="json")
    assert response.status_code == 422
    assert problem_errors(response) == errors
    assert not Topic.objects.exists()


def test_a_topic_contacts_chose_about_is_not_deleted(brand, purpose, contact, admin):
    topic_create(actor=TEST_ACTOR, brand=brand, slug="news", name="News", purpose=purpose)
    preferences_update(
        brand=brand,
        external_id=contact.external_id,
        recorded_by="test",
        subscriptions=[
            SubscriptionChange(
                topic="news",
                channel="email",
                status="subscribed",
                notice_version=NoticeVersion.objects.get(language="en").public_id,
            )
        ],
        method="api",
    )
    response = admin.delete("/api/v1/topics/news")
    assert response.status_code == 409
    assert response.json()["detail"] == (
        "Topic 'news' is in use (contacts' choices, holds or unsubscribes name it) and cannot be deleted."
    )
    assert Topic.objects.filter(slug="news").exists()


# --- Theme ---------------------------------------------------------------------------


def test_get_and_change_the_theme(brand, admin):
    response = admin.patch(
        "/api/v1/theme",
        {
            "name": "Acme Outdoor",
            "default_language": "de",
            "primary_colour": "#0b6e4f",
            "logo_url": "https://acme.example/logo.svg",
            "typeface": "serif",
            "website": "https://acme.example",
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="t-1",
    )
    assert response.status_code == 200, response.content
    expected = {
        "name": "Acme Outdoor",
        "default_language": "de",
        "primary_colour": "#0b6e4f",
        "logo_url": "https://acme.example/logo.svg",
        "typeface": "serif",
        "privacy_policy_url": "",
        "contact_email": "",
        "address": "",
        "website": "https://acme.example",
        "embed_origins": [],
    }
    assert response.json() == expected
    stored = Brand.objects.get(pk=brand.pk)
    assert (stored.name, stored.default_language, stored.typeface) == ("Acme Outdoor", "de", Typeface.SERIF)
    assert admin.get("/api/v1/theme").json() == expected  # not the brand cached with the key


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"primary_colour": "red"}, "primary_colour"),
        ({"primary_colour": "#12345"}, "primary_colour"),
        ({"logo_url": "javascript:alert(1)"}, "logo_url"),
        ({"logo_url": "ftp://acme.example/logo.png"}, "logo_url"),
        ({"website": "ftp://acme.example"}, "website"),
        ({"typeface": "comic"}, "typeface"),
        ({"default_language": "es"}, "default_language"),
        ({"contact_email": "not-an-email"}, "contact_email"),
        ({"name": ""}, "name"),
        ({"slug": "renamed"}, "slug"),
    ],
)
def test_a_bad_theme_is_422_and_changes_nothing(brand, admin, body, field):
    response = admin.patch("/api/v1/theme", body, format="json")
    assert response.status_code == 422
    assert field in problem_errors(response)
    stored = Brand.objects.get(pk=brand.pk)
    assert (stored.slug, stored.name, stored.primary_colour, stored.logo_url, stored.default_language) == (
        "acme",
        "Acme Ltd",
        "#1f5f8b",
        "",
        "en",
    )


# --- Tenant isolation ------------------------------------------------------------------


def test_another_brands_configuration_does_not_exist_for_a_key(brand, purpose, outsider_admin):
    topic_create(actor=TEST_ACTOR, brand=brand, slug="news", name="News", purpose=purpose)
    for method, path, body in [
        ("get", "/api/v1/purposes/email-marketing", None),
        ("patch", "/api/v1/purposes/email-marketing", {"name": "Taken"}),
        ("get", "/api/v1/purposes/email-marketing/notice", None),
        ("post", "/api/v1/purposes/email-marketing/notice", {"language": "en", "title": "T", "text": "x"}),
        ("get", "/api/v1/topics/news", None),
        ("patch", "/api/v1/topics/news", {"name": "Taken"}),
        ("delete", "/api/v1/topics/news", None),
    ]:
        response = getattr(outsider_admin, method)(path, body, format="json")
        assert response.status_code == 404, (method, path)
    assert outsider_admin.get("/api/v1/topics").json() == []
    assert outsider_admin.get("/api/v1/theme").json()["name"] == "Outsider Inc"
    # A topic of the outsider cannot name our purpose.
    response = outsider_admin.post(
        "/api/v1/topics", {"slug": "news", "name": "N", "purpose": "email-marketing"}, format="json"
    )
    assert (response.status_code, problem_errors(response)) == (
        422,
        {"purpose": ["No purpose 'email-marketing'."]},
    )
    assert Purpose.objects.get().name == "Email Marketing"
    assert NoticeVersion.objects.count() == 2
    assert list(Topic.objects.values_list("brand__slug", "slug", "name")) == [("acme", "news", "News")]


# --- The whole configuration ---------------------------------------------------------


def example_document():
    import yaml

    from tests.preferences.test_brand_config import EXAMPLE

    return yaml.safe_load(EXAMPLE.read_text())


def test_put_the_whole_configuration_then_get_it_back_and_put_it_again(brand, admin):
    response = admin.put("/api/v1/config", example_document(), format="json", HTTP_IDEMPOTENCY_KEY="c-1")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "created": ["purpose email-marketing", "topic news", "topic offers", "topic orders"],
        "updated": [
            "theme (name, primary_colour, logo_url, typeface, privacy_policy_url, contact_email, "
            "address, website, embed_origins)"
        ],
        "unchanged": [],
        "notices_published": ["email-marketing en v1", "email-marketing de v1", "email-marketing fr v1"],
        "deleted": [],
        "not_named": [],
        "dry_run": False,
    }
    exported = admin.get("/api/v1/config").json()
    assert exported["theme"]["name"] == "Acme Outdoor"
    assert [topic["slug"] for topic in exported["topics"]] == ["news", "offers", "orders"]
    versions = NoticeVersion.objects.count()

    again = admin.put("/api/v1/config", exported, format="json")
    assert again.status_code == 200
    assert again.json()["unchanged"] == [
        "theme",
        "purpose email-marketing",
        "topic news",
        "topic offers",
        "topic orders",
    ]
    assert again.json()["created"] == again.json()["updated"] == again.json()["notices_published"] == []
    assert NoticeVersion.objects.count() == versions


def test_put_configuration_errors_name_their_place_and_change_nothing(brand, admin):
    document = example_document()
    document["purposes"][0]["notices"]["de"]["text"] = ""
    document["topics"][1]["purpose"] = "nope"
    response = admin.put("/api/v1/config", document, format="json")
    assert response.status_code == 422
    assert problem_errors(response) == {"purposes[0].notices.de.text": ["This field may not be blank."]}
    assert not Purpose.objects.exists()
    assert not Topic.objects.exists()
    assert Brand.objects.get(pk=brand.pk).name == "Acme Ltd"


def test_a_dry_run_reports_and_writes_nothing(brand, admin):
    response = admin.put("/api/v1/config?dry_run=true", example_document(), format="json")
    assert response.status_code == 200
    assert response.json()["dry_run"] is True
    assert len(response.json()["created"]) == 4
    assert not Purpose.objects.exists()
    assert not NoticeVersion.objects.exists()
    assert admin.put("/api/v1/config?dry_run=maybe", {}, format="json").status_code == 422


def test_the_configuration_needs_admin(brand, make_client):
    client = make_client(brand, [scope for scope in Scope.values if scope != Scope.ADMIN])
    assert client.get("/api/v1/config").status_code == 403
    assert client.put("/api/v1/config", example_document(), format="json").status_code == 403
    assert not Purpose.objects.exists()
