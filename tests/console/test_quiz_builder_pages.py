"""The builder's other pages: the preview (the hosted page's templates, walked without storing or
counting anything), the branch map (dead ends, unreachable questions and loops before
publishing; publishing and archiving through the services, with their refusals), and export
and import of the quiz document (a bad file is a precise message and nothing saved)."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from quizzes.api import document_etag
from quizzes.models import Answer, FunnelCount, Quiz, QuizStatus, QuizVersion, Response, Trait
from quizzes.services import _fingerprint, quiz_archive, quiz_create, quiz_publish
from sync.models import Event
from tests.actors import TEST_ACTOR, audit_mark, audit_rows
from tests.console.test_quiz_builder import EDITOR, summary, text, two_questions


@pytest.fixture
def personalisation(brand, make_purpose):
    return make_purpose(brand, "personalisation")


@pytest.fixture
def editor(brand, make_staff, signed_in, personalisation, purpose):
    return signed_in(make_staff(brand, "editor"))


@pytest.fixture
def quiz(brand, personalisation) -> Quiz:
    return quiz_create(brand=brand, actor=TEST_ACTOR, document=two_questions())


def url(quiz: Quiz, page: str = "") -> str:
    return f"/console/acme/quizzes/{quiz.public_id}/{page}"


def fresh(quiz: Quiz) -> Quiz:
    return Quiz.objects.get(pk=quiz.pk)


def nothing_stored() -> dict[str, int]:
    return {
        "responses": Response.objects.count(),
        "answers": Answer.objects.count(),
        "traits": Trait.objects.count(),
        "funnel": FunnelCount.objects.count(),
        "events": Event.objects.count(),
    }


def state_of(location: str) -> str:
    found = re.search(r"[?&]state=([^&]+)", location)
    assert found
    return found.group(1)


# --- Preview ---------------------------------------------------------------------------------


def test_the_preview_walks_the_draft_and_stores_nothing(brand, editor, quiz):
    before, mark = nothing_stored(), audit_mark()
    first = editor.get(url(quiz, "preview/"))
    assert first.status_code == 200
    page = first.content.decode()
    assert "Preview of the draft." in page
    assert "What is your goal?" in page
    assert 'name="csrfmiddlewaretoken"' in page  # the console's form, unlike the hosted page's
    assert 'value="marathon"' in page
    assert 'value="save"' not in page  # "save my progress" would store a response
    state = re.search(r'name="state" value="([^"]+)"', page).group(1)

    # An answer that is not one of the options: the hosted page's message, nothing moves on.
    wrong = editor.post(url(quiz, "preview/"), {"action": "next", "state": state, "answer": "swim"})
    assert wrong.status_code == 422
    assert "Choose one of the options." in wrong.content.decode()

    step = editor.post(url(quiz, "preview/"), {"action": "next", "state": state, "answer": "marathon"})
    assert step.status_code == 303
    second = editor.get(step["Location"])
    assert "How fit are you?" in second.content.decode()
    state = state_of(step["Location"])
    end = editor.post(url(quiz, "preview/"), {"action": "next", "state": state, "answer": "4"})
    done = editor.get(end["Location"]).content.decode()
    assert "Race plan" in done  # the outcome the marathon's score chose

    # The rule: "fit" ends the quiz at once.
    state = re.search(r'name="state" value="([^"]+)"', page).group(1)
    fit = editor.post(url(quiz, "preview/"), {"action": "next", "state": state, "answer": "fit"})
    assert "How fit are you?" not in editor.get(fit["Location"]).content.decode()

    assert nothing_stored() == before
    assert audit_rows(brand, since_id=mark) == []


def test_a_forged_or_missing_preview_state_starts_again(editor, quiz):
    for data in ({"action": "next"}, {"action": "next", "state": "forged"}):
        response = editor.post(url(quiz, "preview/"), data)
        assert response.status_code == 400
        assert "This preview has expired or is not valid. Start it again." in response.content.decode()
    assert editor.get(url(quiz, "preview/") + "?state=forged").status_code == 400


def test_the_hosted_pages_state_is_not_a_preview_state(editor, quiz):
    """The two tokens are signed apart: a hosted run's state does not drive the preview."""
    from quizzes.views import Run

    hosted = Run(version=1, question="goal").dumps()
    response = editor.post(url(quiz, "preview/"), {"action": "next", "state": hosted, "answer": "fit"})
    assert response.status_code == 400


