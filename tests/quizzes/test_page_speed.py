"""The hosted quiz page's step stays cheap (bench/README.md, BENCH_ONLY=quiz_step): one
prepared statement reads the quiz, its brand and its live version without the draft or the
version's document; a version's document is parsed once per process; and what may change (the
quiz archived, a new version published, the brand's name) is still read on every request."""

from __future__ import annotations

import copy
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from brands.models import Brand
from quizzes import page_selectors
from quizzes.models import QuizVersion
from quizzes.services import quiz_archive, quiz_draft_save, quiz_publish
from quizzes.views import Run
from tests.actors import TEST_ACTOR

pytestmark = pytest.mark.django_db


def states(version: QuizVersion) -> tuple[str, str]:
    """The form body of an answer to the second question, and the page of the third."""
    now = time.time()
    on_level = Run(version=version.pk, question="level", answers={"goal": "marathon"}, started=now)
    on_kit = Run(version=version.pk, question="kit", answers={"goal": "marathon", "level": 4}, started=now)
    return on_level.dumps(), f"/q/{version.quiz.public_id}/?{urlencode({'state': on_kit.dumps()})}"


def test_a_step_reads_one_row_set_and_parses_nothing_again(
    client: Client, live_version: QuizVersion, monkeypatch: Any
):
    state, next_page = states(live_version)
    path = f"/q/{live_version.quiz.public_id}/"
    assert client.post(path, {"state": state, "answer": "4", "action": "next"}).status_code == 303
    assert client.get(next_page).status_code == 200
    parsed: list[Any] = []
    monkeypatch.setattr(page_selectors, "parse", lambda raw: parsed.append(raw))
    with CaptureQueriesContext(connection) as post:
        assert client.post(path, {"state": state, "answer": "4", "action": "next"}).status_code == 303
    with CaptureQueriesContext(connection) as get:
        page = client.get(next_page)
    assert page.status_code == 200
    assert "What do you own already?" in page.content.decode()
    assert parsed == []
    # The POST: the quiz (with brand and live version) and the funnel's upsert; the GET: the quiz.
    assert [q["sql"].split()[0] for q in post.captured_queries] == ["SELECT", "INSERT"]
    assert len(get.captured_queries) == 1
    read = get.captured_queries[0]["sql"]
    assert '"draft"' not in read
    assert '"document"' not in read


def test_what_may_change_is_read_on_every_request(
    client: Client, brand: Brand, live_version: QuizVersion, quiz_document: dict[str, Any]
):
    quiz = live_version.quiz
    assert "What is your goal?" in client.get(f"/q/{quiz.public_id}/").content.decode()
    Brand.objects.filter(pk=brand.pk).update(name="Acme Renamed")
    changed = copy.deepcopy(quiz_document)
    changed["questions"][0]["text"]["en"] = "What is your aim?"
    quiz_draft_save(quiz=quiz, actor=TEST_ACTOR, document=changed)
    quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    html = client.get(f"/q/{quiz.public_id}/").content.decode()
    assert "What is your aim?" in html
    assert "Acme Renamed" in html
    quiz_archive(quiz=quiz, actor=TEST_ACTOR)
    assert client.get(f"/q/{quiz.public_id}/").status_code == 404
