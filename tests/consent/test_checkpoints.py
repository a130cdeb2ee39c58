"""Signed checkpoints: a rewrite of history made after one is caught, even by an attacker who
can write the database, disable its triggers and recompute every hash."""

from __future__ import annotations

import hashlib
import json
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from joserfc import jws
from joserfc.jwk import KeySet

from brands.keys import public_jwks
from consent.checkpoints import checkpoint_create, checkpoint_document
from consent.ledger import event_hash
from consent.merkle import leaf_bytes, leaf_hash, node_hash, tree_root
from consent.models import ConsentEvent, ConsentState, Contact, LedgerCheckpoint
from consent.tasks import ledger_checkpoints
from sync.models import Event
from tests.consent.test_ledger import triggers_disabled

URL = "/api/v1/contacts/cust-1/consents"
CHECKPOINTS = "/api/v1/ledger/checkpoints"


def _record(api, decision, notice_version, external_id="cust-1"):
    body = {"purpose": "email-marketing", "decision": decision}
    if decision == "granted":
        body["notice_version"] = notice_version.public_id
    response = api.post(f"/api/v1/contacts/{external_id}/consents", body, format="json")
    assert response.status_code == 201, response.content


@pytest.fixture
def events(api, contact, purpose, notice_version):
    """A grant and then a withdrawal: the withdrawal is what a forger would rather not have."""
    _record(api, "granted", notice_version)
    _record(api, "withdrawn", notice_version)
    return list(ConsentEvent.objects.filter(contact=contact).order_by("sequence"))


def verify(*args):
    out = StringIO()
    call_command("verify_ledger", *args, stdout=out)
    return out.getvalue().strip()


# --- The Merkle tree -------------------------------------------------------------------------