# --- The branch map --------------------------------------------------------------------------


def test_the_map_marks_unreachable_questions_loops_and_dead_ends(brand, editor, personalisation):
    document = {
        "format": 1,
        "language": "en",
        "title": text("Loops"),
        "questions": [
            {"id": "a", "type": "text", "purpose": "personalisation", "text": text("A?")},
            {"id": "b", "type": "text", "purpose": "personalisation", "text": text("B?")},
            {"id": "c", "type": "text", "purpose": "personalisation", "text": text("C?")},
        ],
        "rules": [{"from": "a", "to": "b"}, {"from": "b", "to": "a"}],
    }
    quiz = quiz_create(brand=brand, actor=TEST_ACTOR, document=document)
    page = editor.get(url(quiz, "map/")).content.decode()
    rows = re.findall(
        r'<li class="card" id="map-q-(\d)" tabindex="-1">(.*?)</li>\s*(?=<li class="card"|</ol>)', page, re.S
    )
    flags = {
        int(n): [html.unescape(t) for t in re.findall(r'<strong class="tag">(.*?)</strong>', body)]
        for n, body in rows
    }
    assert flags == {
        0: ["Dead end: no path from here reaches the end", "On a loop: a path comes back here"],
        1: ["Dead end: no path from here reaches the end", "On a loop: a path comes back here"],
        2: ["Unreachable: no path leads here"],
    }
    assert "Always → " in page
    assert html.unescape(page).count("The branches loop back to 'a'.") == 1
    assert "No path leads to &#39;c&#39;." in page


def test_publishing_from_the_map(brand, editor, quiz):
    mark = audit_mark()
    response = editor.post(url(quiz, "map/"), {"action": "publish", "draft": document_etag(quiz.draft)})
    assert response.status_code == 303
    assert response["Location"] == url(quiz, "map/")
    quiz = fresh(quiz)
    assert quiz.status == QuizStatus.PUBLISHED
    assert quiz.live_version.number == 1
    assert quiz.live_version.document == quiz.draft
    assert audit_rows(brand, since_id=mark) == [
        (
            "staff",
            EDITOR,
            "quiz.published",
            "quiz",
            quiz.public_id,
            {"version": None},
            {"version": 1, "draft": _fingerprint(quiz.draft)},
            "",
        )
    ]
    page = editor.get(response["Location"]).content.decode()
    assert f"Version 1 is live on /q/{quiz.public_id}/." in page
    assert "there is nothing new to publish" in page
    # The hosted page serves it.
    assert "What is your goal?" in editor.get(f"/q/{quiz.public_id}/").content.decode()


def test_publishing_a_draft_with_problems_is_refused_with_each_problem(brand, editor, quiz):
    draft = {**quiz.draft, "questions": [*quiz.draft["questions"]]}
    draft["questions"][1] = {**draft["questions"][1], "purpose": "nope"}
    quiz.draft = draft
    quiz.save(update_fields=["draft"])
    mark = audit_mark()
    response = editor.post(url(quiz, "map/"), {"action": "publish", "draft": document_etag(draft)})
    assert response.status_code == 422
    assert summary(response) == [("#map-q-1", "Question 2 (level): The brand has no purpose 'nope'.")]
    assert not QuizVersion.objects.exists()
    assert fresh(quiz).status == QuizStatus.DRAFT
    assert audit_rows(brand, since_id=mark) == []


