from __future__ import annotations

import pytest

from consent.identifiers import email_hmac
from consent.models import Contact


def test_put_creates_then_updates(api, brand):
    created = api.put(
        "/api/v1/contacts/cust-9",
        {
            "email": "  Grace@Example.COM ",
            "phone": "+49 151 23456789",
            "locale": "de_DE",
            "timezone": "Europe/Berlin",
            "jurisdiction": "DE",
        },
        format="json",
    )
    assert created.status_code == 201
    body = created.json()
    assert {k: body[k] for k in ("external_id", "email", "phone", "locale", "timezone", "jurisdiction")} == {
        "external_id": "cust-9",
        "email": "grace@example.com",
        "phone": "+4915123456789",
        "locale": "de-DE",
        "timezone": "Europe/Berlin",
        "jurisdiction": "DE",
    }
    contact = Contact.objects.get(brand=brand, external_id="cust-9")
    assert contact.email_hmac == email_hmac("grace@example.com")

    updated = api.put("/api/v1/contacts/cust-9", {"locale": "fr"}, format="json")
    assert updated.status_code == 200
    assert updated.json()["email"] == "grace@example.com"  # omitted fields keep their value
    assert updated.json()["locale"] == "fr"

    cleared = api.put("/api/v1/contacts/cust-9", {"email": None}, format="json")
    assert cleared.json()["email"] is None
    contact.refresh_from_db()
    assert contact.email_hmac is None
    assert api.get("/api/v1/contacts/cust-9").json()["locale"] == "fr"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"phone": "12345"}, "phone"),
        ({"phone": "+1 000 000 0000"}, "phone"),
        ({"locale": "english please"}, "locale"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"jurisdiction": "de"}, "jurisdiction"),
        ({"nickname": "x"}, "nickname"),
    ],
)
def test_invalid_contact_fields_are_422_and_write_nothing(api, brand, body, field):
    response = api.put("/api/v1/contacts/cust-9", body, format="json")
    assert response.status_code == 422
    assert field in response.json()["errors"]
    assert not Contact.objects.filter(external_id="cust-9").exists()


def test_get_unknown_contact_is_404(api, brand):
    response = api.get("/api/v1/contacts/nobody")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
