"""The audit log through the API: the exact entry each configuration change writes (actor,
action, target, before, after), none for a refused or a no-op change, no secret anywhere, and
GET /api/v1/audit (filters, pages, problems, tenant isolation)."""

from __future__ import annotations

import json
from datetime import UTC, timedelta

import pytest
import time_machine
from django.utils import timezone

from brands.models import AuditEntry, Scope
from consent.models import NoticeVersion
from sync.models import Endpoint
from tests.actors import audit_mark, audit_rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(brand, make_client):
    return make_client(brand, [Scope.ADMIN])


@pytest.fixture
def key(admin):
    """The admin key's public prefix: how the audit log names it."""
    return admin.api_key.prefix


def rows_after(brand, mark):
    return audit_rows(brand, since_id=mark)


PURPOSE_DEFAULTS = {
    "description": "",
    "legal_basis": "consent",
    "consent_type": "express",
    "lifetime_days": None,
    "dpv_purpose": "dpv:Marketing",
    "sale_or_sharing": False,
    "third_parties": [],
    "personal_data": [],
}


def test_purposes_and_notices(admin, brand, key):
    mark = audit_mark()
    created = admin.post("/api/v1/purposes", {"slug": "texts", "name": "Texts"}, format="json")
    assert created.status_code == 201, created.content
    assert admin.patch("/api/v1/purposes/texts", {"name": "Offers by text"}, format="json").status_code == 200
    # The same values again change nothing, so nothing is recorded.
    assert admin.patch("/api/v1/purposes/texts", {"name": "Offers by text"}, format="json").status_code == 200
    notice = {"language": "en", "title": "Texts", "text": "We text you offers."}
    assert admin.post("/api/v1/purposes/texts/notice", notice, format="json").status_code == 201
    assert admin.post("/api/v1/purposes/texts/notice", notice, format="json").status_code == 200  # no-op
    changed = {**notice, "text": "We text you offers, weekly."}
    assert admin.post("/api/v1/purposes/texts/notice", changed, format="json").status_code == 201
    first, second = NoticeVersion.objects.filter(notice__purpose__slug="texts").order_by("version")

    assert rows_after(brand, mark) == [
        (
            "api_key",
            key,
            "purpose.created",
            "purpose",
            "texts",
            None,
            {"slug": "texts", "name": "Texts", **PURPOSE_DEFAULTS},
            "",
        ),
        (
            "api_key",
            key,
            "purpose.updated",
            "purpose",
            "texts",
            {"name": "Texts"},
            {"name": "Offers by text"},
            "",
        ),
        (
            "api_key",
            key,
            "notice.version_published",
            "purpose",
            "texts",
            None,
            {
                "notice_version": first.public_id,
                "language": "en",
                "version": 1,
                "title": "Texts",
                "content_hash": first.content_hash,
            },
            "",
        ),
        (
            "api_key",
            key,
            "notice.version_published",
            "purpose",
            "texts",
            {"notice_version": first.public_id, "version": 1, "content_hash": first.content_hash},
            {
                "notice_version": second.public_id,
                "language": "en",
                "version": 2,
                "title": "Texts",
                "content_hash": second.content_hash,
            },
            "",
        ),
    ]
    entry = AuditEntry.objects.filter(brand=brand, action="purpose.created").get()
    assert (entry.actor_name, entry.actor_user_id) == (admin.api_key.name, None)


def test_refused_purpose_and_notice_changes_record_nothing(admin, brand, purpose):
    mark = audit_mark()
    assert admin.post("/api/v1/purposes", {"slug": "Bad Slug", "name": "X"}, format="json").status_code == 422
    assert (
        admin.post("/api/v1/purposes", {"slug": purpose.slug, "name": "X"}, format="json").status_code == 422
    )
    assert (
        admin.patch(f"/api/v1/purposes/{purpose.slug}", {"legal_basis": "whim"}, format="json").status_code
        == 422
    )
    bad_notice = {"language": "es", "title": "Hola", "text": "Texto."}
    assert admin.post(f"/api/v1/purposes/{purpose.slug}/notice", bad_notice, format="json").status_code == 422
    assert rows_after(brand, mark) == []


