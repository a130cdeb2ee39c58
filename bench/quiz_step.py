"""A quiz step over HTTP (issue 13): a person answers a question on the hosted quiz page and the
next question is rendered, against the same run's constant-view ceiling (target: at least 30%).

`BENCH_ONLY=quiz_step python -m bench.run`: on a fresh bench database, the bench brand
(bench.seed.seed_base) and a quiz of six questions published through the real services
(bench.funnel.document). The step is the one request the page's script (static/quizzes/step.js)
makes, as in every browser with JavaScript, which an embedded quiz has: `POST /q/{public_id}/`
with `Candor-Quiz-Step: 1`, the signed progress state and an answer to the second question; the
page checks the answer, counts it in the funnel and answers 200 with the third question. Beside
it, not a target, the same step without JavaScript (POST/redirect/GET: the POST answers 303,
then the GET of the page it names; wrk sends the pair on each connection in order with
bench/wrk/scenario.lua's `then`, one connection per thread, and counts pairs), and the GET alone.
The ceiling is `GET /api/v1/bench/constant` on the same server, one after the other.

The states are made here as the page makes them (quizzes.views.Run, signed with the server's
SECRET_KEY: the same environment), so no request is spent on the quiz's first page. Each is a run
of its own (its random id, as the page gives every run), `RUNS` of them sent round-robin, so each
step is counted as a new run's is: through the funnel's once-per-run check, not skipped by it.
The run also reports the embed loader's size gzipped (static/quizzes/embed.js; the issue's limit
is 5 KB).
"""

from __future__ import annotations

import gzip
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

QUIZ_STEP_RATIO_TARGET = 0.30
RUNS = 40_000  # more than the warm-up and the measured window send at this machine's speed
WARMUP_RUNS = 8_000
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
    from quizzes.models import new_response_id
    from quizzes.services import quiz_create, quiz_publish
    from quizzes.views import Run

    brand = Brand.objects.get(pk=brand_id)
    actor = Actor.system("bench")
    quiz = quiz_create(brand=brand, actor=actor, document=document(purpose_slug, notice_version))
    version = quiz_publish(quiz=quiz, actor=actor)
    started = time.time()
    # On the second question, the first answered: the POST answers "time" (no first-answer
    # "started" count), and the redirect shows "level".
    on_second = [
        Run(
            version=version.pk,
            question="time",
            answers={"goal": "marathon"},
            started=started,
            response=new_response_id(),
        )
        for _ in range(RUNS)
    ]
    on_third = Run(
        version=version.pk, question="level", answers={"goal": "marathon", "time": "some"}, started=started
    )
    path = f"/q/{quiz.public_id}/"
    return {
        "quiz": quiz.public_id,
        "path": path,
        "post_bodies": [
            urlencode({"state": run.dumps(), "answer": "some", "action": "next"}) for run in on_second
        ],
        "next_path": f"{path}?{urlencode({'state': on_third.dumps()})}",
    }


def scenarios(scenario: Any, *, step: dict[str, Any]) -> list[Any]:
    """The ceiling and the quiz step, as bench.run.Scenario objects."""
    from quizzes.views import STEP_HEADER

    form = "application/x-www-form-urlencoded"
    headers = {STEP_HEADER: "1"}
    bodies = step["post_bodies"]
    wholes = [
        "\t".join([step["path"], *(f"{name}: {value}" for name, value in headers.items()), body])
        for body in bodies
    ]
    return [
        scenario("ceiling_constant", "DRF view returning a constant", "GET", "/api/v1/bench/constant", 1),
        scenario(
            "quiz_step",
            "POST an answer from the page's script (Candor-Quiz-Step: 1): 200 with the next question",
            "POST",
            step["path"],
            1,
            content_type=form,
            requests=wholes[WARMUP_RUNS:],
            warmup_requests=wholes[:WARMUP_RUNS],
            check_whole=(step["path"], {**headers, "Content-Type": form}, bodies[0]),
        ),
        # Not targets: the same step without JavaScript, and the page's GET alone.
        scenario(
            "quiz_step_no_js",
            "POST an answer as a plain form (303), then GET the next question it redirects to",
            "POST",
            step["path"],
            1,
            body=bodies[0],  # one run's step again and again: counted once
            content_type=form,
            # urllib follows the 303: the check sees the next question's page.
            expected_status=200,
            numbered=True,  # one connection per wrk thread, so each GET follows its own POST
            then=("GET", step["next_path"], "-"),
            expected_then_status=200,
        ),
        scenario("quiz_question_get", "GET the next question alone", "GET", step["next_path"], 1),
    ]
