"""Shared by the Salesforce connector tests: the fake org with one DataUsePurpose and a Candor_Id__c
External ID field on Contact, a JWT bearer app, and how to connect a brand to it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from joserfc.jwk import RSAKey

from brands.models import Brand, Scope
from sync.models import Connector
from tests.fakes.salesforce import FakeSalesforce

CLIENT_ID = "3MVG9.candor.client"
CLIENT_SECRET = "s3cret-client-secret"
JWT_CLIENT = "3MVG9.candor.jwt"
JWT_USER = "integration@acme.example"
CREDENTIALS = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
_KEY = RSAKey.generate_key(2048)
PRIVATE_PEM = _KEY.as_pem(private=True).decode()
PUBLIC_PEM = _KEY.as_pem(private=False)


@pytest.fixture
def sf(settings: Any) -> Iterator[FakeSalesforce]:
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.WEBHOOK_RETRY_DELAYS = [1, 1, 1, 1, 1, 1, 1, 1]
    fake = FakeSalesforce()
    fake.jwt_clients[JWT_CLIENT] = (JWT_USER, PUBLIC_PEM)
    fake.add_custom_field("Contact", "Candor_Id__c")
    fake.dup = fake.insert("DataUsePurpose", Name="Email marketing")  # type: ignore[attr-defined]
    fake.start()
    yield fake
    fake.stop()


def mapping(fake: FakeSalesforce, **overrides: Any) -> dict[str, Any]:
    return {
        "object": "Contact",
        "match_field": "Candor_Id__c",
        "purposes": [
            {"purpose": "email-marketing", "data_use_purpose": fake.dup, "channels": ["email"]}  # type: ignore[attr-defined]
        ],
        "flags": {"HasOptedOutOfEmail": "email"},
        **overrides,
    }


def body(fake: FakeSalesforce, **overrides: Any) -> dict[str, Any]:
    return {
        "vendor": "salesforce",
        "name": "Acme org",
        "credentials": CREDENTIALS,
        "mapping": mapping(fake),
        "api_base_url": fake.base_url,
        **overrides,
    }


def connect(make_client: Any, brand: Brand, fake: FakeSalesforce, **overrides: Any) -> Connector:
    reply = make_client(brand, [Scope.ADMIN]).post(
        "/api/v1/connectors", body(fake, **overrides), format="json"
    )
    assert reply.status_code == 201, reply.content
    return Connector.objects.select_related("endpoint", "brand").get(public_id=reply.json()["id"])


def person(
    fake: FakeSalesforce, external_id: str = "cust-1", email: str = "ada@example.com", **values: Any
) -> str:
    """A Contact the CRM already holds (Candor never creates them)."""
    return fake.insert(
        "Contact", LastName="Lovelace", FirstName="Ada", Email=email, Candor_Id__c=external_id, **values
    )