def test_topics(admin, brand, key, purpose):
    mark = audit_mark()
    body = {"slug": "news", "name": "News", "purpose": purpose.slug, "cadence_options": ["weekly", "monthly"]}
    assert admin.post("/api/v1/topics", body, format="json").status_code == 201
    patch = {"channels": ["email", "sms"], "cadence_options": ["monthly"]}
    assert admin.patch("/api/v1/topics/news", patch, format="json").status_code == 200
    assert admin.patch("/api/v1/topics/news", patch, format="json").status_code == 200  # no-op
    assert admin.delete("/api/v1/topics/news").status_code == 204

    topic_fields = {
        "name": "News",
        "purpose": purpose.slug,
        "sms_purpose": None,
        "description": "",
        "translations": {},
        "transactional": False,
        "default_subscribed": False,
        "channels": ["email"],
        "cadence_options": ["weekly", "monthly"],
        "double_opt_in": False,
        "position": 0,
    }
    assert rows_after(brand, mark) == [
        ("api_key", key, "topic.created", "topic", "news", None, {"slug": "news", **topic_fields}, ""),
        (
            "api_key",
            key,
            "topic.updated",
            "topic",
            "news",
            {"channels": ["email"], "cadence_options": ["weekly", "monthly"]},
            {"channels": ["email", "sms"], "cadence_options": ["monthly"]},
            "",
        ),
        (
            "api_key",
            key,
            "topic.deleted",
            "topic",
            "news",
            {"slug": "news", **topic_fields, "channels": ["email", "sms"], "cadence_options": ["monthly"]},
            None,
            "",
        ),
    ]


def test_refused_topic_changes_record_nothing(admin, brand, purpose, contact, notice_version):
    assert admin.post(
        "/api/v1/topics", {"slug": "news", "name": "News", "purpose": purpose.slug}, format="json"
    )
    subscriber = {
        "topic": "news",
        "channel": "email",
        "status": "subscribed",
        "notice_version": notice_version.public_id,
    }
    prefs = admin.patch(
        f"/api/v1/contacts/{contact.external_id}/preferences", {"subscriptions": [subscriber]}, format="json"
    )
    assert prefs.status_code == 200, prefs.content
    mark = audit_mark()

    assert admin.delete("/api/v1/topics/news").status_code == 409  # a contact chose about it
    assert admin.patch("/api/v1/topics/news", {"channels": ["fax"]}, format="json").status_code == 422
    assert (
        admin.post("/api/v1/topics", {"slug": "x", "name": "X", "purpose": "nope"}, format="json").status_code
        == 422
    )
    assert rows_after(brand, mark) == []


def test_theme(admin, brand, key):
    mark = audit_mark()
    patch = {"primary_colour": "#0b6e4f", "typeface": "humanist"}
    assert admin.patch("/api/v1/theme", patch, format="json").status_code == 200
    assert admin.patch("/api/v1/theme", patch, format="json").status_code == 200  # no-op
    assert admin.patch("/api/v1/theme", {"primary_colour": "green"}, format="json").status_code == 422
    assert rows_after(brand, mark) == [
        (
            "api_key",
            key,
            "brand.updated",
            "brand",
            "acme",
            {"primary_colour": "#1f5f8b", "typeface": "system"},
            {"primary_colour": "#0b6e4f", "typeface": "humanist"},
            "",
        )
    ]


CONFIG = {
    "theme": {"name": "Acme Outdoor"},
    "purposes": [
        {"slug": "news", "name": "News", "notices": {"en": {"title": "News", "text": "We send news."}}}
    ],
    "topics": [{"slug": "weekly", "name": "Weekly", "purpose": "news"}],
}


def test_a_whole_configuration_writes_its_parts_and_one_summary_in_one_transaction(admin, brand, key):
    mark = audit_mark()
    assert admin.put("/api/v1/config?dry_run=true", CONFIG, format="json").status_code == 200
    assert rows_after(brand, mark) == []  # rolled back with everything else

    bad = {**CONFIG, "topics": [{"slug": "weekly", "name": "Weekly", "purpose": "news", "channels": ["fax"]}]}
    assert admin.put("/api/v1/config", bad, format="json").status_code == 422
    assert rows_after(brand, mark) == []

    assert admin.put("/api/v1/config", CONFIG, format="json").status_code == 200
    rows = rows_after(brand, mark)
    assert [(row[2], row[4]) for row in rows] == [
        ("brand.updated", "acme"),
        ("purpose.created", "news"),
        ("notice.version_published", "news"),
        ("topic.created", "weekly"),
        ("config.applied", "acme"),
    ]
    assert {row[:2] for row in rows} == {("api_key", key)}
    assert rows[-1][5:] == (
        None,
        {
            "created": ["purpose news", "topic weekly"],
            "updated": ["theme (name)"],
            "notices_published": ["news en v1"],
            "deleted": [],
            "prune": False,
        },
        "",
    )
    txids = set(AuditEntry.objects.filter(brand=brand, id__gt=mark).values_list("txid", flat=True))
    assert len(txids) == 1

    again = audit_mark()
    assert admin.put("/api/v1/config", CONFIG, format="json").status_code == 200  # nothing changed
    assert rows_after(brand, again) == []


