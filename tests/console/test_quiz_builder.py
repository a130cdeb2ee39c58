"""The quiz builder's list and editor: creating a quiz, and each editing action (the draft it
leaves, exactly, and the audit entry it writes with the staff member as actor); each refusal
(the message next to its field, the status, and that nothing was written); and that another
brand's quiz is not found."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from brands.models import AuditEntry
from quizzes.api import document_etag
from quizzes.models import Quiz, QuizStatus
from quizzes.services import _fingerprint, quiz_archive, quiz_create
from tests.actors import TEST_ACTOR, audit_mark, audit_rows

EDITOR = "editor@acme.test"


def text(en: str, **others: str) -> dict[str, str]:
    return {"en": en, **others}


def two_questions() -> dict[str, Any]:
    """A choice with two options (one with effects) and a scale; an outcome; one rule."""
    return {
        "format": 1,
        "language": "en",
        "title": text("Find your plan"),
        "questions": [
            {
                "id": "goal",
                "type": "single",
                "purpose": "personalisation",
                "text": text("What is your goal?"),
                "options": [
                    {
                        "id": "marathon",
                        "label": text("Run a marathon"),
                        "effects": {"traits": {"goal": "run a marathon"}, "scores": {"racer": 2}},
                    },
                    {"id": "fit", "label": text("Get fit")},
                ],
            },
            {
                "id": "level",
                "type": "scale",
                "purpose": "personalisation",
                "text": text("How fit are you?"),
                "scale": {"min": 1, "max": 5},
            },
        ],
        "rules": [{"from": "goal", "when": {"is": "fit"}, "to": "end"}],
        "outcomes": [{"id": "racer", "title": text("Race plan")}],
    }


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


def post(client, quiz: Quiz, action: str, data: dict[str, Any], *, tag: str | None = None):
    body = {"action": action, "draft": tag or document_etag(fresh(quiz).draft), **data}
    return client.post(url(quiz), body)


def error_of(response, field_id: str) -> str:
    """The text of a field's error message (its `<id>-error` element)."""
    found = re.search(
        rf'id="{re.escape(field_id)}-error"><span class="visually-hidden">Error:</span> (.*?)</p>',
        response.content.decode(),
    )
    assert found, f"no error for {field_id}"
    return html.unescape(found.group(1))


def summary(response) -> list[tuple[str, str]]:
    page = response.content.decode()
    box = re.search(r'<div class="error-summary".*?</div>', page, re.S)
    assert box, "no error summary"
    return [
        (href, html.unescape(m))
        for href, m in re.findall(r'<li><a href="([^"]+)">(.*?)</a></li>', box.group(0))
    ]


# --- The list and creating -------------------------------------------------------------------


def test_the_list_shows_the_brands_quizzes_only(brand, other_brand, editor, quiz, make_purpose):
    make_purpose(other_brand, "personalisation")
    theirs = quiz_create(
        brand=other_brand, actor=TEST_ACTOR, document={**two_questions(), "title": text("Secret quiz")}
    )
    page = editor.get("/console/acme/quizzes/")
    assert page.status_code == 200
    body = page.content.decode()
    assert f'href="/console/acme/quizzes/{quiz.public_id}/"' in body
    assert "Find your plan" in body
    assert "Secret quiz" not in body
    assert theirs.public_id not in body
    # Another brand's quiz under our brand's address: not found, for every page of it.
    for page_name in ("", "map/", "preview/", "export/"):
        assert editor.get(f"/console/acme/quizzes/{theirs.public_id}/{page_name}").status_code == 404
    before = fresh(theirs).draft
    response = editor.post(
        f"/console/acme/quizzes/{theirs.public_id}/",
        {"action": "details", "draft": document_etag(before), "new_language": "en", "title_en": "Mine"},
    )
    assert response.status_code == 404
    assert fresh(theirs).draft == before


