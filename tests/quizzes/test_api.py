"""The quizzes' API: list, create, read and replace a draft (ETag, If-Match), see what stops
publishing, publish, archive, the JSON Schema; every refusal exact, every change audited, another
brand's quiz not found anywhere, and no quiz endpoint for a key without `admin`."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from brands.models import Brand, Scope
from quizzes.api import document_etag
from quizzes.document import schema
from quizzes.models import Quiz, QuizStatus, QuizVersion
from quizzes.services import _fingerprint, quiz_archive, quiz_create, quiz_publish
from tests.actors import TEST_ACTOR, audit_mark, audit_rows

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


@pytest.fixture
def admin(brand: Brand, make_client: Callable[..., APIClient]) -> APIClient:
    return make_client(brand, [Scope.ADMIN])


def put(client: APIClient, path: str, body: Any, **headers: str) -> Any:
    return client.put(path, data=json.dumps(body), content_type="application/json", **headers)


def post(client: APIClient, path: str, body: Any = None, **headers: str) -> Any:
    data = json.dumps(body) if body is not None else ""
    return client.post(path, data=data, content_type="application/json", **headers)


def actor(client: APIClient) -> tuple[str, str]:
    return ("api_key", client.api_key.prefix)  # type: ignore[attr-defined]


def summary(quiz: Quiz) -> dict[str, Any]:
    quiz.refresh_from_db()
    return {
        "public_id": quiz.public_id,
        "title": quiz.title,
        "status": quiz.status,
        "version": quiz.live_version.number if quiz.live_version else None,
        "draft_updated_at": quiz.draft_updated_at.isoformat().replace("+00:00", "Z"),
    }


# --- Create and list -------------------------------------------------------------------------


def test_create_answers_201_with_location_etag_and_the_summary_and_audits_it(
    admin: APIClient, brand: Brand, quiz_document: dict[str, Any]
):
    mark = audit_mark()
    response = post(admin, "/api/v1/quizzes", quiz_document)
    assert response.status_code == 201, response.content
    quiz = Quiz.objects.get(brand=brand)
    assert response["Location"] == f"/api/v1/quizzes/{quiz.public_id}"
    assert response["ETag"] == document_etag(quiz_document)
    assert response.json() == summary(quiz)
    assert response.json()["status"] == "draft"
    assert response.json()["version"] is None
    assert quiz.draft == quiz_document
    assert audit_rows(brand, since_id=mark) == [
        (
            *actor(admin),
            "quiz.created",
            "quiz",
            quiz.public_id,
            None,
            {"title": "Find your plan", "draft": _fingerprint(quiz_document)},
            "",
        )
    ]


def test_create_in_the_wrong_shape_is_422_keyed_by_json_pointer_and_writes_nothing(
    admin: APIClient, brand: Brand, quiz_document: dict[str, Any]
):
    wrong = copy.deepcopy(quiz_document)
    wrong["format"] = 2
    del wrong["title"]
    mark = audit_mark()
    response = post(admin, "/api/v1/quizzes", wrong)
    assert response.status_code == 422
    assert response["Content-Type"] == PROBLEM
    assert response.json() == {
        "type": "urn:candor:problem:validation-error",
        "title": "Validation failed",
        "status": 422,
        "detail": "The quiz document does not match its schema (quiz-1.schema.json).",
        "errors": {
            "/": ["'title' is a required property"],
            "/format": ["1 was expected"],
        },
    }
    assert not Quiz.objects.exists()
    assert audit_rows(brand, since_id=mark) == []


def test_a_body_that_is_not_an_object_is_400(admin: APIClient, quiz: Quiz):
    for path, send in (("/api/v1/quizzes", post), (f"/api/v1/quizzes/{quiz.public_id}", put)):
        response = send(admin, path, [1, 2])
        assert response.status_code == 400, path
        assert response.json()["detail"] == "The request body must be a JSON object: the quiz document."


def test_the_list_pages_the_brands_quizzes_oldest_first(
    admin: APIClient,
    brand: Brand,
    other_brand: Brand,
    quiz_document: dict[str, Any],
    live_version: QuizVersion,
):
    first = live_version.quiz
    second = quiz_create(brand=brand, actor=TEST_ACTOR, document=quiz_document)
    third = quiz_create(brand=brand, actor=TEST_ACTOR, document=quiz_document)
    quiz_archive(quiz=third, actor=TEST_ACTOR)
    response = admin.get("/api/v1/quizzes?limit=2")
    assert response.status_code == 200
    body = response.json()
    assert body["quizzes"] == [summary(first), summary(second)]
    assert body["quizzes"][0]["status"] == "published"
    assert body["quizzes"][0]["version"] == 1
    rest = admin.get(f"/api/v1/quizzes?limit=2&cursor={body['next_cursor']}").json()
    assert rest == {"quizzes": [summary(third)], "next_cursor": None}
    assert rest["quizzes"][0]["status"] == "archived"


def test_the_list_refuses_a_bad_cursor_and_limit(admin: APIClient):
    assert admin.get("/api/v1/quizzes?cursor=nope").json()["errors"] == {
        "cursor": ["This cursor is not one this API issued."]
    }
    assert admin.get("/api/v1/quizzes?limit=0").json()["errors"] == {
        "limit": ["limit must be between 1 and 500."]
    }


# --- Read, ETag, If-Match ------------------------------------------------------------------


def test_get_answers_the_draft_exactly_with_its_etag(
    admin: APIClient, quiz: Quiz, quiz_document: dict[str, Any]
):
    response = admin.get(f"/api/v1/quizzes/{quiz.public_id}")
    assert response.status_code == 200
    assert response.json() == quiz_document
    assert response["ETag"] == document_etag(quiz_document)
    assert response["ETag"].startswith('"')
    assert len(response["ETag"]) == 34


def test_get_with_version_answers_the_frozen_document_and_404_for_a_version_that_does_not_exist(
    admin: APIClient, live_version: QuizVersion, quiz_document: dict[str, Any]
):
    quiz = live_version.quiz
    edited = copy.deepcopy(quiz_document)
    edited["title"]["en"] = "Your running plan"
    assert put(admin, f"/api/v1/quizzes/{quiz.public_id}", edited).status_code == 200
    assert admin.get(f"/api/v1/quizzes/{quiz.public_id}").json() == edited
    frozen = admin.get(f"/api/v1/quizzes/{quiz.public_id}?version=1")
    assert (frozen.status_code, frozen.json(), frozen["ETag"]) == (
        200,
        quiz_document,
        document_etag(quiz_document),
    )
    missing = admin.get(f"/api/v1/quizzes/{quiz.public_id}?version=2")
    assert (missing.status_code, missing.json()["detail"]) == (
        404,
        f"The quiz '{quiz.public_id}' has no version 2.",
    )
    for bad in ("0", "x", "-1", "1.0", str(2**31)):
        refused = admin.get(f"/api/v1/quizzes/{quiz.public_id}?version={bad}")
        assert refused.status_code == 422, bad
        assert refused.json()["errors"] == {
            "version": ["version must be a published version's number (1, 2, …)."]
        }


def test_put_replaces_the_draft_answers_the_new_etag_and_audits_it(
    admin: APIClient, brand: Brand, quiz: Quiz, quiz_document: dict[str, Any]
):
    edited = copy.deepcopy(quiz_document)
    edited["title"]["en"] = "Your running plan"
    mark = audit_mark()
    response = put(
        admin, f"/api/v1/quizzes/{quiz.public_id}", edited, HTTP_IF_MATCH=document_etag(quiz_document)
    )
    assert response.status_code == 200, response.content
    assert response["ETag"] == document_etag(edited)
    assert response.json() == summary(quiz)
    assert response.json()["title"] == "Your running plan"
    assert admin.get(f"/api/v1/quizzes/{quiz.public_id}").json() == edited
    assert audit_rows(brand, since_id=mark) == [
        (
            *actor(admin),
            "quiz.draft_saved",
            "quiz",
            quiz.public_id,
            {"title": "Find your plan", "draft": _fingerprint(quiz_document)},
            {"title": "Your running plan", "draft": _fingerprint(edited)},
            "",
        )
    ]
    # The same document again: nothing changes, nothing is audited.
    again = put(admin, f"/api/v1/quizzes/{quiz.public_id}", edited, HTTP_IF_MATCH=response["ETag"])
    assert again.status_code == 200
    assert len(audit_rows(brand, since_id=mark)) == 1


def test_put_with_a_stale_if_match_is_412_and_changes_nothing(
    admin: APIClient, brand: Brand, quiz: Quiz, quiz_document: dict[str, Any]
):
    stale = document_etag(quiz_document)
    edited = copy.deepcopy(quiz_document)
    edited["title"]["en"] = "First edit"
    assert put(admin, f"/api/v1/quizzes/{quiz.public_id}", edited, HTTP_IF_MATCH=stale).status_code == 200
    mark = audit_mark()
    second = copy.deepcopy(quiz_document)
    second["title"]["en"] = "Second edit, from the old copy"
    for if_match in (stale, f"W/{document_etag(edited)}", '"nope"'):
        response = put(admin, f"/api/v1/quizzes/{quiz.public_id}", second, HTTP_IF_MATCH=if_match)
        assert response.status_code == 412, if_match
        assert response["Content-Type"] == PROBLEM
        assert response.json() == {
            "type": "urn:candor:problem:precondition-failed",
            "title": "Precondition failed",
            "status": 412,
            "detail": "The draft has changed since that ETag; read it again and reapply your edit.",
        }
    quiz.refresh_from_db()
    assert quiz.draft == edited
    assert audit_rows(brand, since_id=mark) == []
    # A list holding the current tag, or `*`, matches.
    for if_match in (f'"other", {document_etag(edited)}', "*"):
        assert (
            put(admin, f"/api/v1/quizzes/{quiz.public_id}", second, HTTP_IF_MATCH=if_match).status_code == 200
        )


def test_put_in_the_wrong_shape_is_422_by_pointer_and_keeps_the_draft(
    admin: APIClient, quiz: Quiz, quiz_document: dict[str, Any]
):
    wrong = copy.deepcopy(quiz_document)
    wrong["questions"][0]["options"][1]["effects"]["scores"]["starter"] = 1000
    wrong["rules"][0]["when"] = {}
    response = put(admin, f"/api/v1/quizzes/{quiz.public_id}", wrong)
    assert response.status_code == 422
    assert response.json()["errors"] == {
        "/questions/0/options/1/effects/scores/starter": ["1000 is greater than the maximum of 100"],
        "/rules/0/when": ["{} should be non-empty"],
    }
    quiz.refresh_from_db()
    assert quiz.draft == quiz_document


def test_an_archived_quiz_cannot_be_replaced_409(admin: APIClient, quiz: Quiz, quiz_document: dict[str, Any]):
    quiz_archive(quiz=quiz, actor=TEST_ACTOR)
    edited = copy.deepcopy(quiz_document)
    edited["title"]["en"] = "Too late"
    response = put(admin, f"/api/v1/quizzes/{quiz.public_id}", edited)
    assert (response.status_code, response.json()["detail"]) == (
        409,
        "This quiz is archived; it can no longer be edited.",
    )


# --- Problems, publish, archive ------------------------------------------------------------


def test_problems_lists_every_pointer_and_message_and_publish_refuses_with_the_same(
    admin: APIClient, brand: Brand, quiz: Quiz, quiz_document: dict[str, Any]
):
    broken = copy.deepcopy(quiz_document)
    broken["rules"].append({"from": "news", "to": "goal"})  # back to the start: a loop
    broken["questions"][0]["purpose"] = "no-such-purpose"
    assert put(admin, f"/api/v1/quizzes/{quiz.public_id}", broken).status_code == 200
    response = admin.get(f"/api/v1/quizzes/{quiz.public_id}/problems")
    assert response.status_code == 200
    assert response.json() == {
        "quiz": quiz.public_id,
        "publishable": False,
        "problems": [
            {"pointer": "/questions/0", "message": "The branches loop back to 'goal'."},
            {"pointer": "/questions/0", "message": "From 'goal' no path reaches the end."},
            {"pointer": "/questions/1", "message": "From 'level' no path reaches the end."},
            {"pointer": "/questions/2", "message": "From 'kit' no path reaches the end."},
            {"pointer": "/questions/3", "message": "From 'news' no path reaches the end."},
        ],
    }
    mark = audit_mark()
    refused = post(admin, f"/api/v1/quizzes/{quiz.public_id}/publish")
    assert refused.status_code == 422
    assert refused.json() == {
        "type": "urn:candor:problem:validation-error",
        "title": "Validation failed",
        "status": 422,
        "detail": "The quiz cannot be published yet.",
        "errors": {
            "/questions/0": ["The branches loop back to 'goal'.", "From 'goal' no path reaches the end."],
            "/questions/1": ["From 'level' no path reaches the end."],
            "/questions/2": ["From 'kit' no path reaches the end."],
            "/questions/3": ["From 'news' no path reaches the end."],
        },
    }
    assert not QuizVersion.objects.exists()
    assert audit_rows(brand, since_id=mark) == []
    # Once the graph is fixed, the brand's references are checked.
    del broken["rules"][-1]
    put(admin, f"/api/v1/quizzes/{quiz.public_id}", broken)
    assert admin.get(f"/api/v1/quizzes/{quiz.public_id}/problems").json()["problems"] == [
        {"pointer": "/questions/0/purpose", "message": "The brand has no purpose 'no-such-purpose'."}
    ]


def test_publish_answers_the_version_audits_it_and_publishing_again_unchanged_is_the_same_version(
    admin: APIClient, brand: Brand, quiz: Quiz, quiz_document: dict[str, Any]
):
    assert admin.get(f"/api/v1/quizzes/{quiz.public_id}/problems").json() == {
        "quiz": quiz.public_id,
        "publishable": True,
        "problems": [],
    }
    mark = audit_mark()
    response = post(admin, f"/api/v1/quizzes/{quiz.public_id}/publish")
    assert response.status_code == 200, response.content
    version = QuizVersion.objects.get(quiz=quiz)
    assert response.json() == {
        "quiz": quiz.public_id,
        "version": 1,
        "published_at": version.published_at.isoformat().replace("+00:00", "Z"),
    }
    assert audit_rows(brand, since_id=mark) == [
        (
            *actor(admin),
            "quiz.published",
            "quiz",
            quiz.public_id,
            {"version": None},
            {"version": 1, "draft": _fingerprint(quiz_document)},
            "",
        )
    ]
    again = post(admin, f"/api/v1/quizzes/{quiz.public_id}/publish")
    assert again.json() == response.json()
    assert QuizVersion.objects.filter(quiz=quiz).count() == 1
    assert admin.get(f"/api/v1/quizzes/{quiz.public_id}").status_code == 200
    assert summary(quiz)["version"] == 1
    assert summary(quiz)["status"] == "published"


def test_archive_answers_the_summary_audits_once_and_then_publishing_is_409(
    admin: APIClient, brand: Brand, live_version: QuizVersion
):
    quiz = live_version.quiz
    mark = audit_mark()
    response = post(admin, f"/api/v1/quizzes/{quiz.public_id}/archive")
    assert response.status_code == 200
    assert response.json() == summary(quiz)
    assert (response.json()["status"], response.json()["version"]) == ("archived", 1)
    assert post(admin, f"/api/v1/quizzes/{quiz.public_id}/archive").json() == response.json()
    assert audit_rows(brand, since_id=mark) == [
        (
            *actor(admin),
            "quiz.archived",
            "quiz",
            quiz.public_id,
            {"status": "published"},
            {"status": "archived"},
            "",
        )
    ]
    refused = post(admin, f"/api/v1/quizzes/{quiz.public_id}/publish")
    assert (refused.status_code, refused.json()["detail"]) == (
        409,
        "This quiz is archived; it can no longer be published.",
    )
    quiz.refresh_from_db()
    assert quiz.status == QuizStatus.ARCHIVED


def test_publish_with_an_idempotency_key_replays_the_first_answer(admin: APIClient, quiz: Quiz):
    first = post(admin, f"/api/v1/quizzes/{quiz.public_id}/publish", HTTP_IDEMPOTENCY_KEY="publish-1")
    again = post(admin, f"/api/v1/quizzes/{quiz.public_id}/publish", HTTP_IDEMPOTENCY_KEY="publish-1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"


def test_a_replayed_create_names_the_same_quiz_in_location(admin: APIClient, quiz_document: dict[str, Any]):
    first = post(admin, "/api/v1/quizzes", quiz_document, HTTP_IDEMPOTENCY_KEY="create-1")
    again = post(admin, "/api/v1/quizzes", quiz_document, HTTP_IDEMPOTENCY_KEY="create-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Location"] == first["Location"]
    assert again["ETag"] == first["ETag"] == document_etag(quiz_document)
    assert Quiz.objects.count() == 1


# --- The JSON Schema -----------------------------------------------------------------------


def test_the_schema_is_served_as_schema_json(admin: APIClient):
    response = admin.get("/api/v1/quizzes/schema")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/schema+json"
    assert json.loads(response.content) == schema()
    assert json.loads(response.content)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


# --- Scopes and isolation ------------------------------------------------------------------


def _paths(public_id: str) -> list[tuple[str, str]]:
    return [
        ("GET", f"/api/v1/quizzes/{public_id}"),
        ("GET", f"/api/v1/quizzes/{public_id}?version=1"),
        ("PUT", f"/api/v1/quizzes/{public_id}"),
        ("GET", f"/api/v1/quizzes/{public_id}/problems"),
        ("POST", f"/api/v1/quizzes/{public_id}/publish"),
        ("POST", f"/api/v1/quizzes/{public_id}/archive"),
        ("GET", f"/api/v1/quizzes/{public_id}/funnel"),
    ]


def test_another_brands_quiz_is_404_on_every_endpoint_and_is_left_alone(
    other_brand: Brand,
    make_client: Callable[..., APIClient],
    live_version: QuizVersion,
    quiz_document: dict[str, Any],
):
    quiz = live_version.quiz
    outsider = make_client(other_brand, [Scope.ADMIN])
    mark = audit_mark()
    for method, path in _paths(quiz.public_id):
        body = json.dumps(quiz_document) if method == "PUT" else ""
        response = outsider.generic(method, path, data=body, content_type="application/json")
        assert response.status_code == 404, (method, path)
        assert response.json() == {
            "type": "urn:candor:problem:not-found",
            "title": "Not found",
            "status": 404,
            "detail": f"No quiz '{quiz.public_id}'.",
        }
    assert outsider.get("/api/v1/quizzes").json() == {"quizzes": [], "next_cursor": None}
    token = post(outsider, "/api/v1/contacts/cust-1/quiz-tokens", {"quiz": quiz.public_id})
    assert token.status_code == 404  # the outsider has no contact cust-1 either
    quiz.refresh_from_db()
    assert (quiz.status, quiz.draft) == (QuizStatus.PUBLISHED, quiz_document)
    assert audit_rows(quiz.brand, since_id=mark) == []


@pytest.mark.parametrize(
    "scopes",
    [
        [Scope.EVENTS_READ],
        [Scope.CONSENT_READ, Scope.CONSENT_WRITE, Scope.PREFERENCES_READ, Scope.PREFERENCES_WRITE],
    ],
)
def test_every_quiz_endpoint_needs_admin(
    brand: Brand, make_client: Callable[..., APIClient], quiz: Quiz, quiz_document: dict[str, Any], scopes
):
    client = make_client(brand, scopes)
    paths = [("GET", "/api/v1/quizzes"), ("POST", "/api/v1/quizzes"), ("GET", "/api/v1/quizzes/schema")]
    for method, path in paths + _paths(quiz.public_id):
        body = json.dumps(quiz_document) if method in ("PUT", "POST") else ""
        response = client.generic(method, path, data=body, content_type="application/json")
        assert response.status_code == 403, (method, path)
        assert response.json()["detail"] == "This API key needs the scope(s) admin."
    assert Quiz.objects.count() == 1
    quiz.refresh_from_db()
    assert quiz.status == QuizStatus.DRAFT


def test_no_key_is_401(client: Any, quiz: Quiz):
    response = client.get(f"/api/v1/quizzes/{quiz.public_id}")
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM


def test_publishing_through_the_api_and_through_the_service_agree(quiz: Quiz, admin: APIClient):
    """The API adds nothing of its own to publishing: the version it names is the service's."""
    version = quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    assert post(admin, f"/api/v1/quizzes/{quiz.public_id}/publish").json()["version"] == version.number
