"""The drift reconciler against each vendor's fake (Klaviyo's is tests/connectors/test_reconcile.py):
a "no" given inside the vendor is recorded in Candor's ledger with the vendor as its source, and a
"subscribed" the vendor holds with no consent behind it in Candor is turned off in the vendor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from consent.models import ConsentEvent
from consent.services import contact_upsert
from sync.delivery.fanout import endpoint_fanout
from sync.models import Connector, Event, EventType
from tests.connectors import test_hubspot_connector as hubspot
from tests.connectors import test_mailchimp_connector as mailchimp
from tests.connectors.salesforce_support import connect as salesforce_connect
from tests.connectors.salesforce_support import person, sf
from tests.connectors.support import drain, grant
from tests.connectors.test_reconcile import run_now, runs_published
from tests.fakes.hubspot import FakeHubSpot
from tests.fakes.mailchimp import FakeMailchimp
from tests.sync.webhook_support import published

__all__ = ["published", "runs_published", "sf"]

pytestmark = pytest.mark.django_db(transaction=True)

ADA, BEA = "ada@example.com", "bea@example.com"


def two_people(brand: Any, purpose: Any, grant: Any, connector: Connector) -> tuple[Any, Any]:
    """Ada consents (and is pushed to the vendor); Bea is known to Candor with no consent."""
    ada, _ = contact_upsert(brand=brand, external_id="cust-ada", email=ADA)
    bea, _ = contact_upsert(brand=brand, external_id="cust-bea", email=BEA)
    grant(brand, purpose, "cust-ada")
    endpoint_fanout(endpoint_id=connector.endpoint_id)
    drain(connector.endpoint)
    return ada, bea


def assert_repaired(run: Any, connector: Connector, ada: Any, purpose: Any, vendor: str) -> None:
    assert run.status == "succeeded"
    assert run.drift["vendor_unsubscribed_candor_subscribed"] == 1
    assert run.drift["vendor_subscribed_without_consent"] == 1
    assert run.repaired == run.drift
    [row] = ConsentEvent.objects.filter(contact=ada, decision="withdrawn")
    assert (row.purpose_id, row.method, row.recorded_by) == (
        purpose.pk,
        "connector",
        f"connector:{connector.public_id}",
    )
    assert row.evidence.message["vendor"] == vendor
    assert row.evidence.message["event_id"].startswith(f"reconcile:{run.public_id}:{ada.pk}:")
    [event] = Event.objects.filter(type=EventType.CONNECTOR_DRIFT_REPAIRED)
    assert event.data["vendor"] == vendor
    assert event.data["repaired"] == {
        "vendor_subscribed_without_consent": 1,
        "vendor_unsubscribed_candor_subscribed": 1,
        "unknown_in_vendor": 0,
    }


@pytest.fixture
def hubspot_fake(settings: Any) -> Iterator[FakeHubSpot]:
    settings.WEBHOOK_ALLOW_PRIVATE = True
    fake = FakeHubSpot()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def mailchimp_fake(settings: Any) -> Iterator[FakeMailchimp]:
    settings.WEBHOOK_ALLOW_PRIVATE = True
    fake = FakeMailchimp()
    fake.start()
    yield fake
    fake.stop()


def test_hubspot_drift_is_repaired_by_the_rule(
    brand, purpose, make_client, hubspot_fake, published, runs_published
):
    fake = hubspot_fake
    connector = hubspot.connect(make_client(brand, ["admin"]), fake)
    ada, _bea = two_people(brand, purpose, grant, connector)
    assert fake.status(ADA, "101") == "SUBSCRIBED"
    fake.set_status(ADA, "101", "UNSUBSCRIBED")  # Ada unsubscribes inside HubSpot
    fake.set_status(BEA, "101", "SUBSCRIBED")  # an import subscribes Bea, who never consented

    run = run_now(connector)

    assert_repaired(run, connector, ada, purpose, "hubspot")
    assert fake.status(BEA, "101") == "UNSUBSCRIBED"  # turned off
    assert fake.status(ADA, "101") == "UNSUBSCRIBED"  # and Ada's "no" stands


def test_mailchimp_drift_is_repaired_by_the_rule(
    brand, purpose, make_client, mailchimp_fake, published, runs_published
):
    fake = mailchimp_fake
    connector = mailchimp.connect(make_client(brand, ["admin"]), fake)
    ada, _bea = two_people(brand, purpose, grant, connector)
    assert fake.member(mailchimp.LIST, ADA).status == "subscribed"
    fake.person_unsubscribes(mailchimp.LIST, ADA)  # Ada unsubscribes inside Mailchimp
    fake.put(mailchimp.LIST, BEA, "subscribed")  # an import subscribes Bea, who never consented

    run = run_now(connector)

    assert_repaired(run, connector, ada, purpose, "mailchimp")
    assert fake.member(mailchimp.LIST, BEA).status == "unsubscribed"
    assert fake.member(mailchimp.LIST, ADA).status == "unsubscribed"


def test_salesforce_drift_is_repaired_by_the_rule(brand, purpose, make_client, sf, published, runs_published):
    person(sf, external_id="cust-ada", email=ADA)
    bea_record = person(sf, external_id="cust-bea", email=BEA)
    # The org holds Bea as opted in (an import), with no Candor consent behind it.
    party = sf.insert("Individual", LastName="Bea")
    sf.edit("Contact", bea_record, IndividualId=party)
    bea_optin = sf.insert(
        "ContactPointTypeConsent",
        Name="Imported",
        PartyId=party,
        DataUsePurposeId=sf.dup,
        ContactPointType="Email",
        PrivacyConsentStatus="OptIn",
    )
    connector = salesforce_connect(make_client, brand, sf)
    ada, _bea = two_people(brand, purpose, grant, connector)
    [ada_consent] = [
        row for row in sf.find("ContactPointTypeConsent", DataUsePurposeId=sf.dup) if row["Id"] != bea_optin
    ]
    assert ada_consent["PrivacyConsentStatus"] == "OptIn"
    sf.edit("ContactPointTypeConsent", ada_consent["Id"], PrivacyConsentStatus="OptOut")  # Ada says no there

    run = run_now(connector)

    assert_repaired(run, connector, ada, purpose, "salesforce")
    assert sf.find("ContactPointTypeConsent", Id=bea_optin)[0]["PrivacyConsentStatus"] == "OptOut"
    assert sf.find("ContactPointTypeConsent", Id=ada_consent["Id"])[0]["PrivacyConsentStatus"] == "OptOut"