def test_an_editor_creates_a_quiz_with_its_first_question(brand, editor):
    mark = audit_mark()
    response = editor.post(
        "/console/acme/quizzes/",
        {
            "action": "create",
            "title": "Welcome",
            "language": "de",
            "text": "Was ist Ihr Ziel?",
            "kind": "scale",
            "purpose": "personalisation",
        },
    )
    quiz = Quiz.objects.get(brand=brand)
    assert response.status_code == 303
    assert response["Location"] == f"/console/acme/quizzes/{quiz.public_id}/"
    assert quiz.status == QuizStatus.DRAFT
    assert quiz.draft == {
        "format": 1,
        "language": "de",
        "title": {"de": "Welcome"},
        "questions": [
            {
                "id": "q1",
                "type": "scale",
                "purpose": "personalisation",
                "text": {"de": "Was ist Ihr Ziel?"},
                "scale": {"min": 1, "max": 5},
            }
        ],
    }
    assert audit_rows(brand, since_id=mark) == [
        (
            "staff",
            EDITOR,
            "quiz.created",
            "quiz",
            quiz.public_id,
            None,
            {"title": "Welcome", "draft": _fingerprint(quiz.draft)},
            "",
        )
    ]


def test_creating_without_a_title_is_refused_next_to_the_field(brand, editor):
    mark = audit_mark()
    response = editor.post(
        "/console/acme/quizzes/",
        {
            "action": "create",
            "title": "",
            "language": "en",
            "text": "Q?",
            "kind": "single",
            "purpose": "nope",
        },
    )
    assert response.status_code == 400
    assert error_of(response, "new-title") == "This field is required."
    assert summary(response) == [
        ("#new-title", "This field is required."),
        ("#new-purpose", "Select a valid choice. nope is not one of the available choices."),
    ]
    assert not Quiz.objects.exists()
    assert audit_rows(brand, since_id=mark) == []


# --- Editing ---------------------------------------------------------------------------------


def saved(brand, mark: int, quiz: Quiz, before: dict[str, Any]) -> list[Any]:
    after = fresh(quiz)
    return [
        (
            "staff",
            EDITOR,
            "quiz.draft_saved",
            "quiz",
            quiz.public_id,
            {"title": quiz.title, "draft": _fingerprint(before)},
            {"title": after.title, "draft": _fingerprint(after.draft)},
            "",
        )
    ] == audit_rows(brand, since_id=mark)


def test_details_change_the_title_and_language(brand, editor, quiz):
    mark, before = audit_mark(), quiz.draft
    response = post(
        editor,
        quiz,
        "details",
        {"new_language": "en", "title_en": "Your plan", "title_de": "Ihr Plan", "title_fr": ""},
    )
    assert response.status_code == 303
    assert response["Location"] == url(quiz) + "#details"
    assert fresh(quiz).draft["title"] == {"en": "Your plan", "de": "Ihr Plan"}
    assert fresh(quiz).title == "Your plan"
    assert saved(brand, mark, quiz, before)


def test_a_question_is_added_saved_moved_and_deleted(brand, editor, quiz):
    response = post(
        editor,
        quiz,
        "question-add",
        {"id": "email", "kind": "email", "purpose": "email-marketing", "text_en": "Your email?"},
    )
    assert response.status_code == 303
    assert response["Location"] == url(quiz) + "#q-2"
    assert fresh(quiz).draft["questions"][2] == {
        "id": "email",
        "type": "email",
        "purpose": "email-marketing",
        "text": {"en": "Your email?"},
    }

    # Saving: a new id reaches the rules; the type's own fields.
    response = post(
        editor,
        quiz,
        "question-save",
        {
            "position": "0",
            "was": "goal",
            "id": "aim",
            "kind": "single",
            "purpose": "personalisation",
            "text_en": "Your aim?",
            "text_fr": "Votre but ?",
            "help_en": "Pick one.",
            "required": "",
        },
    )
    assert response.status_code == 303
    draft = fresh(quiz).draft
    assert {k: v for k, v in draft["questions"][0].items() if k != "options"} == {
        "id": "aim",
        "type": "single",
        "purpose": "personalisation",
        "text": {"en": "Your aim?", "fr": "Votre but ?"},
        "help": {"en": "Pick one."},
        "required": False,
    }
    assert [o["id"] for o in draft["questions"][0]["options"]] == ["marathon", "fit"]  # kept
    assert draft["rules"] == [{"from": "aim", "when": {"is": "fit"}, "to": "end"}]

    response = post(editor, quiz, "question-move", {"position": "2", "was": "email", "direction": "up"})
    assert response["Location"] == url(quiz) + "#q-1"
    assert [q["id"] for q in fresh(quiz).draft["questions"]] == ["aim", "email", "level"]

    response = post(editor, quiz, "question-delete", {"position": "0", "was": "aim"})
    assert response.status_code == 303
    draft = fresh(quiz).draft
    assert [q["id"] for q in draft["questions"]] == ["email", "level"]
    assert "rules" not in draft  # its rule went with it


