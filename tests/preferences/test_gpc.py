"""Global Privacy Control: `Sec-GPC: 1`, exactly, withdraws the brand's sale/sharing purposes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.test.utils import CaptureQueriesContext

from config.env import env_date
from consent.models import ConsentEvidence, ConsentState, DpvPurpose
from consent.services import consent_record
from preferences.gpc import gpc_honour, gpc_signal, gpc_well_known
from preferences.models import Subscription
from preferences.selectors import preferences_snapshot
from tests.conftest import current_version
from tests.preferences.conftest import change_rows, ledger, outbox

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
META = {"HTTP_SEC_GPC": "1", "REMOTE_ADDR": "203.0.113.77", "HTTP_USER_AGENT": "Firefox/140 (GPC on)"}


@pytest.fixture
def sharing(brand, make_purpose):
    """Audiences shared with ad platforms: 'sharing' under the CPRA."""
    return make_purpose(
        brand, "ad-audiences", sale_or_sharing=True, dpv_purpose=DpvPurpose.PERSONALISED_ADVERTISING
    )


@pytest.fixture
def data_sale(brand, make_purpose):
    return make_purpose(brand, "partner-sale", sale_or_sharing=True)


def record(brand, purpose, decision, **extra):
    return consent_record(
        brand=brand,
        external_id="cust-1",
        purpose_slug=purpose.slug,
        decision=decision,
        notice_version_id=current_version(purpose).public_id if decision == "granted" else None,
        method="api",
        recorded_by="test",
        **extra,
    )


def test_gpc_withdraws_granted_and_undecided_sale_or_sharing_purposes(
    brand, contact, purpose, notice_version, sharing, data_sale, make_purpose
):
    """email-marketing is not sale/sharing and stays granted; ad-audiences (granted) and
    partner-sale (never decided) are withdrawn, with method gpc and gpc=true as evidence."""
    already_out = make_purpose(brand, "broker-share", sale_or_sharing=True)
    with time_machine.travel(NOW, tick=False):
        record(brand, purpose, "granted")
        record(brand, sharing, "granted")
        record(brand, already_out, "withdrawn")
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        events = gpc_honour(brand=brand, contact=contact, request_meta=META)

    assert ledger(contact) == [
        (1, "email-marketing", "granted", "api", notice_version.public_id),
        (2, "ad-audiences", "granted", "api", current_version(sharing).public_id),
        (3, "broker-share", "withdrawn", "api", None),
        (4, "ad-audiences", "withdrawn", "gpc", None),
        (5, "partner-sale", "withdrawn", "gpc", None),
    ]
    assert [event.sequence for event in events] == [4, 5]
    assert {(e.recorded_by, e.actor, e.occurred_at) for e in events} == {
        ("gpc", "subject", NOW + timedelta(hours=1))
    }
    assert (
        list(
            ConsentEvidence.objects.filter(event__in=events)
            .order_by("event__sequence")
            .values_list("gpc", "ip", "user_agent", "page_url")
        )
        == [(True, "203.0.113.0", "Firefox/140 (GPC on)", "")] * 2
    )
    assert dict(ConsentState.objects.filter(contact=contact).values_list("purpose__slug", "decision")) == {
        "email-marketing": "granted",
        "ad-audiences": "withdrawn",
        "partner-sale": "withdrawn",
        "broker-share": "withdrawn",
    }
    assert [(seq, kind, data["purpose"]) for seq, kind, data in outbox(contact)[-2:]] == [
        (4, "consent.withdrawn", "ad-audiences"),
        (5, "consent.withdrawn", "partner-sale"),
    ]


def test_a_second_request_with_gpc_records_nothing_and_costs_one_query(brand, contact, sharing):
    gpc_honour(brand=brand, contact=contact, request_meta=META)
    before = (ledger(contact), outbox(contact))

    with CaptureQueriesContext(connection) as ctx:
        assert gpc_honour(brand=brand, contact=contact, request_meta=META) == []

    assert len(ctx.captured_queries) == 1
    assert (ledger(contact), outbox(contact)) == before


@pytest.mark.parametrize("value", ["1 ", " 1", "true", "yes", "0", "", "01", "1,1"])
def test_any_other_header_value_is_no_signal(brand, contact, sharing, value):
    meta = {**META, "HTTP_SEC_GPC": value}
    assert gpc_signal(meta) is False
    with CaptureQueriesContext(connection) as ctx:
        assert gpc_honour(brand=brand, contact=contact, request_meta=meta) == []
    assert len(ctx.captured_queries) == 0
    assert ledger(contact) == []


def test_a_later_request_without_the_header_changes_nothing(brand, contact, sharing):
    gpc_honour(brand=brand, contact=contact, request_meta=META)
    before = ledger(contact)
    without = {key: value for key, value in META.items() if key != "HTTP_SEC_GPC"}

    assert gpc_honour(brand=brand, contact=contact, request_meta=without) == []
    assert ledger(contact) == before  # an absent signal is never an opt-in
    assert ConsentState.objects.get(contact=contact, purpose=sharing).decision == "withdrawn"


def test_a_brand_without_sale_or_sharing_purposes_records_nothing(brand, contact, purpose, notice_version):
    record(brand, purpose, "granted")
    assert gpc_honour(brand=brand, contact=contact, request_meta=META) == []
    assert [row[2] for row in ledger(contact)] == ["granted"]


def test_only_the_brands_own_purposes_are_touched(brand, other_brand, contact, make_purpose):
    make_purpose(other_brand, "ad-audiences", sale_or_sharing=True)
    assert gpc_honour(brand=brand, contact=contact, request_meta=META) == []
    assert ledger(contact) == []


def test_topics_of_a_withdrawn_purpose_read_unsubscribed_and_say_so(brand, contact, sharing, make_topic):
    from preferences.services import preferences_update

    make_topic(brand, "partner-offers", sharing, channels=["email"])
    with time_machine.travel(NOW, tick=False):
        preferences_update(
            brand=brand,
            external_id="cust-1",
            method="api",
            recorded_by="test",
            subscriptions=change_rows(("partner-offers", "email", current_version(sharing).public_id)),
        )
    with time_machine.travel(NOW + timedelta(minutes=5), tick=False):
        gpc_honour(brand=brand, contact=contact, request_meta=META)

    snapshot = preferences_snapshot(contact=contact)
    topic = snapshot.topics[0]
    assert snapshot.status(topic, "email") == "unsubscribed"
    assert Subscription.objects.get().status == "subscribed"  # the choice stays; the ledger ends it
    assert [(kind, data.get("subscriptions")) for _, kind, data in outbox(contact)[-2:]] == [
        ("consent.withdrawn", None),
        (
            "preferences.updated",
            [
                {
                    "topic": "partner-offers",
                    "channel": "email",
                    "status": "unsubscribed",
                    "cadence": "immediate",
                }
            ],
        ),
    ]


def test_well_known_gpc_json(settings):
    settings.GPC_LAST_UPDATE = "2026-11-23"
    assert gpc_well_known() == {"gpc": True, "lastUpdate": "2026-11-23"}


@pytest.mark.parametrize("raw", ["23.11.2026", "2026-02-30", "20261123", "soon"])
def test_gpc_last_update_must_be_a_real_date(monkeypatch, raw):
    monkeypatch.setenv("GPC_LAST_UPDATE", raw)
    with pytest.raises(ImproperlyConfigured):
        env_date("GPC_LAST_UPDATE", "2026-11-23")
    monkeypatch.setenv("GPC_LAST_UPDATE", "2026-01-31")
    assert env_date("GPC_LAST_UPDATE", "2026-11-23") == "2026-01-31"