def test_webhook_endpoints_without_their_secrets(admin, brand, key):
    mark = audit_mark()
    url = "https://hooks.example/candor?token=s3cr3t-in-the-query"
    created = admin.post("/api/v1/endpoints", {"url": url, "description": "CRM"}, format="json")
    assert created.status_code == 201, created.content
    public_id = created.json()["id"]
    path = f"/api/v1/endpoints/{public_id}"
    assert (
        admin.patch(
            path, {"description": "CRM (EU)", "event_types": ["consent.withdrawn"]}, format="json"
        ).status_code
        == 200
    )
    assert admin.patch(path, {"status": "disabled"}, format="json").status_code == 200
    assert admin.patch(path, {"status": "disabled"}, format="json").status_code == 200  # no-op
    assert admin.patch(path, {"status": "active"}, format="json").status_code == 200
    rotated = admin.post(f"{path}/rotate-secret")
    assert rotated.status_code == 200
    endpoint = Endpoint.objects.get(public_id=public_id)
    assert admin.patch(path, {"url": "http://"}, format="json").status_code == 422  # refused: nothing
    assert admin.delete(path).status_code == 204

    shown = "https://hooks.example/candor?…"
    assert rows_after(brand, mark) == [
        (
            "api_key",
            key,
            "endpoint.created",
            "endpoint",
            public_id,
            None,
            {
                "url": shown,
                "description": "CRM",
                "event_types": [],
                "include_personal_data": False,
                "pseudonymous_contacts": False,
                "status": "active",
            },
            "",
        ),
        (
            "api_key",
            key,
            "endpoint.updated",
            "endpoint",
            public_id,
            {"description": "CRM", "event_types": []},
            {"description": "CRM (EU)", "event_types": ["consent.withdrawn"]},
            "",
        ),
        (
            "api_key",
            key,
            "endpoint.disabled",
            "endpoint",
            public_id,
            {"status": "active"},
            {"status": "disabled"},
            "Disabled through the API.",
        ),
        (
            "api_key",
            key,
            "endpoint.enabled",
            "endpoint",
            public_id,
            {"status": "disabled"},
            {"status": "active"},
            "",
        ),
        (
            "api_key",
            key,
            "endpoint.secret_rotated",
            "endpoint",
            public_id,
            None,
            {"previous_secret_expires_at": endpoint.previous_secret_expires_at.isoformat()},
            "",
        ),
        (
            "api_key",
            key,
            "endpoint.deleted",
            "endpoint",
            public_id,
            {"url": shown, "status": "active"},
            None,
            "",
        ),
    ]
    everything = json.dumps(list(AuditEntry.objects.values()), default=str)
    for secret in (endpoint.secret, endpoint.previous_secret, "s3cr3t-in-the-query", admin.api_key.key_hash):
        assert secret not in everything
    assert "whsec_" not in everything


def test_no_entry_ever_holds_a_secret_key_hash_or_raw_key(brand, make_client):
    issued = make_client(brand, [Scope.ADMIN])
    raw = issued._credentials["HTTP_AUTHORIZATION"].removeprefix("Bearer ")
    everything = json.dumps(list(AuditEntry.objects.values()), default=str)
    assert issued.api_key.prefix in everything  # the key is named by its public prefix
    assert raw not in everything
    assert raw.rpartition("_")[2] not in everything
    assert issued.api_key.key_hash not in everything


# --- GET /api/v1/audit ---------------------------------------------------------------------


def entries(client, query=""):
    response = client.get(f"/api/v1/audit{query}")
    assert response.status_code == 200, response.content
    return response.json()


