"""A contact id that cannot exist (NUL, longer than Contact.external_id holds) answers 422 on
every route and method that takes one, in the path or in the body, and nothing is written."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from brands.api import MAX_PATH_ID_LENGTH
from brands.models import Brand, Scope
from consent.models import ConsentEvent, Contact
from sync.models import Event
from tests.brands.test_api_routes import ROUTES, view_class

CONTACT_ROUTES = [route for route, _ in ROUTES if "<str:external_id>" in route]
BAD_IDS = {
    "nul": ("cust%001", "external_id must not contain NUL characters."),
    "too-long": ("c" * 256, "external_id must be at most 255 characters."),
}


def operations() -> list[tuple[str, str]]:
    found = []
    for route, pattern in ROUTES:
        if "<str:external_id>" in route:
            found += [(route, method) for method in view_class(pattern).required_scopes]
    return found


def test_the_limit_is_the_models():
    assert Contact._meta.get_field("external_id").max_length == MAX_PATH_ID_LENGTH


@pytest.mark.parametrize("bad", BAD_IDS, ids=list(BAD_IDS))
@pytest.mark.parametrize(("route", "method"), operations(), ids=[f"{m} {r}" for r, m in operations()])
def test_a_path_id_that_cannot_exist_is_422(
    route: str, method: str, bad: str, brand: Brand, contact: Contact, make_client: Callable[..., APIClient]
):
    raw, message = BAD_IDS[bad]
    path = "/" + re.sub(r"<str:external_id>", raw, route)
    client = make_client(brand, [Scope.ADMIN])
    body = "{}" if method in ("POST", "PUT", "PATCH") else ""
    response = client.generic(method, path, data=body, content_type="application/json")
    assert response.status_code == 422, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:candor:problem:validation-error",
        "title": "Validation failed",
        "status": 422,
        "detail": "The path names an id that cannot exist; see errors.",
        "errors": {"external_id": [message]},
    }
    assert list(Contact.objects.values_list("external_id", flat=True)) == ["cust-1"]
    assert not ConsentEvent.objects.exists()
    assert not Event.objects.exists()


def test_a_read_only_key_still_gets_403_first(brand: Brand, make_client: Callable[..., APIClient]):
    """The scope check comes before looking at the id."""
    response = make_client(brand, [Scope.EVENTS_READ]).get("/api/v1/contacts/cust%001/consents")
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("cust\x001", "Null characters are not allowed."),
        ("c" * 256, "Ensure this field has no more than 255 characters."),
    ],
)
def test_a_body_contact_id_that_cannot_exist_is_422(
    value: str, message: str, brand: Brand, contact: Contact, make_client: Callable[..., APIClient], db: Any
):
    client = make_client(brand, [Scope.PREFERENCES_WRITE])
    response = client.patch("/api/v1/contacts/cust-1/preferences", {"contact": value}, format="json")
    assert response.status_code == 422, response.content
    assert response.json()["errors"] == {"contact": [message]}
    assert not ConsentEvent.objects.exists()
    assert not Event.objects.exists()
