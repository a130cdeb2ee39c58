"""GET /api/v1/contacts/{external_id}/traits: the traits whose purpose the contact's consent
covers, and nothing else."""

from __future__ import annotations

import pytest
import time_machine
import yaml

from brands.models import Scope
from consent.models import Contact, Purpose
from consent.services import contact_upsert
from quizzes.models import QuizVersion
from quizzes.statements import answer_correct, answer_delete
from tests.quizzes.told_us_support import T0, T1, complete, decide

pytestmark = pytest.mark.django_db

URL = "/api/v1/contacts/cust-1/traits"


def test_traits_show_only_under_a_purpose_the_contact_consented_to(
    api, live_version: QuizVersion, contact: Contact, personalisation: Purpose
):
    with time_machine.travel(T0, tick=False):
        complete(live_version, contact)
    response = api.get(URL)
    assert (response.status_code, response.json()) == (200, {"contact": "cust-1", "traits": []})

    with time_machine.travel(T1, tick=False):
        decide(contact, personalisation, "granted")
    assert api.get(URL).json() == {
        "contact": "cust-1",
        "traits": [
            {
                "name": "fitness",
                "value": 4,
                "purpose": "personalisation",
                "source": "quiz",
                "recorded_at": "2026-12-01T09:30:00Z",
            },
            {
                "name": "goal",
                "value": "run a marathon",
                "purpose": "personalisation",
                "source": "quiz",
                "recorded_at": "2026-12-01T09:30:00Z",
            },
        ],
    }

    quiz = live_version.quiz.public_id
    with time_machine.travel(T1, tick=False):
        answer_correct(
            brand=contact.brand, contact=contact, quiz_public_id=quiz, question_key="level", value=5
        )
    answer_delete(brand=contact.brand, contact=contact, quiz_public_id=quiz, question_key="goal")
    assert api.get(URL).json()["traits"] == [
        {
            "name": "fitness",
            "value": 5,
            "purpose": "personalisation",
            "source": "preference_centre",
            "recorded_at": "2026-12-03T14:00:00Z",
        }
    ]

    decide(contact, personalisation, "withdrawn")
    assert api.get(URL).json() == {"contact": "cust-1", "traits": []}


def test_traits_are_read_with_consent_read_and_within_the_brand(
    make_client, brand, other_brand, outsider_api, live_version: QuizVersion, contact: Contact
):
    contact_upsert(brand=other_brand, external_id="cust-1")
    assert outsider_api.get(URL).json() == {"contact": "cust-1", "traits": []}  # their own cust-1
    assert outsider_api.get("/api/v1/contacts/cust-9/traits").status_code == 404
    unknown = make_client(brand).get("/api/v1/contacts/nobody/traits")
    assert unknown.status_code == 404
    assert unknown["Content-Type"] == "application/problem+json"
    no_scope = make_client(brand, scopes=[Scope.PREFERENCES_READ]).get(URL)
    assert no_scope.status_code == 403


def test_the_schema_describes_the_traits_read_and_the_new_events(client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    operation = schema["paths"]["/api/v1/contacts/{external_id}/traits"]["get"]
    assert operation["operationId"] == "contact_traits_get"
    assert set(operation["responses"]) == {"200", "400", "401", "403", "404", "422", "429"}
    event = schema["components"]["schemas"]
    types = {value for item in event.values() for value in item.get("enum", [])}
    assert {"traits.updated", "traits.forgotten", "quiz.completed"} <= types
