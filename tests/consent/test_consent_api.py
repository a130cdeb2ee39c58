"""POST/GET …/consents: exact ledger rows, projection, outbox, and what a rejected request must not write."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from consent.ledger import event_hash, evidence_digest, iso_utc
from consent.models import GENESIS_HASH, ConsentEvent, ConsentEvidence, ConsentState, Contact
from consent.verification import ledger_verify
from sync.models import Event
from tests.conftest import current_version, ledger_rows

URL = "/api/v1/contacts/{}/consents"
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def grant(api, notice_version, contact="cust-1", **extra):
    body = {
        "purpose": "email-marketing",
        "decision": "granted",
        "notice_version": notice_version.public_id,
        **extra,
    }
    return api.post(URL.format(contact), body, format="json")


def withdraw(api, contact="cust-1", **extra):
    return api.post(
        URL.format(contact),
        {"purpose": "email-marketing", "decision": "withdrawn", **extra},
        format="json",
    )


def counts() -> tuple[int, int, int, int]:
    return (
        ConsentEvent.objects.count(),
        ConsentEvidence.objects.count(),
        ConsentState.objects.count(),
        Event.objects.count(),
    )


@time_machine.travel(NOW, tick=False)
def test_grant_writes_exactly_one_ledger_row_with_its_evidence(api, contact, purpose, notice_version):
    response = grant(
        api,
        notice_version,
        occurred_at="2026-11-22T09:59:00Z",
        evidence={
            "ip": "203.0.113.77",
            "user_agent": "Firefox",
            "page_url": "https://shop.example/signup?email=a@b.c#x",
            "gpc": False,
            "tc_string": "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA",
        },
    )

    assert response.status_code == 201
    [event] = ledger_rows(contact)
    assert response.json() == {
        "event_id": str(event.id),
        "purpose": "email-marketing",
        "decision": "granted",
        "notice_version": notice_version.public_id,
        "method": "api",
        "occurred_at": "2026-11-22T09:59:00Z",
        "recorded_at": "2026-11-22T10:00:00Z",
        "expires_at": None,
        "sequence": 1,
        "hash": event.hash,
        "prev_hash": GENESIS_HASH,
    }
    assert event.id.version == 4
    assert (event.brand_id, event.purpose_id, event.notice_version_id) == (
        contact.brand_id,
        purpose.pk,
        notice_version.pk,
    )
    assert (event.consent_type, event.method, event.actor) == ("express", "api", "subject")
    assert event.recorded_by == f"api_key:{api.api_key.prefix}"
    assert event.jurisdiction == "DE"  # the brand's, as the contact has none
    assert event.hash == event_hash(
        event, notice_hash=notice_version.content_hash, purpose_slug="email-marketing"
    )
    evidence = event.evidence
    assert (evidence.ip, evidence.user_agent, evidence.page_url, evidence.gpc) == (
        "203.0.113.0",
        "Firefox",
        "https://shop.example/signup",
        False,
    )
    assert evidence.tc_string == "CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA"  # verbatim
    assert event.evidence_digest == evidence_digest(evidence)
    # The hash covers no personal data: the email and the IP appear nowhere in what was hashed.
    assert "203.0.113" not in event.hash
    assert contact.email not in str(event.__dict__)

    state = ConsentState.objects.get(contact=contact, purpose=purpose)
    assert (state.decision, state.event_id, state.notice_version_id) == (
        "granted",
        event.id,
        notice_version.pk,
    )
    contact.refresh_from_db()
    assert (contact.ledger_sequence, contact.ledger_head, contact.event_sequence) == (
        1,
        event.hash,
        1,
    )

    [outbox] = Event.objects.all()
    assert (outbox.type, outbox.subject, outbox.sequence, outbox.contact_ref) == (
        "consent.granted",
        "cust-1",
        1,
        contact.pk,
    )
    assert outbox.data == {
        "contact": "cust-1",
        "sequence": 1,
        "purpose": "email-marketing",
        "state": "granted",
        "valid_for_processing": True,
        "event_id": str(event.id),
        "notice_version": notice_version.public_id,
        "occurred_at": "2026-11-22T09:59:00.000000Z",
        "expires_at": None,
    }
    assert "ada@example.com" not in str(outbox.data)


def test_withdrawal_chains_to_the_grant_and_flips_the_state(api, contact, purpose, notice_version):
    first = grant(api, notice_version).json()
    second = withdraw(api).json()

    assert second["sequence"] == 2
    assert second["prev_hash"] == first["hash"]
    assert second["notice_version"] is None
    current = api.get(URL.format("cust-1")).json()
    assert current == {
        "contact": "cust-1",
        "consents": [
            {
                "purpose": "email-marketing",
                "state": "withdrawn",
                "valid_for_processing": False,
                "notice_version": None,
                "event_id": second["event_id"],
                "occurred_at": second["occurred_at"],
                "updated_at": second["recorded_at"],
                "expires_at": None,
            }
        ],
    }
    assert [e.type for e in Event.objects.order_by("sequence")] == [
        "consent.granted",
        "consent.withdrawn",
    ]
    assert ledger_verify().ok


def test_late_older_grant_is_recorded_but_never_overrides_a_newer_withdrawal(
    api, contact, purpose, notice_version
):
    withdraw(api, occurred_at="2026-11-20T12:00:00Z")
    late = grant(api, notice_version, occurred_at="2026-11-20T11:00:00Z")

    assert late.status_code == 201
    assert [(e.sequence, e.decision) for e in ledger_rows(contact)] == [
        (1, "withdrawn"),
        (2, "granted"),
    ]
    state = ConsentState.objects.get(contact=contact)
    assert state.decision == "withdrawn"
    # The ignored grant announced nothing downstream.
    assert list(Event.objects.values_list("type", flat=True)) == ["consent.withdrawn"]
    assert ledger_verify().ok


def test_withdrawal_wins_a_tie_on_occurred_at(api, contact, purpose, notice_version):
    withdraw(api, occurred_at="2026-11-20T12:00:00Z")
    grant(api, notice_version, occurred_at="2026-11-20T12:00:00Z")
    assert ConsentState.objects.get(contact=contact).decision == "withdrawn"

    other, _ = Contact.objects.get_or_create(brand=contact.brand, external_id="cust-2")
    grant(api, notice_version, contact="cust-2", occurred_at="2026-11-20T12:00:00Z")
    withdraw(api, contact="cust-2", occurred_at="2026-11-20T12:00:00Z")
    assert ConsentState.objects.get(contact=other).decision == "withdrawn"


def test_contacts_chains_are_independent(api, brand, purpose, notice_version):
    api.put("/api/v1/contacts/a", {}, format="json")
    api.put("/api/v1/contacts/b", {}, format="json")
    grant(api, notice_version, contact="a")
    grant(api, notice_version, contact="b")
    grant(api, notice_version, contact="a")
    assert [
        e.sequence for e in ConsentEvent.objects.filter(contact__external_id="a").order_by("sequence")
    ] == [1, 2]
    assert [e.sequence for e in ConsentEvent.objects.filter(contact__external_id="b")] == [1]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"purpose": "nope", "decision": "withdrawn"}, "purpose"),
        ({"purpose": "email-marketing", "decision": "granted"}, "notice_version"),
        (
            {"purpose": "email-marketing", "decision": "granted", "notice_version": "nv_unknown"},
            "notice_version",
        ),
        ({"purpose": "email-marketing", "decision": "maybe"}, "decision"),
        ({"purpose": "email-marketing", "decision": "withdrawn", "method": "one_click"}, "method"),
        (
            {
                "purpose": "email-marketing",
                "decision": "withdrawn",
                "occurred_at": "2999-01-01T00:00:00Z",
            },
            "occurred_at",
        ),
        (
            {
                "purpose": "email-marketing",
                "decision": "withdrawn",
                "occurred_at": "2026-11-20T12:00:00",
            },
            "occurred_at",
        ),
        (
            {"purpose": "email-marketing", "decision": "withdrawn", "occurred_at": "yesterday"},
            "occurred_at",
        ),
        (
            {
                "purpose": "email-marketing",
                "decision": "withdrawn",
                "evidence": {"ip": "300.1.1.1"},
            },
            "evidence.ip",
        ),
        (
            {
                "purpose": "email-marketing",
                "decision": "withdrawn",
                "evidence": {"page_url": "javascript:1"},
            },
            "evidence.page_url",
        ),
        (
            {"purpose": "email-marketing", "decision": "withdrawn", "notice_verison": "x"},
            "notice_verison",
        ),
        (
            {"purpose": "email-marketing", "decision": "withdrawn", "implied_basis": "purchase"},
            "implied_basis",
        ),
        (
            {"purpose": "email-marketing", "decision": "withdrawn", "jurisdiction": "Germany"},
            "jurisdiction",
        ),
        ({"decision": "withdrawn"}, "purpose"),
    ],
)
def test_invalid_decisions_are_422_and_write_nothing(api, contact, purpose, notice_version, body, field):
    before = counts()
    response = api.post(URL.format("cust-1"), body, format="json")

    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 422
    assert problem["type"] == "urn:candor:problem:validation-error"
    assert field in problem["errors"]
    assert counts() == before
    contact.refresh_from_db()
    assert contact.ledger_sequence == 0


def test_notice_version_of_another_purpose_or_brand_is_422(
    api, brand, other_brand, contact, purpose, make_purpose
):
    sms = make_purpose(brand, "sms-marketing")
    foreign = make_purpose(other_brand, "email-marketing")
    before = counts()

    for version in (current_version(sms), current_version(foreign)):
        response = api.post(
            URL.format("cust-1"),
            {
                "purpose": "email-marketing",
                "decision": "granted",
                "notice_version": version.public_id,
            },
            format="json",
        )
        assert response.status_code == 422
        assert "notice_version" in response.json()["errors"]
    assert counts() == before


@pytest.mark.parametrize(
    ("raw", "status"),
    [(b"{not json", 400), (b"[1, 2]", 400), (b'"text"', 400), (b"\xff\xfe", 400), (b"null", 400)],
)
def test_malformed_bodies_are_400(api, contact, purpose, raw, status):
    before = counts()
    response = api.post(URL.format("cust-1"), raw, content_type="application/json")
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert counts() == before


def test_oversize_body_is_413_even_without_content_length(api, contact, purpose, settings):
    settings.API_MAX_BODY_BYTES = 2048
    body = b'{"purpose": "email-marketing", "decision": "withdrawn", "actor": "' + b"x" * 4000 + b'"}'
    response = api.post(URL.format("cust-1"), body, content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"

    assert ConsentEvent.objects.count() == 0


def test_parser_stops_reading_a_body_without_length_past_the_limit(settings):
    """A chunked body announces no length; the parser must still refuse it, not buffer it all."""
    from io import BytesIO

    from config.api import LimitedJSONParser, PayloadTooLarge

    settings.API_MAX_BODY_BYTES = 2048
    stream = BytesIO(b'{"a": "' + b"x" * 10_000 + b'"}')
    with pytest.raises(PayloadTooLarge):
        LimitedJSONParser().parse(stream)
    assert stream.tell() == 2049  # read one byte past the limit, no more
    assert LimitedJSONParser().parse(BytesIO(b'{"a": 1}')) == {"a": 1}


def test_unknown_contact_is_404(api, purpose):
    response = withdraw(api, contact="ghost")
    assert response.status_code == 404
    assert response.json()["type"] == "urn:candor:problem:not-found"


@time_machine.travel(NOW, tick=False)
def test_implied_consent_expires_after_casl_periods(api, brand, contact, make_purpose):
    implied = make_purpose(brand, "customer-updates", consent_type="implied")
    version = current_version(implied)
    post = lambda basis, at: api.post(  # noqa: E731
        URL.format("cust-1"),
        {
            "purpose": "customer-updates",
            "decision": "granted",
            "notice_version": version.public_id,
            "implied_basis": basis,
            "occurred_at": at,
        },
        format="json",
    )
    purchase = post("purchase", "2026-02-28T10:00:00Z").json()
    assert purchase["expires_at"] == "2028-02-28T10:00:00Z"  # two years
    inquiry = post("inquiry", "2026-08-31T10:00:00Z").json()
    assert inquiry["expires_at"] == "2027-02-28T10:00:00Z"  # six months, clamped to month end
    missing = api.post(
        URL.format("cust-1"),
        {"purpose": "customer-updates", "decision": "granted", "notice_version": version.public_id},
        format="json",
    )
    assert missing.status_code == 422
    assert "implied_basis" in missing.json()["errors"]


def test_expired_implied_consent_reads_expired_and_not_valid(api, brand, contact, make_purpose):
    implied = make_purpose(brand, "customer-updates", consent_type="implied")
    with time_machine.travel(NOW, tick=False):
        api.post(
            URL.format("cust-1"),
            {
                "purpose": "customer-updates",
                "decision": "granted",
                "notice_version": current_version(implied).public_id,
                "implied_basis": "inquiry",
            },
            format="json",
        )
        [row] = api.get(URL.format("cust-1")).json()["consents"]
        assert (row["state"], row["valid_for_processing"]) == ("granted", True)
    with time_machine.travel(NOW + timedelta(days=200), tick=False):
        [row] = api.get(URL.format("cust-1")).json()["consents"]
        assert (row["state"], row["valid_for_processing"]) == ("expired", False)
        assert row["expires_at"] == iso_utc(datetime(2027, 5, 22, 10, 0, tzinfo=UTC)).replace(".000000", "")


def test_express_consent_has_no_expiry(api, contact, purpose, notice_version):
    assert grant(api, notice_version).json()["expires_at"] is None


def test_current_consents_take_constant_queries(api, brand, contact, make_purpose):
    def read_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert api.get(URL.format("cust-1")).status_code == 200
        return len(ctx.captured_queries)

    first = make_purpose(brand, "p-0")
    api.post(
        URL.format("cust-1"),
        {
            "purpose": "p-0",
            "decision": "granted",
            "notice_version": current_version(first).public_id,
        },
        format="json",
    )
    baseline = read_queries()
    for index in range(1, 8):
        purpose = make_purpose(brand, f"p-{index}")
        for decision in ("granted", "withdrawn", "granted"):
            api.post(
                URL.format("cust-1"),
                {
                    "purpose": f"p-{index}",
                    "decision": decision,
                    "notice_version": current_version(purpose).public_id,
                },
                format="json",
            )
    assert len(api.get(URL.format("cust-1")).json()["consents"]) == 8
    assert read_queries() == baseline == 1  # the key is cached; the read is one joined SELECT


def test_recording_takes_constant_queries(api, brand, contact, purpose, notice_version):
    grant(api, notice_version)  # warm: last_used_at refreshed
    with CaptureQueriesContext(connection) as first:
        grant(api, notice_version)
    for _ in range(5):
        withdraw(api)
    with CaptureQueriesContext(connection) as later:
        grant(api, notice_version)
    assert len(later.captured_queries) == len(first.captured_queries)
    # Lock-and-look-up, then one statement that writes everything.
    statements = [q for q in later.captured_queries if "SAVEPOINT" not in q["sql"]]  # the test's own
    assert len(statements) == 2


def test_hand_built_replies_match_their_documented_serializers(api, contact, notice_version):
    """The hot endpoints build their JSON by hand; it must equal what the schema's serializers say."""
    from consent.models import ConsentEvent
    from consent.selectors import consents_current
    from consent.serializers import ConsentEventOut, CurrentConsentsOut

    body = {"purpose": "email-marketing", "decision": "granted", "notice_version": notice_version.public_id}
    reply = api.post("/api/v1/contacts/cust-1/consents", body, format="json").json()
    assert reply == ConsentEventOut(ConsentEvent.objects.get()).data
    current = api.get("/api/v1/contacts/cust-1/consents").json()
    documented = CurrentConsentsOut(
        {"contact": "cust-1", "consents": consents_current(brand=contact.brand, external_id="cust-1")}
    ).data
    assert current == json.loads(json.dumps(documented, default=str))