def test_publishing_a_draft_changed_since_the_map_was_shown_is_refused(brand, editor, quiz):
    response = editor.post(url(quiz, "map/"), {"action": "publish", "draft": '"stale"'})
    assert response.status_code == 409
    assert summary(response) == [
        (
            "#publish",
            "The draft has changed since this page was shown; check the map again before publishing.",
        )
    ]
    assert not QuizVersion.objects.exists()


def test_archiving_from_the_map_and_then_publishing_is_refused(brand, editor, quiz):
    mark = audit_mark()
    assert editor.post(url(quiz, "map/"), {"action": "archive", "quiz": "qz_other"}).status_code == 400
    assert fresh(quiz).status == QuizStatus.DRAFT
    response = editor.post(url(quiz, "map/"), {"action": "archive", "quiz": quiz.public_id})
    assert response.status_code == 303
    assert fresh(quiz).status == QuizStatus.ARCHIVED
    assert audit_rows(brand, since_id=mark) == [
        (
            "staff",
            EDITOR,
            "quiz.archived",
            "quiz",
            quiz.public_id,
            {"status": "draft"},
            {"status": "archived"},
            "",
        )
    ]
    response = editor.post(url(quiz, "map/"), {"action": "publish", "draft": document_etag(quiz.draft)})
    assert response.status_code == 409
    assert summary(response) == [("#publish", "This quiz is archived; it can no longer be published.")]
    assert not QuizVersion.objects.exists()


# --- Export and import -----------------------------------------------------------------------