def test_the_log_is_served_newest_first_in_pages(admin, brand, key):
    start = timezone.now()
    for minute, colour in enumerate(["#000001", "#000002", "#000003"], start=1):
        with time_machine.travel(start + timedelta(minutes=minute), tick=False):
            assert admin.patch("/api/v1/theme", {"primary_colour": colour}, format="json").status_code == 200

    first = entries(admin, "?action=brand.updated&limit=2")
    assert [entry["after"] for entry in first["entries"]] == [
        {"primary_colour": "#000003"},
        {"primary_colour": "#000002"},
    ]
    newest = AuditEntry.objects.filter(brand=brand, action="brand.updated").order_by("-id").first()
    assert first["entries"][0] == {
        "id": newest.id,
        "at": (start + timedelta(minutes=3)).astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "actor": {"kind": "api_key", "ref": key, "name": ""},
        "action": "brand.updated",
        "target": {"type": "brand", "id": "acme"},
        "before": {"primary_colour": "#000002"},
        "after": {"primary_colour": "#000003"},
        "reason": "",
        "transaction": newest.txid,
    }
    second = entries(admin, f"?action=brand.updated&limit=2&cursor={first['next_cursor']}")
    assert [entry["after"] for entry in second["entries"]] == [{"primary_colour": "#000001"}]
    assert second["next_cursor"] is None

    since, until = (start + timedelta(minutes=2)).isoformat(), (start + timedelta(minutes=3)).isoformat()
    window = f"?since={since}&until={until}"
    assert [entry["after"] for entry in entries(admin, window.replace("+", "%2B"))["entries"]] == [
        {"primary_colour": "#000002"}
    ]
    assert [e["action"] for e in entries(admin, "?target_type=brand&target_id=acme")["entries"]] == [
        "brand.updated",
        "brand.updated",
        "brand.updated",
        "brand.created",
    ]
    assert [e["action"] for e in entries(admin, f"?actor={key}")["entries"]] == ["brand.updated"] * 3
    assert [e["action"] for e in entries(admin, "?actor_kind=system")["entries"]] == [
        "api_key.created",
        "brand.created",
    ]


def test_another_brands_log_is_never_shown(admin, brand, other_brand, make_client):
    outsider = make_client(other_brand, [Scope.ADMIN])
    assert outsider.patch("/api/v1/theme", {"name": "Outsider"}, format="json").status_code == 200
    assert admin.patch("/api/v1/theme", {"name": "Acme"}, format="json").status_code == 200

    ours = entries(admin)["entries"]
    assert {entry["target"]["id"] for entry in ours if entry["target"]["type"] == "brand"} == {"acme"}
    assert entries(admin, "?target_type=brand&target_id=outsider")["entries"] == []
    assert [e["target"]["id"] for e in entries(outsider, "?action=brand.updated")["entries"]] == ["outsider"]
    assert not any(entry["id"] in {mine["id"] for mine in ours} for entry in entries(outsider)["entries"])


def test_reading_the_log_needs_the_admin_scope(brand, make_client):
    reader = make_client(brand, [Scope.CONSENT_READ, Scope.EVENTS_READ])
    response = reader.get("/api/v1/audit")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("?action=topic.renamed", "action", "Unknown action(s): topic.renamed."),
        ("?target_id=news", "target_id", "Give target_type with target_id."),
        ("?actor_kind=robot", "actor_kind", '"robot" is not a valid choice.'),
        ("?since=yesterday", "since", None),
        (
            "?since=2026-11-22T10:00:00",
            "since",
            "Give the time with an offset or Z, e.g. 2026-11-22T10:00:00Z.",
        ),
        (
            "?since=2026-11-22T10:00:00Z&until=2026-11-22T09:00:00Z",
            "until",
            "until must be later than since.",
        ),
        ("?limit=0", "limit", "limit must be between 1 and 500."),
        ("?cursor=bm9wZQ", "cursor", "This cursor is not one this API issued."),
        ("?target_type=topic&target_id=a%00b", "target_id", None),
    ],
)
def test_a_bad_filter_is_a_422_naming_it(admin, query, field, message):
    response = admin.get(f"/api/v1/audit{query}")
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert list(errors) == [field]
    if message is not None:
        assert errors[field][0].startswith(message)


def test_a_cursor_past_any_date_is_a_422(admin):
    from config.api import encode_cursor

    response = admin.get(f"/api/v1/audit?cursor={encode_cursor(2**63 - 1, 1)}")
    assert response.status_code == 422
    assert response.json()["errors"] == {"cursor": ["This cursor is not one this API issued."]}
