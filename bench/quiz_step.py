"""A quiz step over HTTP (issue 13): a person answers a question on the hosted quiz page and the
next question is rendered, against the same run's constant-view ceiling (target: at least 30%).

`BENCH_ONLY=quiz_step python -m bench.run`: on a fresh bench database, the bench brand
(bench.seed.seed_base) and a quiz of six questions published through the real services
(bench.funnel.document). One step is the two requests the page's POST/redirect/GET makes:
`POST /q/{public_id}/` with the signed progress state and an answer to the second question (the
page checks it, counts it in the funnel and answers 303), then `GET` of the page the redirect
names, which renders the third question from its state. wrk sends the pair on each connection in
order (bench/wrk/scenario.lua's `then`, one connection per thread) and counts pairs; the ceiling
is `GET /api/v1/bench/constant` on the same server, one after the other.

The states are made here as the page makes them (quizzes.views.Run, signed with the server's
SECRET_KEY: the same environment), so no request is spent on the quiz's first page. The run also
reports the embed loader's size gzipped (static/quizzes/embed.js; the issue's limit is 5 KB).
"""

from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

QUIZ_STEP_RATIO_TARGET = 0.30
LOADER_GZIP_LIMIT = 5 * 1024
LOADER = Path(__file__).resolve().parent.parent / "static" / "quizzes" / "embed.js"


def loader_size() -> dict[str, int]:
    """The loader's bytes as served and gzipped (level 9, as a CDN or nginx's gzip_static would)."""
    raw = LOADER.read_bytes()
    return {"bytes": len(raw), "gzip_bytes": len(gzip.compress(raw, compresslevel=9, mtime=0))}


def seed(*, brand_id: int, purpose_slug: str, notice_version: str) -> dict[str, Any]:
    """The quiz, published, and the two requests of a step: the POST's form body and the path
    of the page its redirect names."""
    from bench.funnel import document
    from brands.audit import Actor
    from brands.models import Brand
    from quizzes.services import quiz_create, quiz_publish
    from quizzes.views import Run

    brand = Brand.objects.get(pk=brand_id)
    actor = Actor.system("bench")
    quiz = quiz_create(brand=brand, actor=actor, document=document(purpose_slug, notice_version))
    version = quiz_publish(quiz=quiz, actor=actor)
    started = time.time()
    # On the second question, the first answered: the POST answers "time" (no first-answer
    # "started" count), and the redirect shows "level".
    on_second = Run(version=version.pk, question="time", answers={"goal": "marathon"}, started=started)
    on_third = Run(
        version=version.pk, question="level", answers={"goal": "marathon", "time": "some"}, started=started
    )
    path = f"/q/{quiz.public_id}/"
    return {
        "quiz": quiz.public_id,
        "path": path,
        "post_body": urlencode({"state": on_second.dumps(), "answer": "some", "action": "next"}),
        "next_path": f"{path}?{urlencode({'state': on_third.dumps()})}",
    }


def scenarios(scenario: Any, *, step: dict[str, Any]) -> list[Any]:
    """The ceiling and the quiz step, as bench.run.Scenario objects."""
    return [
        scenario("ceiling_constant", "DRF view returning a constant", "GET", "/api/v1/bench/constant", 1),
        scenario(
            "quiz_step",
            "POST an answer on the hosted quiz page (303), then GET the next question it redirects to",
            "POST",
            step["path"],
            1,
            body=step["post_body"],
            content_type="application/x-www-form-urlencoded",
            # urllib follows the 303: the check sees the next question's page.
            expected_status=200,
            numbered=True,  # one connection per wrk thread, so each GET follows its own POST
            then=("GET", step["next_path"], "-"),
            expected_then_status=200,
        ),
        # The step's two halves alone (not targets: where the step's time goes).
        scenario(
            "quiz_answer_post",
            "POST an answer on the hosted quiz page alone (303)",
            "POST",
            step["path"],
            1,
            body=step["post_body"],
            content_type="application/x-www-form-urlencoded",
            expected_status=200,
        ),
        scenario("quiz_question_get", "GET the next question alone", "GET", step["next_path"], 1),
    ]
