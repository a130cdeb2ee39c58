"""Quiz tokens: minted through POST /api/v1/contacts/{external_id}/quiz-tokens, read back by
quizzes.tokens.quiz_token_read for the brand and contact they name, and refused (None) when
expired, of another brand, of another kind, tampered, for another quiz, or for an erased contact.
The token never reaches a log line."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core import signing
from django.utils import timezone
from rest_framework.test import APIClient

from brands.models import Brand, Scope
from consent.models import Contact
from consent.services import contact_upsert
from preferences.tokens import LinkKind, token_issue
from quizzes.models import Quiz
from quizzes.services import quiz_create
from quizzes.tokens import quiz_token_issue, quiz_token_read
from tests.actors import TEST_ACTOR

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture
def writer(brand: Brand, make_client: Any) -> APIClient:
    return make_client(brand, [Scope.CONSENT_WRITE])


def mint(client: APIClient, external_id: str = "cust-1", body: Any = None, **headers: str) -> Any:
    data = json.dumps(body) if body is not None else ""
    return client.post(
        f"/api/v1/contacts/{external_id}/quiz-tokens", data=data, content_type="application/json", **headers
    )


@time_machine.travel(NOW, tick=False)
def test_a_minted_token_names_the_contact_for_its_brand_and_expires_in_thirty_minutes(
    writer: APIClient, brand: Brand, contact: Contact
):
    response = mint(writer)
    assert response.status_code == 201, response.content
    body = response.json()
    assert sorted(body) == ["expires_at", "token"]
    assert body["expires_at"] == "2026-11-22T10:30:00Z"
    assert quiz_token_read(body["token"], brand) == contact
    assert quiz_token_read(body["token"], brand, now=NOW + timedelta(minutes=30)) == contact
    assert quiz_token_read(body["token"], brand, now=NOW + timedelta(minutes=30, seconds=1)) is None


def test_the_lifetime_is_the_setting(brand: Brand, contact: Contact, settings: Any):
    settings.QUIZ_TOKEN_SECONDS = 120
    issued = quiz_token_issue(brand=brand, contact=contact, now=NOW)
    assert issued.expires_at == NOW + timedelta(seconds=120)
    assert quiz_token_read(issued.token, brand, now=NOW + timedelta(seconds=120)) == contact
    assert quiz_token_read(issued.token, brand, now=NOW + timedelta(seconds=121)) is None


def test_a_token_for_one_quiz_works_for_that_quiz_alone(
    writer: APIClient, brand: Brand, contact: Contact, quiz: Quiz, quiz_document: dict[str, Any]
):
    other = quiz_create(brand=brand, actor=TEST_ACTOR, document=quiz_document)
    token = mint(writer, body={"quiz": quiz.public_id}).json()["token"]
    assert quiz_token_read(token, brand, quiz=quiz) == contact
    assert quiz_token_read(token, brand, quiz=other) is None
    assert quiz_token_read(token, brand) is None  # a reader that does not say which quiz
    # A token for no quiz in particular works for any of the brand's quizzes.
    anywhere = mint(writer).json()["token"]
    assert quiz_token_read(anywhere, brand, quiz=other) == contact


def test_refusals_are_none(brand: Brand, other_brand: Brand, contact: Contact):
    token = quiz_token_issue(brand=brand, contact=contact).token
    payload, issued, mac = token.split(".")
    outsider, _ = contact_upsert(brand=other_brand, external_id="cust-1")
    refused = {
        "another brand": quiz_token_read(token, other_brand),
        "another brand's own token": quiz_token_read(
            quiz_token_issue(brand=other_brand, contact=outsider).token, brand
        ),
        "a manage link token": quiz_token_read(
            token_issue(kind=LinkKind.MANAGE, brand=brand, contact=contact), brand
        ),
        "same payload, another salt": quiz_token_read(
            signing.TimestampSigner(salt="candor.link.manage", sep=".").sign_object([brand.pk, contact.pk]),
            brand,
        ),
        "tampered payload": quiz_token_read(
            f"{payload[:-1]}{'A' if payload[-1] != 'A' else 'B'}.{issued}.{mac}", brand
        ),
        "tampered time": quiz_token_read(
            f"{payload}.{issued[:-1]}{'0' if issued[-1] != '0' else '1'}.{mac}", brand
        ),
        "tampered mac": quiz_token_read(
            f"{payload}.{issued}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}", brand
        ),
        "empty": quiz_token_read("", brand),
        "not ascii": quiz_token_read(token + "é", brand),
        "too long": quiz_token_read(token + "x" * 200, brand),
        "no separators": quiz_token_read("garbage", brand),
        "issued in the future": quiz_token_read(
            quiz_token_issue(brand=brand, contact=contact, now=timezone.now() + timedelta(hours=1)).token,
            brand,
        ),
    }
    assert refused == dict.fromkeys(refused, None)
    assert quiz_token_read(token, brand) == contact


def test_an_erased_contact_has_no_token_and_its_earlier_tokens_stop_working(
    writer: APIClient, brand: Brand, contact: Contact
):
    token = quiz_token_issue(brand=brand, contact=contact).token
    Contact.objects.filter(pk=contact.pk).update(erased_at=timezone.now())
    assert quiz_token_read(token, brand) is None
    response = mint(writer)
    assert (response.status_code, response.json()["detail"]) == (409, "Contact 'cust-1' was erased.")


def test_refusals_of_the_endpoint(writer: APIClient, brand: Brand, contact: Contact, other_brand: Brand):
    unknown = mint(writer, "nobody")
    assert (unknown.status_code, unknown.json()["detail"]) == (404, "No contact 'nobody'.")
    other_quiz = quiz_create(
        brand=other_brand,
        actor=TEST_ACTOR,
        document={
            "format": 1,
            "language": "en",
            "title": {"en": "Theirs"},
            "questions": [{"id": "q", "type": "text", "purpose": "p", "text": {"en": "?"}}],
        },
    )
    theirs = mint(writer, body={"quiz": other_quiz.public_id})
    assert (theirs.status_code, theirs.json()["errors"]) == (422, {"quiz": ["The brand has no such quiz."]})
    typo = mint(writer, body={"quizz": "qz_x"})
    assert (typo.status_code, typo.json()["errors"]) == (422, {"quizz": ["Unknown field."]})
    for not_object in (["qz_x"], [], "qz_x"):
        response = mint(writer, body=not_object)
        assert (response.status_code, response.json()["detail"]) == (
            400,
            "The request body must be a JSON object.",
        ), not_object


def test_minting_needs_consent_write(brand: Brand, contact: Contact, make_client: Any):
    for scopes in ([Scope.EVENTS_READ], [Scope.CONSENT_READ], [Scope.PREFERENCES_WRITE]):
        response = mint(make_client(brand, scopes))
        assert response.status_code == 403, scopes
        assert response.json()["detail"] == "This API key needs the scope(s) consent:write."
    assert mint(make_client(brand, [Scope.ADMIN])).status_code == 201


def test_the_token_never_reaches_a_log_line(
    writer: APIClient, contact: Contact, caplog: pytest.LogCaptureFixture, brand: Brand
):
    from config.logfilters import redact

    caplog.set_level(logging.DEBUG)
    token = mint(writer).json()["token"]
    mint(writer, "nobody")  # a refusal is logged (django.request): it names no token either
    assert token not in caplog.text
    # Should one ever be logged by mistake, the formatter's redaction catches it.
    assert token not in redact(f"GET /q/embed?token={token}")
    assert quiz_token_read(token, brand) == contact
