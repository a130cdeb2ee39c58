"""The ledger is append-only in the database itself, and verify_ledger finds any tampering."""

from __future__ import annotations

from contextlib import contextmanager
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from consent.models import ConsentEvent, ConsentState, NoticeVersion

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


@contextmanager
def triggers_disabled():
    """Simulate an attacker with raw database access (the test transaction restores the triggers)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # flush deferred FK checks before ALTER
        cursor.execute("ALTER TABLE consent_consentevent DISABLE TRIGGER USER")
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
    evidence = events[0].evidence
    evidence.user_agent = "forged"
    evidence.save()
    with pytest.raises(CommandError, match="evidence does not match its digest"):
        call_command("verify_ledger", stdout=StringIO())


def test_verify_ledger_unknown_brand(db):
    with pytest.raises(CommandError, match="No brand 'nope'"):
        call_command("verify_ledger", "--brand", "nope")