def test_changing_a_questions_type_keeps_the_document_in_shape(brand, editor, quiz):
    response = post(
        editor,
        quiz,
        "question-save",
        {
            "position": "1",
            "was": "level",
            "id": "level",
            "kind": "text",
            "purpose": "personalisation",
            "text_en": "Tell us more",
            "required": "on",
            "max_length": "140",
            "trait": "story",
            "scale_min": "1",
            "scale_max": "5",
        },
    )
    assert response.status_code == 303
    assert fresh(quiz).draft["questions"][1] == {
        "id": "level",
        "type": "text",
        "purpose": "personalisation",
        "text": {"en": "Tell us more"},
        "max_length": 140,
        "trait": "story",
    }


def test_options_with_effects(brand, editor, quiz, make_purpose):
    from preferences.topics import topic_create

    topic_create(
        actor=TEST_ACTOR,
        brand=brand,
        slug="training",
        name="Training",
        purpose=quiz.brand.purposes.get(slug="email-marketing"),
        channels=["email"],
        cadence_options=["weekly"],
    )
    mark, before = audit_mark(), fresh(quiz).draft
    response = post(
        editor,
        quiz,
        "option-save",
        {
            "position": "0",
            "was": "goal",
            "option": "0",
            "option_was": "marathon",
            "id": "race",
            "label_en": "Run a race",
            "label_de": "Ein Rennen laufen",
            "traits": "goal = run a race\nlevel = keen",
            "topic": "training",
            "channel": "email",
            "cadence": "weekly",
            "score_racer": "3",
        },
    )
    assert response.status_code == 303
    assert response["Location"] == url(quiz) + "#q-0-o-0"
    draft = fresh(quiz).draft
    assert draft["questions"][0]["options"][0] == {
        "id": "race",
        "label": {"en": "Run a race", "de": "Ein Rennen laufen"},
        "effects": {
            "traits": {"goal": "run a race", "level": "keen"},
            "subscribe": [{"topic": "training", "channel": "email", "cadence": "weekly"}],
            "scores": {"racer": 3},
        },
    }
    assert saved(brand, mark, quiz, before)

    # The subscription is removed again; the score set to 0 goes.
    post(
        editor,
        quiz,
        "option-save",
        {
            "position": "0",
            "was": "goal",
            "option": "0",
            "option_was": "race",
            "id": "race",
            "label_en": "Run a race",
            "traits": "",
            "unsubscribe_0": "on",
            "score_racer": "0",
        },
    )
    assert fresh(quiz).draft["questions"][0]["options"][0] == {"id": "race", "label": {"en": "Run a race"}}

    response = post(
        editor, quiz, "option-add", {"position": "0", "was": "goal", "id": "walk", "label_en": "Walk"}
    )
    assert response["Location"] == url(quiz) + "#q-0-options"
    assert fresh(quiz).draft["questions"][0]["options"][-1] == {"id": "walk", "label": {"en": "Walk"}}

    # Deleting the option a rule tests takes the rule along.
    response = post(
        editor, quiz, "option-delete", {"position": "0", "was": "goal", "option": "1", "option_was": "fit"}
    )
    assert response.status_code == 303
    draft = fresh(quiz).draft
    assert [o["id"] for o in draft["questions"][0]["options"]] == ["race", "walk"]
    assert "rules" not in draft


