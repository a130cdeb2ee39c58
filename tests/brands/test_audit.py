"""The audit log below the API: the database keeps it append-only, entries come and go with
their change's transaction, the action types are stable, erasure leaves nothing personal in
it, the selector keeps to one brand, the admin and commands name their actor, and the export."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from brands.audit import Actor, AuditAction
from brands.models import AuditEntry, AuditLog, Brand, Scope
from brands.selectors import audit_entries_list
from brands.services import (
    api_key_create,
    audit_entries_release,
    audit_record,
    brand_create,
    brand_delete,
    brand_update,
)
from consent.erasure import contact_erase
from consent.models import Contact
from sync.delivery.endpoints import endpoint_create, endpoint_disable
from sync.delivery.recording import WEBHOOK_DELIVERY
from tests.actors import TEST_ACTOR, audit_mark, audit_rows

pytestmark = pytest.mark.django_db

# Every action type ever published. Entries already written and clients' filters name them:
# a type may be added (here too), never renamed, removed or reused.
PUBLISHED_ACTIONS = [
    "brand.created",
    "brand.updated",
    "purpose.created",
    "purpose.updated",
    "notice.version_published",
    "topic.created",
    "topic.updated",
    "topic.deleted",
    "config.applied",
    "api_key.created",
    "api_key.revoked",
    "endpoint.created",
    "endpoint.updated",
    "endpoint.secret_rotated",
    "endpoint.disabled",
    "endpoint.enabled",
    "endpoint.deleted",
    "membership.created",
    "membership.role_changed",
    "membership.removed",
    "invitation.created",
    "invitation.revoked",
    "endpoint.test_sent",
    "endpoint.redelivered",
    "hold.started",
    "hold.ended",
    "link.sent",
    "quiz.created",
    "quiz.draft_saved",
    "quiz.published",
    "quiz.archived",
]


def test_the_action_types_are_stable_and_documented():
    values = [action.value for action in AuditAction]
    assert values[: len(PUBLISHED_ACTIONS)] == PUBLISHED_ACTIONS  # none renamed, removed or moved
    assert len(set(values)) == len(values)
    assert all(len(action.doc) > 40 and action.doc.endswith(".") for action in AuditAction)
    assert max(len(value) for value in values) <= AuditEntry._meta.get_field("action").max_length


def one_entry(brand: Brand) -> AuditEntry:
    with transaction.atomic():
        return audit_record(
            brand=brand,
            actor=TEST_ACTOR,
            action=AuditAction.BRAND_UPDATED,
            target_type="brand",
            target_id=brand.slug,
            before={"name": "A"},
            after={"name": "B"},
        )


def test_the_database_refuses_update_and_delete(brand):
    entry = one_entry(brand)
    for sql in (
        "UPDATE brands_auditentry SET reason = 'rewritten' WHERE id = %s",
        "UPDATE brands_auditentry SET after = '{}'::jsonb WHERE id = %s",
        "DELETE FROM brands_auditentry WHERE id = %s",
    ):
        with (
            pytest.raises(IntegrityError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [entry.pk])
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()
    stored = AuditEntry.objects.get(pk=entry.pk)
    assert (stored.reason, stored.after) == ("", {"name": "B"})


def test_deleting_a_whole_brand_takes_its_entries_and_only_its_own(brand, other_brand):
    mine, theirs = one_entry(brand), one_entry(other_brand)

    # The release names one brand: another brand's rows stay refused in the same transaction.
    def delete_theirs_after_releasing_mine() -> None:
        with transaction.atomic():
            audit_entries_release(brand=brand)
            AuditEntry.objects.filter(pk=theirs.pk).delete()

    with pytest.raises(IntegrityError, match="append-only"):
        delete_theirs_after_releasing_mine()

    brand_delete(brand=brand)

    assert not Brand.objects.filter(slug="acme").exists()
    assert not AuditEntry.objects.filter(pk=mine.pk).exists()
    assert AuditEntry.objects.filter(pk=theirs.pk).exists()
    # Outside that transaction the rule holds again.
    with pytest.raises(IntegrityError), transaction.atomic():
        AuditEntry.objects.filter(pk=theirs.pk).delete()


def test_a_brand_with_a_ledger_is_still_not_deleted(brand, contact):
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        brand_delete(brand=brand)
    assert AuditEntry.objects.filter(brand=brand).exists()


def rename_then_roll_back(brand: Brand, name: str) -> None:
    """A rename the same transaction then refuses: it rolls back with its entry."""

    def rename_then_fail() -> None:
        with transaction.atomic():
            brand_update(brand=brand, actor=TEST_ACTOR, name=name)
            raise RuntimeError("a later refusal in the same transaction")

    with pytest.raises(RuntimeError, match="later refusal"):
        rename_then_fail()


def test_an_entry_goes_with_its_change_when_the_change_rolls_back(brand):
    mark = audit_mark()
    rename_then_roll_back(brand, "Renamed")
    assert audit_rows(brand, since_id=mark) == []
    assert Brand.objects.get(pk=brand.pk).name == "Acme Ltd"


def log_length(brand) -> int:
    return AuditLog.objects.filter(brand=brand).values_list("entries", flat=True).first() or 0


def test_the_log_counts_each_entry_with_it_and_nothing_rolled_back(brand, other_brand):
    assert log_length(brand) == AuditEntry.objects.filter(brand=brand).count() > 0
    theirs = log_length(other_brand)
    brand_update(brand=brand, actor=TEST_ACTOR, name="Renamed")
    brand_update(brand=brand, actor=TEST_ACTOR, name="Renamed again")
    assert log_length(brand) == AuditEntry.objects.filter(brand=brand).count()
    counted = log_length(brand)
    rename_then_roll_back(brand, "Renamed a third time")
    assert log_length(brand) == counted == AuditEntry.objects.filter(brand=brand).count()
    assert log_length(other_brand) == theirs


def test_audit_record_refuses_misuse(brand):
    with transaction.atomic():
        with pytest.raises(ValueError, match="Unknown audit action"):
            audit_record(
                brand=brand, actor=TEST_ACTOR, action="brand.renamed", target_type="brand", target_id="x"
            )  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"\['key_hash', 'secret'\]"):
            audit_record(
                brand=brand,
                actor=TEST_ACTOR,
                action=AuditAction.ENDPOINT_UPDATED,
                target_type="endpoint",
                target_id="ep_1",
                before={"secret": "whsec_x"},
                after={"nested": {"key_hash": "abc"}},
            )
    assert not AuditEntry.objects.filter(target_type="endpoint").exists()


def test_erasure_leaves_no_personal_data_in_the_log(brand, contact):
    """Entries never name a contact by address, phone or the brand's external id, so erasure
    has nothing to rewrite here; and the log is no row of the contact's that erasure deletes."""
    assert not any(relation.related_model is AuditEntry for relation in Contact._meta.related_objects)
    before = list(AuditEntry.objects.order_by("id").values())
    contact_erase(brand=brand, contact=contact, requested_via="api", reason="ticket 1")
    assert list(AuditEntry.objects.order_by("id").values()) == before
    everything = json.dumps(before, default=str).lower()
    assert "ada@example.com" not in everything
    assert "cust-1" not in everything


