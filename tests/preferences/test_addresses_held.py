"""The connectors' question "does a live contact of this brand still give this address?"
(sync.outbox.contact_state.addresses_held, answered by preferences.connector_state)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from brands.models import Brand
from consent.erasure import contact_erase
from consent.services import contact_upsert
from sync.outbox.contact_state import address_holders, addresses_held

pytestmark = pytest.mark.django_db


def test_only_live_contacts_of_the_brand_hold_an_address(brand):
    other = Brand.objects.create(slug="other", name="Other")
    contact_upsert(brand=brand, external_id="a", email="Ada@Example.com", phone="+14155550100")
    contact_upsert(brand=other, external_id="b", email="bob@example.com", phone="+14155550101")
    gone, _ = contact_upsert(brand=brand, external_id="c", email="cy@example.com", phone="+14155550102")
    contact_erase(brand=brand, contact=gone, requested_via="api")

    with CaptureQueriesContext(connection) as queries:
        held = addresses_held(
            brand_id=brand.pk,
            emails=["ada@example.com", "bob@example.com", "cy@example.com", "nobody@example.com"],
            phones=["+14155550100", "+14155550101", "+14155550102"],
        )

    assert held == {"ada@example.com", "+14155550100"}
    assert len(queries) == 1
    assert "ada@example.com" not in queries[0]["sql"]  # matched through the HMAC


def test_the_holders_of_an_address_are_its_live_contacts_in_order(brand):
    first, _ = contact_upsert(brand=brand, external_id="a", email="ada@example.com", phone="+14155550100")
    gone, _ = contact_upsert(brand=brand, external_id="b", email="ADA@example.com")
    second, _ = contact_upsert(brand=brand, external_id="c", email="ada@example.com", phone="+14155550100")
    contact_erase(brand=brand, contact=gone, requested_via="api")

    with CaptureQueriesContext(connection) as queries:
        holders = address_holders(
            brand_id=brand.pk, emails=["ada@example.com", "nobody@example.com"], phones=["+14155550100"]
        )

    assert holders == {"ada@example.com": [first.pk, second.pk], "+14155550100": [first.pk, second.pk]}
    assert len(queries) == 1


def test_nothing_asked_nothing_read(brand):
    with CaptureQueriesContext(connection) as queries:
        assert addresses_held(brand_id=brand.pk, emails=[], phones=[]) == set()
        assert address_holders(brand_id=brand.pk, emails=[], phones=[]) == {}
    assert queries.captured_queries == []
