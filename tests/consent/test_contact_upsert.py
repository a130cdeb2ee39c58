"""consent.services.contact_upsert checks and normalises every field it writes, for every caller;
a refusal names each bad field and writes nothing. One phone rule serves the API, the service
and the hosted page."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from config.errors import Unprocessable
from consent import validators
from consent.identifiers import email_hmac
from consent.models import Contact
from consent.services import contact_upsert
from preferences.forms import PhoneFactForm

ROOT = Path(__file__).resolve().parents[2]
APPS = ("config", "brands", "consent", "preferences", "sync")


def stored(contact_id: int) -> dict:
    return Contact.objects.values(
        "external_id", "email", "email_hmac", "phone", "locale", "timezone", "jurisdiction", "updated_at"
    ).get(pk=contact_id)


def test_fields_are_stored_normalised(brand):
    contact, created = contact_upsert(
        brand=brand,
        external_id="cust-9",
        email="  Grace@Example.COM ",
        phone="+49 (151) 234-567.89",
        locale="de_DE",
        timezone_name="Europe/Berlin",
        jurisdiction="US-CA",
    )
    assert created
    assert {k: v for k, v in stored(contact.pk).items() if k != "updated_at"} == {
        "external_id": "cust-9",
        "email": "grace@example.com",
        "email_hmac": email_hmac("grace@example.com"),
        "phone": "+4915123456789",
        "locale": "de-DE",
        "timezone": "Europe/Berlin",
        "jurisdiction": "US-CA",
    }


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "ada@example.com\x00"}, "email"),
        ({"email": "a" * 250 + "@example.com"}, "email"),
        ({"phone": "12345"}, "phone"),
        ({"phone": "+1 000 000 0000"}, "phone"),
        ({"phone": "4915123456789"}, "phone"),  # no country code
        ({"phone": "+49151\x0023456789"}, "phone"),
        ({"locale": "english please"}, "locale"),
        ({"locale": "de\n"}, "locale"),
        ({"timezone_name": "Mars/Olympus"}, "timezone"),
        ({"timezone_name": "Europe/Berlin\x00"}, "timezone"),
        ({"jurisdiction": "de"}, "jurisdiction"),
        ({"jurisdiction": "DE\n"}, "jurisdiction"),
        ({"jurisdiction": "GERMANY"}, "jurisdiction"),
        ({"external_id": ""}, "external_id"),
        ({"external_id": "cust\x009"}, "external_id"),
        ({"external_id": "x" * 256}, "external_id"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(brand, kwargs, field):
    arguments = {"external_id": "cust-9", **kwargs}
    with pytest.raises(Unprocessable) as caught:
        contact_upsert(brand=brand, **arguments)
    assert list(caught.value.errors) == [field]
    assert caught.value.status == 422
    assert not Contact.objects.exists()


def test_a_refused_change_leaves_the_contact_as_it_was(brand, contact):
    before = stored(contact.pk)
    with pytest.raises(Unprocessable) as caught:
        contact_upsert(
            brand=brand,
            external_id="cust-1",
            email="new@example.com",  # good, but the change is one: nothing of it is written
            phone="12345",
            timezone_name="Mars/Olympus",
        )
    assert caught.value.errors == {
        "phone": [validators.PHONE_MESSAGE],
        "timezone": [validators.TIME_ZONE_MESSAGE],
    }
    assert stored(contact.pk) == before


def test_empty_values_clear_fields(brand, contact):
    contact_upsert(brand=brand, external_id="cust-1", phone="+4915123456789", locale="de")
    contact_upsert(brand=brand, external_id="cust-1", email="", phone=None, locale="")
    row = stored(contact.pk)
    assert (row["email"], row["email_hmac"], row["phone"], row["locale"]) == (None, None, None, "")


def test_the_longest_external_id_the_model_holds_is_accepted(brand):
    external_id = "x" * Contact._meta.get_field("external_id").max_length
    contact, created = contact_upsert(brand=brand, external_id=external_id)
    assert created
    assert contact.external_id == external_id


# --- Through the API: the same 422 problem, naming the field -------------------------------


@pytest.mark.parametrize("external_id", ["cust%009", "x" * 256])
def test_api_refuses_an_external_id_the_model_cannot_hold(api, brand, external_id):
    response = api.put(f"/api/v1/contacts/{external_id}", {"locale": "de"}, format="json")
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["type"], body["status"], list(body["errors"])) == (
        "urn:candor:problem:validation-error",
        422,
        ["external_id"],
    )
    assert not Contact.objects.exists()


def test_api_answers_every_bad_field_at_once(api, brand):
    response = api.put(
        "/api/v1/contacts/cust-9",
        {"email": "nope", "phone": "12345", "locale": "de", "jurisdiction": "de"},
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["errors"] == {
        "email": [validators.EMAIL_MESSAGE],
        "phone": [validators.PHONE_MESSAGE],
        "jurisdiction": [validators.JURISDICTION_MESSAGE],
    }
    assert not Contact.objects.exists()


# --- One phone rule ------------------------------------------------------------------------------

PHONES = [
    ("+49 151 23456789", "+4915123456789"),
    ("+49 (151) 234-567.89", "+4915123456789"),
    ("+1 415 555 2671", "+14155552671"),
    ("12345", None),
    ("0151 23456789", None),
    ("+1 000 000 0000", None),
    ("+49 abc", None),
]


@pytest.mark.parametrize(("raw", "e164"), PHONES)
def test_the_api_the_service_and_the_hosted_form_read_a_phone_number_alike(api, brand, raw, e164):
    form = PhoneFactForm({"value": raw})
    assert form.is_valid() == (e164 is not None)
    if e164 is not None:
        assert form.cleaned_data["value"] == e164

    response = api.put("/api/v1/contacts/cust-9", {"phone": raw}, format="json")
    if e164 is None:
        assert (response.status_code, list(response.json()["errors"])) == (422, ["phone"])
    else:
        assert (response.status_code, response.json()["phone"]) == (201, e164)


def test_phone_numbers_are_parsed_in_one_module():
    """`phonenumbers` is imported by consent.validators alone; everything else asks it."""
    importers = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                names = (
                    [alias.name for alias in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                if any(name.split(".")[0] == "phonenumbers" for name in names):
                    importers.add(path.relative_to(ROOT).as_posix())
    assert importers == {"consent/validators.py"}
