"""The ledger is append-only in the database itself, and verify_ledger finds any tampering."""

from __future__ import annotations

from contextlib import contextmanager
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from consent.models import ConsentEvent, ConsentEvidence, ConsentState, NoticeVersion

URL = "/api/v1/contacts/cust-1/consents"


@pytest.fixture
def events(api, contact, purpose, notice_version):
    for decision in ("granted", "withdrawn", "granted"):
        api.post(
            URL,
            {
                "purpose": "email-marketing",
                "decision": decision,
                "notice_version": notice_version.public_id,
            },
            format="json",
        )
    return list(ConsentEvent.objects.order_by("sequence"))


LEDGER_TABLES = ("consent_consentevent", "consent_consentevidence")


@contextmanager
def triggers_disabled(*tables: str):
    """Simulate an attacker with raw database access: as the tables' owner, they can disable the
    triggers (the test transaction restores them)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # flush deferred FK checks before ALTER
        for table in tables or LEDGER_TABLES:
            cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
    yield


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE consent_consentevent SET decision = 'granted'",
        "DELETE FROM consent_consentevent",
    ],
)
def test_database_refuses_update_and_delete_of_ledger_rows(events, sql):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert ConsentEvent.objects.count() == 3


def test_orm_update_of_ledger_is_refused_too(events):
    with pytest.raises(DatabaseError), transaction.atomic():
        ConsentEvent.objects.filter(pk=events[0].pk).update(decision="withdrawn")


def test_notice_versions_are_immutable(notice_version):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        NoticeVersion.objects.filter(pk=notice_version.pk).update(text="edited later")


def test_verify_ledger_passes_on_a_clean_ledger(events):
    out = StringIO()
    call_command("verify_ledger", stdout=out)
    assert out.getvalue().strip() == "OK: 3 events in 1 contacts verify."
    call_command("verify_ledger", "--brand", "acme", stdout=StringIO())


def test_verify_ledger_names_the_first_tampered_event(events):
    with triggers_disabled(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE consent_consentevent SET decision = 'granted' WHERE id = %s",
            [str(events[1].id)],
        )
    with pytest.raises(CommandError, match=f"event {events[1].id} .*sequence 2.*hash does not match"):
        call_command("verify_ledger", stdout=StringIO())


def test_verify_ledger_finds_a_removed_event(events):
    with triggers_disabled(), connection.cursor() as cursor:
        key = str(events[1].id)
        cursor.execute("DELETE FROM consent_consentevidence WHERE event_id = %s", [key])
        cursor.execute("DELETE FROM consent_consentevent WHERE id = %s", [key])
    with pytest.raises(CommandError, match=f"event {events[2].id} .*expected sequence 2"):
        call_command("verify_ledger", stdout=StringIO())


def test_verify_ledger_finds_a_projection_that_drifted(events):
    ConsentState.objects.update(decision="withdrawn")
    with pytest.raises(CommandError, match=r"consent state .* does not follow the ledger"):
        call_command("verify_ledger", stdout=StringIO())


def test_verify_ledger_finds_edited_evidence(events):
    with triggers_disabled():
        ConsentEvidence.objects.filter(pk=events[0].pk).update(user_agent="forged")
    with pytest.raises(CommandError, match=f"event {events[0].id} .*evidence does not match its digest"):
        call_command("verify_ledger", stdout=StringIO())


FORGED_IP = "198.51.100.0"


@pytest.mark.parametrize(
    "sql",
    [
        # Editing a field without erasing.
        "UPDATE consent_consentevidence SET ip = '198.51.100.0'",
        "UPDATE consent_consentevidence SET gpc = true",
        # Marking it erased while a (forged) personal field stays: the attack verify_ledger missed.
        "UPDATE consent_consentevidence SET ip = '198.51.100.0', erased_at = now()",
        "UPDATE consent_consentevidence SET erased_at = now()",
        # Erasing while setting the GPC flag, or while keeping the salt.
        "UPDATE consent_consentevidence SET salt = '', ip = '', user_agent = '', page_url = '', "
        "erased_at = now(), gpc = true",
        "UPDATE consent_consentevidence SET ip = '', user_agent = '', page_url = '', erased_at = now()",
        # Erasing everything else while writing a number or a text message in.
        "UPDATE consent_consentevidence SET salt = '', ip = '', user_agent = '', page_url = '', "
        "tc_string = '', gpp_string = '', phone = '+15550100123', erased_at = now()",
        "UPDATE consent_consentevidence SET salt = '', ip = '', user_agent = '', page_url = '', "
        "tc_string = '', gpp_string = '', message = '{\"body\": \"YES\"}', erased_at = now()",
        "DELETE FROM consent_consentevidence",
    ],
)
def test_database_refuses_every_change_of_evidence_but_erasure(events, sql):
    before = list(ConsentEvidence.objects.order_by("pk").values())
    with (
        pytest.raises(DatabaseError, match="consent_consentevidence may only be erased"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    assert list(ConsentEvidence.objects.order_by("pk").values()) == before


def test_database_allows_erasure_of_evidence_and_nothing_after_it(events):
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE consent_consentevidence SET salt = '', ip = '', user_agent = '', page_url = '', "
            "tc_string = '', gpp_string = '', gpc = NULL, erased_at = now() WHERE event_id = %s",
            [str(events[0].id)],
        )
    erased = ConsentEvidence.objects.get(pk=events[0].pk)
    assert (erased.salt, erased.ip, erased.user_agent, erased.gpc) == ("", "", "", None)
    assert erased.erased_at is not None
    # Once erased, a row can neither be filled again nor re-dated.
    for sql in (
        "UPDATE consent_consentevidence SET ip = '198.51.100.0'",
        "UPDATE consent_consentevidence SET erased_at = now() - interval '1 day'",
        "UPDATE consent_consentevidence SET erased_at = NULL",
    ):
        with (
            pytest.raises(DatabaseError, match="may only be erased"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql + " WHERE event_id = %s", [str(events[0].id)])


def test_verify_ledger_finds_forged_evidence_hidden_behind_erased_at(events):
    """Setting erased_at used to make verify_ledger skip the evidence, forged IP and all."""
    with triggers_disabled(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE consent_consentevidence SET ip = %s, erased_at = now() WHERE event_id = %s",
            [FORGED_IP, str(events[1].id)],
        )
    with pytest.raises(CommandError, match=f"event {events[1].id} .*evidence marked erased still holds data"):
        call_command("verify_ledger", stdout=StringIO())


def test_verify_ledger_finds_evidence_erased_by_neither_erasure_nor_purge(events):
    with triggers_disabled(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE consent_consentevidence SET salt = '', ip = '', user_agent = '', page_url = '', "
            "erased_at = now() WHERE event_id = %s",
            [str(events[2].id)],
        )
    with pytest.raises(
        CommandError,
        match=f"event {events[2].id} .*evidence was erased by neither an erasure nor a retention purge",
    ):
        call_command("verify_ledger", stdout=StringIO())


def test_verify_ledger_unknown_brand(db):
    with pytest.raises(CommandError, match="No brand 'nope'"):
        call_command("verify_ledger", "--brand", "nope")