def test_a_bad_trait_line_is_refused_next_to_its_field(brand, editor, quiz):
    mark, before = audit_mark(), fresh(quiz).draft
    response = post(
        editor,
        quiz,
        "option-save",
        {
            "position": "0",
            "was": "goal",
            "option": "1",
            "option_was": "fit",
            "id": "fit",
            "label_en": "Get fit",
            "traits": "Goal: fit",
        },
    )
    assert response.status_code == 400
    message = "Line 1: write key = value; a key is lowercase letters, digits, - and _."
    assert error_of(response, "q0-o1-traits") == message
    assert summary(response) == [("#q0-o1-traits", message)]
    assert fresh(quiz).draft == before
    assert audit_rows(brand, since_id=mark) == []


def test_rules_are_added_moved_and_deleted(brand, editor, quiz):
    response = post(
        editor,
        quiz,
        "rule-add",
        {"source": "level", "test": "at_most", "value": "2", "to": "end", "outcome": "racer"},
    )
    assert response.status_code == 303
    assert response["Location"] == url(quiz) + "#rules"
    assert fresh(quiz).draft["rules"] == [
        {"from": "goal", "when": {"is": "fit"}, "to": "end"},
        {"from": "level", "when": {"at_most": 2}, "to": "end", "outcome": "racer"},
    ]
    post(editor, quiz, "rule-add", {"source": "goal", "test": "", "value": "", "to": "level", "outcome": ""})
    post(editor, quiz, "rule-move", {"rule": "2", "direction": "up"})
    assert fresh(quiz).draft["rules"][1] == {"from": "goal", "to": "level"}
    post(editor, quiz, "rule-delete", {"rule": "0"})
    assert fresh(quiz).draft["rules"] == [
        {"from": "goal", "to": "level"},
        {"from": "level", "when": {"at_most": 2}, "to": "end", "outcome": "racer"},
    ]


def test_a_rule_with_an_outcome_that_does_not_end_is_refused(brand, editor, quiz):
    before = fresh(quiz).draft
    response = post(
        editor,
        quiz,
        "rule-add",
        {"source": "goal", "test": "is", "value": "Fit!", "to": "level", "outcome": "racer"},
    )
    assert response.status_code == 400
    assert summary(response) == [
        ("#rule-value", "Give the id of one of the question's options."),
        ("#rule-outcome", "An outcome is named only on a rule that ends the quiz."),
    ]
    assert fresh(quiz).draft == before


def test_outcomes_are_added_saved_and_deleted(brand, editor, quiz):
    response = post(editor, quiz, "outcome-add", {"id": "starter", "title_en": "Start easy"})
    assert response["Location"] == url(quiz) + "#outcome-1"
    response = post(
        editor,
        quiz,
        "outcome-save",
        {
            "outcome": "0",
            "was": "racer",
            "id": "race",
            "title_en": "Race plan",
            "text_en": "Four runs a week.",
            "link": "https://shop.example/race",
            "link_label_en": "See the plan",
        },
    )
    assert response.status_code == 303
    draft = fresh(quiz).draft
    assert draft["outcomes"] == [
        {
            "id": "race",
            "title": {"en": "Race plan"},
            "text": {"en": "Four runs a week."},
            "link": "https://shop.example/race",
            "link_label": {"en": "See the plan"},
        },
        {"id": "starter", "title": {"en": "Start easy"}},
    ]
    # The renamed outcome's scores follow it.
    assert draft["questions"][0]["options"][0]["effects"]["scores"] == {"race": 2}
    post(editor, quiz, "outcome-delete", {"outcome": "0", "was": "race"})
    draft = fresh(quiz).draft
    assert draft["outcomes"] == [{"id": "starter", "title": {"en": "Start easy"}}]
    assert draft["questions"][0]["options"][0]["effects"] == {"traits": {"goal": "run a marathon"}}


