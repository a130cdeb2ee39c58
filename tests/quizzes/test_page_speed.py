"""The hosted quiz page's step stays cheap (bench/README.md, BENCH_ONLY=quiz_step): one
prepared statement reads the quiz, its brand and its live version without the draft or the
version's document, and each process keeps that row for QUIZ_PAGE_CACHE_SECONDS; a version's
document is parsed once per process; a change saved in this process shows at once, one saved
elsewhere within those seconds. The funnel's counts are gathered per process and written in one
statement by a timer (and at exit), never lost when a write fails."""

from __future__ import annotations

import copy
import time
import types
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from brands.models import Brand
from brands.services import brand_update
from quizzes import page_selectors, responses
from quizzes.models import FunnelCount, QuizVersion
from quizzes.responses import funnel_count, funnel_flush
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


def test_a_step_reads_nothing_once_the_quiz_is_kept_and_parses_nothing_again(
    client: Client, live_version: QuizVersion, monkeypatch: Any
):
    state, next_page = states(live_version)
    path = f"/q/{live_version.quiz.public_id}/"
    with CaptureQueriesContext(connection) as first:
        assert client.post(path, {"state": state, "answer": "4", "action": "next"}).status_code == 303
    # The first request reads the quiz (with brand and live version: no draft, no document).
    read = first.captured_queries[0]["sql"]
    assert read.startswith("SELECT")
    assert '"draft"' not in read
    assert '"document"' not in read
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
    # The POST: the funnel's count alone (written at once inside a test's transaction); the GET:
    # nothing at all.
    assert [q["sql"].split()[0] for q in post.captured_queries] == ["INSERT"]
    assert get.captured_queries == []


def test_a_change_saved_in_this_process_shows_at_once(
    client: Client, brand: Brand, live_version: QuizVersion, quiz_document: dict[str, Any]
):
    quiz = live_version.quiz
    assert "What is your goal?" in client.get(f"/q/{quiz.public_id}/").content.decode()
    brand_update(brand=brand, actor=TEST_ACTOR, name="Acme Renamed")
    changed = copy.deepcopy(quiz_document)
    changed["questions"][0]["text"]["en"] = "What is your aim?"
    quiz_draft_save(quiz=quiz, actor=TEST_ACTOR, document=changed)
    quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    html = client.get(f"/q/{quiz.public_id}/").content.decode()
    assert "What is your aim?" in html
    assert "Acme Renamed" in html
    quiz_archive(quiz=quiz, actor=TEST_ACTOR)
    assert client.get(f"/q/{quiz.public_id}/").status_code == 404


def test_a_change_saved_elsewhere_shows_within_the_seconds_kept(
    client: Client, brand: Brand, live_version: QuizVersion, monkeypatch: Any, settings: Any
):
    settings.QUIZ_PAGE_CACHE_SECONDS = 5
    quiz = live_version.quiz
    now = [1000.0]
    monkeypatch.setattr(page_selectors, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    assert client.get(f"/q/{quiz.public_id}/").status_code == 200
    # Another process's change: the row is written without this process hearing of it.
    Brand.objects.filter(pk=brand.pk).update(name="Acme Elsewhere")
    now[0] += 4.9
    assert "Acme Elsewhere" not in client.get(f"/q/{quiz.public_id}/").content.decode()
    now[0] += 0.2
    assert "Acme Elsewhere" in client.get(f"/q/{quiz.public_id}/").content.decode()


def test_an_unknown_quiz_is_not_kept(client: Client, live_version: QuizVersion):
    for n in range(3):
        assert client.get(f"/q/qz_unknown{n}/").status_code == 404
    assert page_selectors._live == {}


def test_with_no_seconds_the_quiz_is_read_on_every_request(
    client: Client, live_version: QuizVersion, settings: Any
):
    settings.QUIZ_PAGE_CACHE_SECONDS = 0
    path = f"/q/{live_version.quiz.public_id}/"
    client.get(path)
    with CaptureQueriesContext(connection) as again:
        client.get(path)
    assert again.captured_queries[0]["sql"].startswith("SELECT")


# --- The funnel's counts, gathered ------------------------------------------------------------


def counts(version: QuizVersion) -> dict[str, int]:
    return dict(FunnelCount.objects.filter(version=version).values_list("step", "count"))


@pytest.mark.django_db(transaction=True)
def test_counts_are_gathered_and_written_together_by_the_timer(live_version: QuizVersion, settings: Any):
    settings.QUIZ_FUNNEL_FLUSH_SECONDS = 1
    for _ in range(3):
        funnel_count(version_id=live_version.pk, steps=["viewed"])
    funnel_count(version_id=live_version.pk, steps=["started", "answered:goal"])
    assert counts(live_version) == {}  # not yet
    deadline = time.monotonic() + 10
    while not counts(live_version) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert counts(live_version) == {"viewed": 3, "started": 1, "answered:goal": 1}
    assert responses._pending == {}


@pytest.mark.django_db(transaction=True)
def test_counts_a_write_could_not_take_are_kept_for_the_next(
    live_version: QuizVersion, settings: Any, monkeypatch: Any
):
    settings.QUIZ_FUNNEL_FLUSH_SECONDS = 60  # no timer within the test
    funnel_count(version_id=live_version.pk, steps=["viewed"])
    funnel_count(version_id=live_version.pk, steps=["started"], run="qr_one")
    real = responses._funnel_write

    def down(*written: Any) -> None:
        raise RuntimeError("the database is down")

    monkeypatch.setattr(responses, "_funnel_write", down)
    with pytest.raises(RuntimeError):
        funnel_flush()
    funnel_count(version_id=live_version.pk, steps=["viewed"])
    funnel_count(version_id=live_version.pk, steps=["started"], run="qr_one")  # sent again
    monkeypatch.setattr(responses, "_funnel_write", real)
    assert funnel_flush() == 2
    assert counts(live_version) == {"viewed": 2, "started": 1}


@pytest.mark.django_db(transaction=True)
def test_counts_left_when_the_process_exits_are_written(live_version: QuizVersion, settings: Any):
    settings.QUIZ_FUNNEL_FLUSH_SECONDS = 60
    funnel_count(version_id=live_version.pk, steps=["viewed"])
    responses._flush_at_exit()  # what atexit runs
    assert counts(live_version) == {"viewed": 1}