def _rfc6962_root(leaves: list[bytes]) -> bytes:
    """The definition in RFC 6962 section 2.1, recursively."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(_rfc6962_root(leaves[:k]), _rfc6962_root(leaves[k:]))


# Certificate Transparency's reference inputs and roots (its merkle_tree_test).
CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


@pytest.mark.parametrize("size", range(1, 9))
def test_tree_root_matches_certificate_transparency(size):
    assert tree_root(CT_LEAVES[:size]) == CT_ROOTS[size - 1]


@pytest.mark.parametrize("size", [0, 1, 2, 3, 5, 8, 13, 31, 64, 65])
def test_tree_root_follows_the_rfc_6962_definition(size):
    leaves = [leaf_bytes(contact_id=i, sequence=i * 3, head=f"{i:064x}") for i in range(size)]
    assert tree_root(leaves) == _rfc6962_root(leaves).hex()


def test_a_leaf_cannot_pass_for_a_node():
    left, right = leaf_hash(b"a"), leaf_hash(b"b")
    assert tree_root([left + right]) != node_hash(left, right).hex()


# --- Signing and publishing --------------------------------------------------------------------


def test_checkpoint_signs_the_root_over_every_chain_head(brand, other_brand, events, contact):
    # Neither is in the tree: one has no chain yet, the other is another brand's.
    Contact.objects.create(brand=brand, external_id="no-events")
    Contact.objects.create(brand=other_brand, external_id="cust-1", ledger_sequence=1)
    contact.refresh_from_db()

    checkpoint = checkpoint_create(brand=brand)

    assert checkpoint is not None
    expected_root = tree_root([leaf_bytes(contact_id=contact.pk, sequence=2, head=events[1].hash)])
    assert (checkpoint.number, checkpoint.tree_size, checkpoint.root_hash) == (1, 1, expected_root)
    assert contact.ledger_head == events[1].hash
    signed = jws.deserialize_compact(checkpoint.jws, KeySet.import_key_set(public_jwks(brand)))
    assert json.loads(signed.payload) == {
        "typ": "candor.ledger.checkpoint",
        "v": 1,
        "brand": "acme",
        "number": 1,
        "issued_at": checkpoint.issued_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "tree_size": 1,
        "root_hash": expected_root,
        "previous_root_hash": None,
    }
    assert signed.headers()["kid"] == checkpoint.kid


def test_checkpoint_goes_out_as_a_ledger_checkpoint_event(brand, events):
    checkpoint = checkpoint_create(brand=brand)
    [event] = Event.objects.filter(brand=brand, type="ledger.checkpoint")
    assert event.contact_ref == Event.brand_ref(brand.pk)
    document = checkpoint_document(checkpoint, brand_slug="acme")
    assert event.data == {"sequence": event.sequence, **document}
    assert document["jwks_url"] == f"{settings.PUBLIC_BASE_URL}/.well-known/candor/acme/jwks.json"


def test_checkpoints_are_numbered_and_linked_and_the_periodic_run_skips_unchanged(
    brand, other_brand, events, api, notice_version
):
    first = checkpoint_create(brand=brand)
    assert ledger_checkpoints() == 1  # other_brand (no chains yet) gets its first; acme is unchanged
    assert LedgerCheckpoint.objects.filter(brand=brand).count() == 1
    _record(api, "granted", notice_version)
    assert ledger_checkpoints() == 1  # acme changed; other_brand did not
    second = LedgerCheckpoint.objects.filter(brand=brand).order_by("-number").first()
    assert second is not None
    assert first is not None
    assert (second.number, second.previous_root_hash) == (2, first.root_hash)
    assert second.root_hash != first.root_hash
    [other] = LedgerCheckpoint.objects.filter(brand=other_brand)
    assert (other.number, other.tree_size, other.root_hash) == (1, 0, hashlib.sha256(b"").hexdigest())


def test_beat_signs_checkpoints_at_the_configured_interval():
    entry = settings.CELERY_BEAT_SCHEDULE["ledger-checkpoints"]
    assert entry["task"] == "consent.tasks.ledger_checkpoints"
    assert entry["schedule"] == float(settings.LEDGER_CHECKPOINT_SECONDS) == 3600.0


def test_checkpoints_are_append_only(brand, events):
    checkpoint_create(brand=brand)
    for sql in (
        "UPDATE consent_ledgercheckpoint SET root_hash = 'x'",
        "DELETE FROM consent_ledgercheckpoint",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql)
    assert LedgerCheckpoint.objects.count() == 1


def test_management_command_signs_on_demand(brand, events):
    out = StringIO()
    call_command("ledger_checkpoint", "--brand", "acme", stdout=out)
    checkpoint = LedgerCheckpoint.objects.get(brand=brand)
    assert out.getvalue().strip() == f"acme: checkpoint 1, 1 chains, root {checkpoint.root_hash}"
    with pytest.raises(CommandError, match="No brand 'nope'"):
        call_command("ledger_checkpoint", "--brand", "nope")


# --- The API ---------------------------------------------------------------------------------------


def test_api_signs_on_demand_with_admin_scope_and_publishes(brand, events, make_client):
    admin = make_client(brand, ["admin"])
    response = admin.post(CHECKPOINTS)
    assert response.status_code == 201
    checkpoint = LedgerCheckpoint.objects.get(brand=brand)
    assert response.json() == checkpoint_document(checkpoint, brand_slug="acme")

    reader = make_client(brand, ["consent:read"])
    assert reader.get(f"{CHECKPOINTS}/latest").json() == response.json()
    admin.post(CHECKPOINTS)
    listed = reader.get(CHECKPOINTS, {"limit": 1}).json()
    assert [c["checkpoint"]["number"] for c in listed["checkpoints"]] == [2]
    rest = reader.get(CHECKPOINTS, {"cursor": listed["next_cursor"]}).json()
    assert [c["checkpoint"]["number"] for c in rest["checkpoints"]] == [1]
    assert rest["next_cursor"] is None


def test_api_refuses_signing_without_admin_scope(brand, events, make_client):
    reader = make_client(brand, ["consent:read", "consent:write"])
    response = reader.post(CHECKPOINTS)
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert LedgerCheckpoint.objects.count() == 0
    assert make_client(brand, ["preferences:read"]).get(CHECKPOINTS).status_code == 403


def test_api_latest_is_404_before_the_first_and_never_shows_another_brands(
    brand, events, make_client, outsider_api
):
    response = outsider_api.get(f"{CHECKPOINTS}/latest")
    assert response.status_code == 404
    assert response.json()["detail"] == "No ledger checkpoint has been signed for this brand yet."
    checkpoint_create(brand=brand)
    assert outsider_api.get(f"{CHECKPOINTS}/latest").status_code == 404
    assert outsider_api.get(CHECKPOINTS).json() == {"checkpoints": [], "next_cursor": None}


def test_schema_describes_the_checkpoint_endpoints(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    assert set(paths["/api/v1/ledger/checkpoints"]) == {"get", "post"}
    assert set(paths["/api/v1/ledger/checkpoints/latest"]) == {"get"}
    post = paths["/api/v1/ledger/checkpoints"]["post"]
    assert {"201", "401", "403", "429"} <= set(post["responses"])
    assert "CheckpointOut" in json.dumps(post["responses"]["201"])


# --- The two forgeries -------------------------------------------------------------------------


def _rewrite_withdrawal_as_grant(contact, events, notice_version):
    """The attacker turns the withdrawal into a grant, recomputes its hash and every later one
    and the head, and fixes the projection: every chain check passes afterwards."""
    withdrawal = events[1]
    with triggers_disabled(), connection.cursor() as cursor:
        withdrawal.decision = "granted"
        withdrawal.notice_version = notice_version
        withdrawal.hash = event_hash(
            withdrawal, notice_hash=notice_version.content_hash, purpose_slug="email-marketing"
        )
        cursor.execute(
            "UPDATE consent_consentevent SET decision = 'granted', notice_version_id = %s, hash = %s "
            "WHERE id = %s",
            [notice_version.pk, withdrawal.hash, str(withdrawal.id)],
        )
        previous = withdrawal.hash
        for later in events[2:]:
            later.prev_hash = previous
            later.hash = event_hash(
                later,
                notice_hash=later.notice_version.content_hash if later.notice_version else None,
                purpose_slug="email-marketing",
            )
            cursor.execute(
                "UPDATE consent_consentevent SET prev_hash = %s, hash = %s WHERE id = %s",
                [later.prev_hash, later.hash, str(later.id)],
            )
            previous = later.hash
        cursor.execute("UPDATE consent_contact SET ledger_head = %s WHERE id = %s", [previous, contact.pk])
        cursor.execute(
            "UPDATE consent_consentstate SET decision = 'granted', notice_version_id = %s "
            "WHERE contact_id = %s",
            [notice_version.pk, contact.pk],
        )


def _delete_last_event(contact, events):
    """The attacker deletes the last event and sets the head back to the one before it."""
    last, before = events[-1], events[-2]
    with triggers_disabled(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM consent_consentevidence WHERE event_id = %s", [str(last.id)])
        cursor.execute(
            "UPDATE consent_consentstate SET decision = %s, event_id = %s, event_sequence = %s, "
            "occurred_at = %s, notice_version_id = %s WHERE contact_id = %s",
            [
                before.decision,
                str(before.id),
                before.sequence,
                before.occurred_at,
                before.notice_version_id,
                contact.pk,
            ],
        )
        cursor.execute("DELETE FROM consent_consentevent WHERE id = %s", [str(last.id)])
        cursor.execute(
            "UPDATE consent_contact SET ledger_head = %s, ledger_sequence = %s WHERE id = %s",
            [before.hash, before.sequence, contact.pk],
        )


def test_without_a_checkpoint_both_forgeries_pass_the_chain_checks(brand, contact, events, notice_version):
    """What the checkpoints are for: the chain checks alone cannot see these rewrites."""
    _rewrite_withdrawal_as_grant(contact, events, notice_version)
    assert verify() == "OK: 2 events in 1 contacts verify."
    _delete_last_event(contact, list(ConsentEvent.objects.filter(contact=contact).order_by("sequence")))
    assert verify() == "OK: 1 events in 1 contacts verify."


def test_a_withdrawal_rewritten_as_a_grant_after_a_checkpoint_is_caught(
    brand, contact, events, notice_version, api
):
    checkpoint_create(brand=brand)
    _record(api, "granted", notice_version)  # a later event: the forger recomputes it too
    events = list(ConsentEvent.objects.filter(contact=contact).order_by("sequence"))
    _rewrite_withdrawal_as_grant(contact, events, notice_version)
    assert ConsentState.objects.get(contact=contact).decision == "granted"
    with pytest.raises(
        CommandError,
        match=rf"event {events[1].id} \(contact cust-1, sequence 2\): the chain up to here differs "
        r"from signed checkpoint 1 of .*Z \(acme\)",
    ):
        verify("--brand", "acme")


def test_deleting_the_last_event_and_fixing_the_head_after_a_checkpoint_is_caught(
    brand, contact, events, notice_version
):
    checkpoint_create(brand=brand)
    _delete_last_event(contact, events)
    with pytest.raises(
        CommandError,
        match=r"contact cust-1: the event at sequence 2, in signed checkpoint 1 of .*Z \(acme\), is missing",
    ):
        verify()


def test_a_brands_checkpoint_file_catches_a_forger_who_also_deleted_the_checkpoints(
    brand, contact, events, notice_version, tmp_path
):
    checkpoint = checkpoint_create(brand=brand)
    # The brand kept the webhook it received (the changes feed carries the same body).
    [event] = Event.objects.filter(type="ledger.checkpoint")
    kept = tmp_path / "checkpoint.json"
    kept.write_text(json.dumps({"type": "ledger.checkpoint", "data": event.data}))
    _rewrite_withdrawal_as_grant(contact, events, notice_version)
    with triggers_disabled("consent_ledgercheckpoint"), connection.cursor() as cursor:
        cursor.execute("DELETE FROM consent_ledgercheckpoint")
    assert verify() == "OK: 2 events in 1 contacts verify."  # the database alone is fooled
    with pytest.raises(
        CommandError,
        match=rf"signed checkpoint 1 of {checkpoint.issued_at:%Y-%m-%dT%H:%M:%S.%f}Z \(acme\) is missing "
        "from the database",
    ):
        verify("--checkpoint", str(kept))


def test_a_checkpoint_file_catches_the_rewrite_and_stored_leaves_cannot_be_fixed_to_hide_it(
    brand, contact, events, notice_version, api, tmp_path
):
    checkpoint_create(brand=brand)
    kept = tmp_path / "latest.json"
    kept.write_text(json.dumps(api.get(f"{CHECKPOINTS}/latest").json()))
    assert verify("--checkpoint", str(kept)) == "OK: 2 events in 1 contacts verify."
    _rewrite_withdrawal_as_grant(contact, events, notice_version)
    contact.refresh_from_db()
    forged = leaf_bytes(contact_id=contact.pk, sequence=2, head=contact.ledger_head)
    with triggers_disabled("consent_ledgercheckpoint"), connection.cursor() as cursor:
        cursor.execute("UPDATE consent_ledgercheckpoint SET leaves = %s", [forged])
    with pytest.raises(CommandError, match=r"its stored chain heads do not match its signed root"):
        verify("--checkpoint", str(kept))


def test_a_checkpoint_with_a_forged_signature_or_a_hole_in_the_numbers_fails(
    brand, other_brand, contact, events, tmp_path
):
    checkpoint_create(brand=brand)
    checkpoint = checkpoint_create(brand=brand)
    assert checkpoint is not None
    header, payload, signature = checkpoint.jws.split(".")
    tampered = tmp_path / "tampered.jws"
    tampered.write_text(f"{header}.{payload[:-4]}AAAA.{signature}")
    with pytest.raises(CommandError, match="checkpoint file entry 1: "):
        verify("--checkpoint", str(tampered))
    with triggers_disabled("consent_ledgercheckpoint"), connection.cursor() as cursor:
        cursor.execute("DELETE FROM consent_ledgercheckpoint WHERE number = 1")
    with pytest.raises(CommandError, match=r"checkpoints of brand acme: 1 of numbers 1\.\.2 are missing"):
        verify()
    not_json = tmp_path / "garbage.txt"
    not_json.write_text("hello")
    with pytest.raises(CommandError, match="neither JSON nor a compact JWS"):
        verify("--checkpoint", str(not_json))
    with pytest.raises(CommandError, match="Cannot read checkpoint file"):
        verify("--checkpoint", str(tmp_path / "absent.json"))