def test_export_gives_the_document_the_api_serves(brand, editor, make_client, quiz):
    api = make_client(brand, ["admin"])
    response = editor.get(url(quiz, "export/"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{quiz.public_id}-draft.json"'
    assert json.loads(response.content) == api.get(f"/api/v1/quizzes/{quiz.public_id}").json()
    assert response["ETag"] == api.get(f"/api/v1/quizzes/{quiz.public_id}")["ETag"]

    quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    version = editor.get(url(quiz, "export/") + "?version=1")
    assert version["Content-Disposition"] == f'attachment; filename="{quiz.public_id}-v1.json"'
    assert json.loads(version.content) == api.get(f"/api/v1/quizzes/{quiz.public_id}?version=1").json()
    assert editor.get(url(quiz, "export/") + "?version=2").status_code == 404
    assert editor.get(url(quiz, "export/") + "?version=one").status_code == 400


def upload(content: bytes, name: str = "quiz.json") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/json")


def test_importing_a_file_creates_a_quiz(brand, editor, personalisation):
    mark = audit_mark()
    document = two_questions()
    response = editor.post(
        "/console/acme/quizzes/", {"action": "import", "file": upload(json.dumps(document).encode())}
    )
    quiz = Quiz.objects.get(brand=brand)
    assert response.status_code == 303
    assert response["Location"] == url(quiz)
    assert quiz.draft == document
    assert audit_rows(brand, since_id=mark) == [
        (
            "staff",
            EDITOR,
            "quiz.created",
            "quiz",
            quiz.public_id,
            None,
            {"title": "Find your plan", "draft": _fingerprint(document)},
            "",
        )
    ]


def test_importing_a_file_replaces_the_draft(brand, editor, quiz):
    mark = audit_mark()
    document = {**two_questions(), "title": text("Imported")}
    response = editor.post(url(quiz), {"action": "import", "file": upload(json.dumps(document).encode())})
    assert response.status_code == 303
    assert fresh(quiz).draft == document
    assert [row[2] for row in audit_rows(brand, since_id=mark)] == ["quiz.draft_saved"]
    assert audit_rows(brand, since_id=mark)[0][:2] == ("staff", EDITOR)


def file_errors(response) -> list[str]:
    page = response.content.decode()
    block = re.search(r'id="import-file-error">.*?<ul>(.*?)</ul>', page, re.S)
    assert block, "no error on the file field"
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", block.group(1))]


@pytest.mark.parametrize(
    ("content", "status", "messages"),
    [
        (
            b'{"format": 1,',
            400,
            [
                "The file is not valid JSON: "
                "Expecting property name enclosed in double quotes at line 1, column 14."
            ],
        ),
        (b"\xff\xfe{}", 400, ["The file is not UTF-8 text; export the quiz as JSON again."]),
        (b"[1, 2]", 400, ["The file must hold one JSON object: a quiz document."]),
        (b"", 400, ["The file is empty."]),
        (
            json.dumps(
                {**two_questions(), "questions": [{"id": "Bad Id", "type": "single"}], "extra": 1}
            ).encode(),
            422,
            [
                "Nothing was imported: the document does not match the quiz schema.",
                "/ (The quiz): Additional properties are not allowed ('extra' was unexpected)",
                "/questions/0 (Question 1 (Bad Id)): 'options' is a required property",
                "/questions/0 (Question 1 (Bad Id)): 'purpose' is a required property",
                "/questions/0 (Question 1 (Bad Id)): 'text' is a required property",
                "/questions/0/id (Question 1 (Bad Id)): 'Bad Id' does not match '^[a-z0-9][a-z0-9_-]{0,49}$'",
            ],
        ),
    ],
    ids=["not-json", "not-utf8", "not-an-object", "empty", "not-the-schema"],
)
def test_a_bad_file_is_refused_precisely_and_nothing_is_saved(brand, editor, quiz, content, status, messages):
    mark, before = audit_mark(), fresh(quiz).draft
    for target in ("/console/acme/quizzes/", url(quiz)):
        response = editor.post(target, {"action": "import", "file": upload(content)})
        assert response.status_code == status
        assert file_errors(response) == messages
        assert summary(response)[0] == ("#import-file", messages[0])
    assert Quiz.objects.count() == 1
    assert fresh(quiz).draft == before
    assert audit_rows(brand, since_id=mark) == []


def test_a_file_over_the_limit_is_refused(brand, editor, quiz, monkeypatch):
    from console.views import quizzes as views

    monkeypatch.setattr(views, "IMPORT_MAX_BYTES", 100)
    document = json.dumps(two_questions()).encode()
    response = editor.post("/console/acme/quizzes/", {"action": "import", "file": upload(document)})
    assert response.status_code == 400
    assert file_errors(response) == ["The file is larger than 512 KB; a quiz document is much smaller."]
    assert Quiz.objects.count() == 1


def test_no_file_is_refused(editor, quiz):
    response = editor.post(url(quiz), {"action": "import"})
    assert response.status_code == 400
    assert file_errors(response) == ["Choose a quiz file to import."]


def test_an_archived_quizs_draft_is_not_replaced(brand, editor, quiz):
    quiz_archive(quiz=quiz, actor=TEST_ACTOR)
    before = fresh(quiz).draft
    document: dict[str, Any] = {**two_questions(), "title": text("Imported")}
    response = editor.post(url(quiz), {"action": "import", "file": upload(json.dumps(document).encode())})
    assert response.status_code == 409
    assert fresh(quiz).draft == before


def test_the_preview_cleans_brand_text_as_the_hosted_page_does(brand, editor, personalisation):
    document = two_questions()
    document["questions"][0]["text"] = text("Are you <em>keen</em>?<script>alert(1)</script>")
    quiz = quiz_create(brand=brand, actor=TEST_ACTOR, document=document)
    preview = editor.get(url(quiz, "preview/")).content.decode()
    assert "Are you <em>keen</em>?" in preview
    assert "<script>alert" not in preview
    assert "<title>Are you keen? – Acme Ltd</title>" in preview
    quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    hosted = editor.get(f"/q/{quiz.public_id}/").content.decode()
    assert "Are you <em>keen</em>?" in hosted
