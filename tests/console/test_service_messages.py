"""The services' refusals on console forms are shown in the staff member's language, and a
refused form answers htmx with its fragment (400/409, swapped in by the console's htmx config)
and a page load with the whole page, as before."""

from __future__ import annotations

import pytest

from brands.models import Membership
from console.service_messages import translated


@pytest.fixture
def owner(brand, make_staff):
    return make_staff(brand, "owner")


def demote_myself(client, owner, **headers):
    mine = Membership.objects.get(user=owner)
    form = {"action": "change_role", "membership": mine.pk, "role": "viewer"}
    return client.post("/console/acme/members/", form, **headers)


def test_the_last_owner_rule_is_shown_in_german(brand, owner, signed_in):
    response = demote_myself(signed_in(owner), owner, HTTP_ACCEPT_LANGUAGE="de")

    assert response.status_code == 409
    page = response.content.decode()
    assert 'lang="de"' in page
    assert (
        "Eine Marke braucht mindestens eine Inhaberin oder einen Inhaber: "
        "Machen Sie zuerst eine andere Person zur Inhaberin oder zum Inhaber." in page
    )
    assert "A brand needs at least one owner" not in page
    assert Membership.objects.get(user=owner).role == "owner"


def test_the_last_owner_rule_is_shown_in_french(brand, owner, signed_in):
    response = demote_myself(signed_in(owner), owner, HTTP_ACCEPT_LANGUAGE="fr")

    assert response.status_code == 409
    assert "Une marque a besoin d’au moins un propriétaire" in response.content.decode()


def test_an_already_member_refusal_is_shown_in_german_on_its_field(brand, owner, make_staff, signed_in):
    make_staff(brand, "viewer", "taken@acme.test")
    response = signed_in(owner).post(
        "/console/acme/members/",
        {"action": "invite", "email": "taken@acme.test", "role": "support"},
        HTTP_ACCEPT_LANGUAGE="de",
    )

    assert response.status_code == 409
    assert "Diese Person ist bereits Mitglied der Marke." in response.content.decode()


def test_an_unknown_text_is_shown_as_the_service_gave_it():
    assert translated("Something new went wrong.") == "Something new went wrong."


def test_htmx_gets_the_fragment_with_the_error_and_a_page_load_the_whole_page(brand, owner, signed_in):
    client = signed_in(owner)

    fragment = demote_myself(client, owner, HTTP_HX_REQUEST="true")
    whole = demote_myself(client, owner)

    assert fragment.status_code == whole.status_code == 409
    assert fragment.content.decode().lstrip().startswith('<div id="members"')
    assert "A brand needs at least one owner" in fragment.content.decode()
    assert "<html" in whole.content.decode()
    assert "A brand needs at least one owner" in whole.content.decode()


def test_the_console_tells_htmx_to_swap_a_refused_forms_answer(brand, owner, signed_in):
    page = signed_in(owner).get("/console/acme/members/").content.decode()
    assert '{"code": "^(400|409|422)$", "swap": true, "error": false}' in page