@pytest.mark.django_db(transaction=True)
def test_audit_record_belongs_inside_the_changes_transaction(brand):
    with pytest.raises(RuntimeError, match="inside the transaction"):
        audit_record(
            brand=brand,
            actor=TEST_ACTOR,
            action=AuditAction.BRAND_UPDATED,
            target_type="brand",
            target_id="x",
        )
    with pytest.raises(RuntimeError, match="deletion transaction"):
        audit_entries_release(brand=brand)
    assert not AuditEntry.objects.filter(action="brand.updated").exists()


# --- Who: the admin, commands, Candor itself -----------------------------------------------


@pytest.fixture
def operator_client(client, db):
    user = User.objects.create_superuser("root", "root@example.com", "a-long-password-123")
    client.force_login(user)
    return client


def test_the_admin_records_its_operator(operator_client, brand):
    issued = api_key_create(brand=brand, actor=TEST_ACTOR, scopes=[Scope.CONSENT_READ], name="shop")
    mark = audit_mark()
    response = operator_client.post(
        "/admin/brands/apikey/",
        {"action": "revoke", "_selected_action": [issued.api_key.pk]},
    )
    assert response.status_code == 302
    issued.api_key.refresh_from_db()
    root = User.objects.get(username="root")
    assert audit_rows(brand, since_id=mark) == [
        (
            "operator",
            "root",
            "api_key.revoked",
            "api_key",
            issued.api_key.prefix,
            {"revoked_at": None},
            {"revoked_at": issued.api_key.revoked_at.isoformat()},
            "",
        )
    ]
    assert AuditEntry.objects.get(action="api_key.revoked").actor_user_id == root.pk
    # Revoking it again changes nothing and records nothing.
    operator_client.post(
        "/admin/brands/apikey/", {"action": "revoke", "_selected_action": [issued.api_key.pk]}
    )
    assert audit_rows(brand, since_id=mark)[1:] == []