def test_an_http_link_is_refused(brand, editor, quiz):
    before = fresh(quiz).draft
    response = post(
        editor,
        quiz,
        "outcome-save",
        {"outcome": "0", "was": "racer", "id": "racer", "title_en": "R", "link": "http://x.example/"},
    )
    assert response.status_code == 400
    assert error_of(response, "outcome0-link") == "Use an absolute https:// URL."
    assert fresh(quiz).draft == before


def test_a_duplicate_id_is_refused_next_to_the_field(brand, editor, quiz):
    mark, before = audit_mark(), fresh(quiz).draft
    response = post(
        editor,
        quiz,
        "question-add",
        {"id": "goal", "kind": "text", "purpose": "personalisation", "text_en": "Again?"},
    )
    assert response.status_code == 422
    assert error_of(response, "add-question-id") == "The quiz already has a question with this id."
    assert fresh(quiz).draft == before
    assert audit_rows(brand, since_id=mark) == []


def test_an_edit_to_a_draft_changed_since_is_refused(brand, editor, quiz):
    stale = document_etag(fresh(quiz).draft)
    post(editor, quiz, "outcome-add", {"id": "starter", "title_en": "Start easy"})
    mark, before = audit_mark(), fresh(quiz).draft
    response = post(editor, quiz, "details", {"new_language": "en", "title_en": "Stale"}, tag=stale)
    assert response.status_code == 409
    assert summary(response)[0][1].startswith("The draft has changed since this page was shown")
    assert fresh(quiz).draft == before
    assert audit_rows(brand, since_id=mark) == []


def test_a_part_that_moved_since_is_refused(brand, editor, quiz):
    before = fresh(quiz).draft
    response = post(editor, quiz, "question-delete", {"position": "0", "was": "level"})
    assert response.status_code == 409
    assert summary(response) == [
        ("#q-0", "That question has moved or gone since the page was shown; nothing was saved.")
    ]
    assert fresh(quiz).draft == before


def test_the_last_question_cannot_be_deleted(brand, editor, quiz):
    post(editor, quiz, "question-delete", {"position": "1", "was": "level"})
    before = fresh(quiz).draft
    response = post(editor, quiz, "question-delete", {"position": "0", "was": "goal"})
    assert response.status_code == 409
    assert fresh(quiz).draft == before


def test_a_schema_refusal_from_the_service_is_shown_next_to_its_field(brand, editor, quiz, monkeypatch):
    """The forms check what they can; what only the schema knows (here a scale's bounds, which
    the form lets through) comes back from the service keyed by JSON pointer."""
    from config.errors import Unprocessable
    from console.views import quiz_editor as views

    def refuse(*, quiz, actor, document):
        raise Unprocessable(
            "no",
            errors={
                "/questions/1/scale/min": ["-101 is less than the minimum of -100"],
                "/rules/0/to": ["Elsewhere."],
            },
        )

    monkeypatch.setattr(views, "quiz_draft_save", refuse)
    response = post(
        editor,
        quiz,
        "question-save",
        {
            "position": "1",
            "was": "level",
            "id": "level",
            "kind": "scale",
            "purpose": "personalisation",
            "text_en": "How fit?",
            "required": "on",
            "scale_min": "1",
            "scale_max": "5",
        },
    )
    assert response.status_code == 422
    assert error_of(response, "q1-scale_min") == "-101 is less than the minimum of -100"
    assert summary(response) == [
        ("#q1-scale_min", "-101 is less than the minimum of -100"),
        ("#q-1", "Rule 1: Elsewhere."),
    ]


