"""The demo brand's onboarding quiz (quizzes.demo): seed_demo creates and publishes it once, it
publishes without problems, runs through its branches to its outcomes, and `make run`'s
command prints its address."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from brands.models import AuditEntry
from quizzes.demo import DEMO_EMBED_ORIGINS, ONBOARDING_TITLE, onboarding_document, seed_demo
from quizzes.document import parse
from quizzes.models import Question, Quiz, QuizVersion
from quizzes.services import publish_problems
from tests.quizzes.test_page import answer, follow, page, state_of

pytestmark = pytest.mark.django_db


def test_seed_demo_publishes_the_onboarding_quiz_once(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    brand, _key, quiz = seed_demo()
    again_brand, _key, again = seed_demo()
    assert again.pk == quiz.pk
    assert list(Quiz.objects.filter(brand=brand).values_list("title", "status")) == [
        (ONBOARDING_TITLE, "published")
    ]
    assert QuizVersion.objects.filter(quiz=quiz).count() == 1
    assert quiz.live_version is not None
    assert quiz.live_version.number == 1
    assert publish_problems(quiz=quiz) == []
    assert list(
        AuditEntry.objects.filter(brand=brand, action__startswith="quiz.")
        .order_by("pk")
        .values_list("action", flat=True)
    ) == ["quiz.created", "quiz.published"]
    assert again_brand.embed_origins == list(DEMO_EMBED_ORIGINS)
    document = parse(quiz.live_version.document)
    assert [(q.id, q.kind) for q in document.questions] == [
        ("goal", "single"),
        ("experience", "scale"),
        ("kit", "multiple"),
        ("email", "email"),
        ("tips", "consent"),
    ]
    assert [o.id for o in document.outcomes] == ["first-steps", "light-and-fast", "long-trail"]
    assert all(o.link and o.link.startswith("https://") for o in document.outcomes)
    assert [(r.source, dict(r.when or {}), r.to) for r in document.rules] == [
        ("goal", {"is": "family"}, "kit"),
        ("experience", {"at_most": 2}, "email"),
    ]
    assert [dict(o.effects.traits) for o in document.questions[0].options] == [
        {"goal": "day hikes"},
        {"goal": "multi-day trek"},
        {"goal": "trail running"},
        {"goal": "family outings"},
    ]
    assert Question.objects.filter(version=quiz.live_version).count() == 5


def test_without_local_origins_allowed_the_brand_gets_none(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    brand, _key, quiz = seed_demo()
    assert brand.embed_origins == []
    assert quiz.status == "published"


def test_the_document_is_the_same_for_the_same_notice():
    assert onboarding_document(notice_version="nv_x") == onboarding_document(notice_version="nv_x")


def test_the_demo_quiz_branches_to_its_outcomes(client: Client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    _brand, _key, quiz = seed_demo()

    def run(*answers):
        shown = client.get(page(quiz))
        for value in answers:
            shown = follow(client, answer(client, quiz, state_of(shown.content.decode()), value))
        return shown.content.decode()

    # A beginner skips the kit question; day hikes score "first steps" and "light and fast"
    # alike, and a tie goes to the outcome listed first.
    beginner = run("day-hikes", "1", "", "no")
    assert "First steps outside" in beginner
    assert "<p>Start with <strong>short, well-marked routes</strong> and comfortable shoes.</p>" in beginner
    # A family outing skips the experience question: kit comes second.
    second = follow(client, answer(client, quiz, state_of(client.get(page(quiz)).content.decode()), "family"))
    assert "Which of these do you own already?" in second.content.decode()
    # Scores decide otherwise: a trek with a tent and a pack is the long trail.
    done = run("trekking", "4", ["tent", "backpack"], "", "no")
    assert "Ready for the long trail" in done
    assert 'href="https://demo-outfitters.example/collections/trekking"' in done


def test_the_command_prints_the_quiz_address_and_still_ends_with_the_key(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    out = StringIO()
    call_command("seed_demo", stdout=out)
    quiz = Quiz.objects.get(title=ONBOARDING_TITLE)
    lines = out.getvalue().splitlines()
    assert f"  Quiz:      http://127.0.0.1:8000/q/{quiz.public_id}/ (README: Embed the demo quiz)" in lines
    assert lines[-1].startswith("cnd_")