def test_the_admin_shows_the_log_read_only(operator_client, brand):
    entry = one_entry(brand)
    listing = operator_client.get("/admin/brands/auditentry/")
    assert listing.status_code == 200
    assert "brand.updated" in listing.content.decode()
    assert operator_client.get("/admin/brands/auditentry/add/").status_code == 403
    assert (
        operator_client.post(f"/admin/brands/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    changed = operator_client.post(f"/admin/brands/auditentry/{entry.pk}/change/", {"reason": "edited"})
    assert changed.status_code == 403
    assert AuditEntry.objects.get(pk=entry.pk).reason == ""


def test_a_command_records_the_os_user(brand, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "deploy")
    mark = audit_mark()
    out = io.StringIO()
    call_command(
        "create_api_key", "--brand", "acme", "--scopes", "consent:read", "--name", "shop", stdout=out
    )
    raw_key = out.getvalue().splitlines()[-1]
    rows = audit_rows(brand, since_id=mark)
    assert rows == [
        (
            "operator",
            "os:deploy",
            "api_key.created",
            "api_key",
            raw_key[:12],
            None,
            {"name": "shop", "scopes": ["consent:read"]},
            "",
        )
    ]
    assert (
        AuditEntry.objects.get(action="api_key.created", target_id=raw_key[:12]).actor_name
        == "manage.py create_api_key"
    )


def test_candor_disabling_an_endpoint_is_recorded_as_the_system(brand):
    endpoint = endpoint_create(brand=brand, actor=TEST_ACTOR, url="https://hooks.example/h")
    mark = audit_mark()
    assert endpoint_disable(
        endpoint_id=endpoint.pk,
        reason="The receiver answered 410 Gone.",
        automatic=True,
        actor=WEBHOOK_DELIVERY,
    )
    assert not endpoint_disable(
        endpoint_id=endpoint.pk, reason="again", automatic=True, actor=WEBHOOK_DELIVERY
    )
    assert audit_rows(brand, since_id=mark) == [
        (
            "system",
            "webhook-delivery",
            "endpoint.disabled",
            "endpoint",
            endpoint.public_id,
            {"status": "active"},
            {"status": "disabled"},
            "The receiver answered 410 Gone.",
        )
    ]


def test_memberships_record_role_changes_only_when_the_role_changes(brand):
    from brands.models import Membership
    from brands.services import membership_remove, membership_set

    first, second = Membership.Role.EDITOR.value, Membership.Role.VIEWER.value
    user = User.objects.create_user("sam", "sam@example.com", "a-long-password-123")
    keeper = User.objects.create_user("kim", "kim@example.com", "a-long-password-123")
    membership_set(user=keeper, brand=brand, role=Membership.Role.OWNER, actor=TEST_ACTOR)
    mark = audit_mark()
    membership = membership_set(user=user, brand=brand, role=second, actor=TEST_ACTOR)
    membership_set(user=user, brand=brand, role=second, actor=TEST_ACTOR)  # no change
    membership_set(user=user, brand=brand, role=first, actor=TEST_ACTOR)
    membership_remove(membership=membership, actor=TEST_ACTOR)
    membership_remove(membership=membership, actor=TEST_ACTOR)  # already gone
    uid = str(user.pk)
    assert audit_rows(brand, since_id=mark) == [
        ("system", "tests", "membership.created", "user", uid, None, {"user": "sam", "role": second}, ""),
        ("system", "tests", "membership.role_changed", "user", uid, {"role": second}, {"role": first}, ""),
        ("system", "tests", "membership.removed", "user", uid, {"user": "sam", "role": first}, None, ""),
    ]


def test_brand_create_records_only_a_new_brand():
    actor = Actor.system("tests")
    brand, created = brand_create(actor=actor, slug="shop", name="Shop")
    brand_create(actor=actor, slug="shop", name="Shop")
    assert created
    assert audit_rows(brand) == [
        (
            "system",
            "tests",
            "brand.created",
            "brand",
            "shop",
            None,
            {"slug": "shop", "name": "Shop", "default_language": "en", "jurisdiction": "EU"},
            "",
        )
    ]


# --- The selector ------------------------------------------------------------------------

T0 = datetime(2030, 1, 15, 10, 0, tzinfo=UTC)  # later than the fixtures' own entries


def test_the_selector_pages_newest_first_through_equal_times_and_keeps_to_its_brand(brand, other_brand):
    with time_machine.travel(T0, tick=False):  # five entries at the very same instant
        made = [one_entry(brand) for _ in range(5)]
        one_entry(other_brand)
    seen, after = [], None
    while True:
        page = audit_entries_list(brand=brand, actions=["brand.updated"], after=after, limit=2)
        seen.extend(entry.pk for entry in page.entries)
        if page.next is None:
            break
        after = page.next
    assert seen == [entry.pk for entry in reversed(made)]
    assert {entry.brand_id for entry in audit_entries_list(brand=brand, limit=100).entries} == {brand.pk}
    window = audit_entries_list(brand=brand, since=T0, until=T0 + timedelta(microseconds=1), limit=100)
    assert [entry.pk for entry in window.entries] == [entry.pk for entry in reversed(made)]
    assert audit_entries_list(brand=brand, until=T0, actions=["brand.updated"], limit=100).entries == []


# --- The export --------------------------------------------------------------------------


def export(*args: str) -> str:
    out = io.StringIO()
    call_command("export_audit", *args, stdout=out)
    return out.getvalue()


def test_export_jsonl_streams_page_by_page(brand, other_brand, monkeypatch):
    monkeypatch.setattr("brands.management.commands.export_audit.PAGE", 2)
    with time_machine.travel(T0, tick=False):
        made = [one_entry(brand) for _ in range(3)]
        one_entry(other_brand)
    brand_created = AuditEntry.objects.get(brand=brand, action="brand.created")
    lines = export("--brand", "acme").splitlines()
    documents = [json.loads(line) for line in lines]
    assert [document["id"] for document in documents] == [
        *(entry.pk for entry in reversed(made)),
        brand_created.pk,
    ]
    assert documents[0] == {
        "id": made[-1].pk,
        "at": "2030-01-15T10:00:00Z",
        "actor": {"kind": "system", "ref": "tests", "name": ""},
        "action": "brand.updated",
        "target": {"type": "brand", "id": "acme"},
        "before": {"name": "A"},
        "after": {"name": "B"},
        "reason": "",
        "transaction": made[-1].txid,
    }
    since = [
        json.loads(line)["id"]
        for line in export("--brand", "acme", "--since", "2030-01-15T10:00:00+00:00").splitlines()
    ]
    assert since == [entry.pk for entry in reversed(made)]


def test_export_csv(brand):
    with time_machine.travel(T0, tick=False), transaction.atomic():
        entry = audit_record(
            brand=brand,
            actor=Actor(kind="staff", ref="=cmd|calc", name="Sam"),
            action=AuditAction.TOPIC_UPDATED,
            target_type="topic",
            target_id="news",
            before={"cadence_options": ["weekly"]},
            after={"cadence_options": ["monthly"]},
            reason="@ticket 7",
        )
    rows = list(
        csv.reader(
            io.StringIO(export("--brand", "acme", "--format", "csv", "--since", "2030-01-15T10:00:00Z"))
        )
    )
    assert rows == [
        [
            "id",
            "at",
            "actor_kind",
            "actor_ref",
            "actor_name",
            "action",
            "target_type",
            "target_id",
            "before",
            "after",
            "reason",
            "transaction",
        ],
        [
            str(entry.pk),
            "2030-01-15T10:00:00Z",
            "staff",
            "'=cmd|calc",  # a spreadsheet would run it as a formula
            "Sam",
            "topic.updated",
            "topic",
            "news",
            '{"cadence_options": ["weekly"]}',
            '{"cadence_options": ["monthly"]}',
            "'@ticket 7",
            str(entry.txid),
        ],
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--brand", "nope"), "No brand 'nope'."),
        (("--brand", "acme", "--since", "soon"), "--since 'soon': use an ISO 8601 time"),
        (
            ("--brand", "acme", "--since", "2026-11-22T10:00:00"),
            "--since '2026-11-22T10:00:00': give the offset",
        ),
    ],
)
def test_export_refuses_bad_arguments(brand, args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        export(*args)


def test_the_actor_of_a_request(brand, rf):
    from django.contrib.auth.models import AnonymousUser

    from brands.auth import ApiPrincipal

    issued = api_key_create(brand=brand, actor=TEST_ACTOR, scopes=[Scope.ADMIN], name="ci")
    api_request = rf.get("/api/v1/audit")
    api_request.user = ApiPrincipal(issued.api_key)
    assert Actor.from_request(api_request) == Actor(kind="api_key", ref=issued.api_key.prefix, name="ci")

    person = User.objects.create_user("sam", "sam@example.com", "a-long-password-123")
    admin_request, console_request = rf.post("/admin/brands/brand/1/change/"), rf.post("/console/topics")
    admin_request.user = console_request.user = person
    assert Actor.from_request(admin_request) == Actor(
        kind="operator", ref="sam", name="admin", user_id=person.pk
    )
    assert Actor.from_request(console_request) == Actor(kind="staff", ref="sam", user_id=person.pk)

    anonymous = rf.post("/console/topics")
    anonymous.user = AnonymousUser()
    with pytest.raises(ValueError, match="anonymous"):
        Actor.from_request(anonymous)


def test_apply_brand_config_records_its_parts_and_summary_as_the_os_user(tmp_path, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "deploy")
    path = tmp_path / "shop.json"
    path.write_text(
        json.dumps(
            {"theme": {"name": "Shop"}, "topics": [{"slug": "news", "name": "News", "transactional": True}]}
        )
    )
    call_command("apply_brand_config", "--brand", "shop", "--create", str(path), stdout=io.StringIO())
    brand = Brand.objects.get(slug="shop")
    rows = audit_rows(brand)
    assert [(row[0], row[1], row[2], row[4]) for row in rows] == [
        ("operator", "os:deploy", "brand.created", "shop"),
        ("operator", "os:deploy", "topic.created", "news"),
        ("operator", "os:deploy", "config.applied", "shop"),
    ]
    assert rows[-1][6] == {
        "created": ["topic news"],
        "updated": [],
        "notices_published": [],
        "deleted": [],
        "prune": False,
    }
    assert set(AuditEntry.objects.filter(brand=brand).values_list("actor_name", flat=True)) == {
        "manage.py apply_brand_config"
    }
    call_command("apply_brand_config", "--brand", "shop", str(path), stdout=io.StringIO())  # nothing changes
    assert len(audit_rows(brand)) == 3