def test_an_archived_quiz_is_not_edited(brand, editor, quiz):
    quiz_archive(quiz=quiz, actor=TEST_ACTOR)
    mark, before = audit_mark(), fresh(quiz).draft
    response = post(editor, quiz, "details", {"new_language": "en", "title_en": "Again"})
    assert response.status_code == 409
    assert summary(response) == [("#details", "This quiz is archived; it can no longer be edited.")]
    assert fresh(quiz).draft == before
    assert audit_rows(brand, since_id=mark) == []


def test_the_editor_page_shows_every_part(editor, quiz):
    page = editor.get(url(quiz))
    assert page.status_code == 200
    body = page.content.decode()
    for label in (
        'id="q0-text_en"',
        'id="q1-scale_min"',
        'id="q0-o0-traits"',
        'id="q0-o0-score_racer"',
        'id="rule-source"',
        'id="outcome0-title_en"',
        'id="import-file"',
        'value="question-save"',
        'value="option-add"',
        'value="rule-delete"',
        'value="outcome-delete"',
    ):
        assert label in body, label
    assert AuditEntry.objects.filter(action__startswith="quiz.draft").count() == 0  # reading writes nothing


@pytest.mark.parametrize(
    ("role", "offered"), [("owner", "edit"), ("editor", "edit"), ("support", None), ("viewer", "read")]
)
def test_the_list_is_for_owners_editors_and_viewers_and_only_editing_roles_edit(
    brand, make_staff, signed_in, quiz, role, offered
):
    """Viewers read the list to reach a published quiz's funnel; the drafts are the editors'."""
    from quizzes.services import quiz_publish

    quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    client = signed_in(make_staff(brand, role))
    page = client.get("/console/acme/").content.decode()
    assert ('href="/console/acme/quizzes/"' in page) is (offered is not None)
    listing = client.get("/console/acme/quizzes/")
    assert listing.status_code == (200 if offered else 403)
    if offered is None:
        return
    body = listing.content.decode()
    assert f'href="/console/acme/quizzes/{quiz.public_id}/funnel/"' in body
    assert (f'href="/console/acme/quizzes/{quiz.public_id}/"' in body) is (offered == "edit")
    assert ('value="create"' in body) is (offered == "edit")
    assert ('value="import"' in body) is (offered == "edit")
    assert client.get(url(quiz)).status_code == (200 if offered == "edit" else 403)


def test_a_question_turned_into_a_scale_gets_bounds_it_can_change(editor, quiz):
    response = post(
        editor,
        quiz,
        "question-save",
        {
            "position": "0",
            "was": "goal",
            "id": "goal",
            "kind": "scale",
            "purpose": "personalisation",
            "text_en": "How keen?",
            "required": "on",
        },
    )
    assert response.status_code == 303
    assert fresh(quiz).draft["questions"][0] == {
        "id": "goal",
        "type": "scale",
        "purpose": "personalisation",
        "text": {"en": "How keen?"},
        "scale": {"min": 1, "max": 5},
    }
    # The rule that tested one of its options is now a problem the map names, not lost silently.
    assert fresh(quiz).draft["rules"] == [{"from": "goal", "when": {"is": "fit"}, "to": "end"}]


def test_the_list_counts_completions_from_the_funnel(brand, editor, quiz):
    from datetime import date

    from quizzes.models import FunnelCount
    from quizzes.services import quiz_publish

    version = quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    FunnelCount.objects.bulk_create(
        [
            FunnelCount(version=version, day=date(2026, 12, 1), step="completed", count=3),
            FunnelCount(version=version, day=date(2026, 12, 2), step="completed", count=4),
            FunnelCount(version=version, day=date(2026, 12, 2), step="started", count=40),
        ]
    )
    page = editor.get("/console/acme/quizzes/").content.decode()
    row = re.search(
        rf'<tr>\s*<td><a href="/console/acme/quizzes/{quiz.public_id}/".*?</tr>', page, re.S
    ).group(0)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
    assert cells[1:3] == ["Published", "Version 1"]
    assert cells[4] == "7"  # the completed runs of every day, not the starts
