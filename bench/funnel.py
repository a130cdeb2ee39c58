"""A quiz's funnel (issue 13): the server's time for `GET /api/v1/quizzes/{public_id}/funnel`.

`BENCH_ONLY=funnel python -m bench.run`: on a fresh bench database, a quiz published through
the real services, and FunnelCount rows as the quiz page leaves them for 1,000,000 completed
responses spread over 90 days (2,000,000 views; every step: viewed, started, each question
answered, completed, each outcome, the opt-in), beside `OTHER_VERSIONS` other versions' 90 days
of rows, so the table holds what a busy brand's would. Then, timed: the whole request (auth,
throttle, selectors, serializer, renderer) through Django's test client in-process, for the
whole 90 days and for the last 30, `ITERATIONS` times each after a warm-up: p50 and p99
against the target of 100 ms. No HTTP server: what is measured is the server's own time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

FUNNEL_P99_MS = 100.0
RESPONSES = 1_000_000
DAYS = 90
OTHER_VERSIONS = 200
ITERATIONS = 200
WARMUP = 20


class _Recorder:
    """An execute wrapper that notes each statement the request runs."""

    def __init__(self, statements: list[str]) -> None:
        self.statements = statements

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        self.statements.append(sql)
        return execute(sql, params, many, context)


def _is_tx_control(sql: str) -> bool:
    return sql.strip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"))


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def document(purpose_slug: str, notice_version: str) -> dict[str, Any]:
    """Six questions, three outcomes, a consent question: an onboarding quiz's size."""

    def text(en: str) -> dict[str, str]:
        return {"en": en}

    def choice(key: str, options: list[str]) -> dict[str, Any]:
        return {
            "id": key,
            "type": "single",
            "purpose": purpose_slug,
            "text": text(f"{key}?"),
            "options": [
                {"id": o, "label": text(o), "effects": {"scores": {f"plan-{i % 3}": 1}}}
                for i, o in enumerate(options)
            ],
        }

    return {
        "format": 1,
        "language": "en",
        "title": text("Find your plan"),
        "questions": [
            choice("goal", ["marathon", "fit", "social"]),
            choice("time", ["little", "some", "lots"]),
            {
                "id": "level",
                "type": "scale",
                "purpose": purpose_slug,
                "text": text("How fit?"),
                "scale": {"min": 1, "max": 5},
            },
            choice("terrain", ["road", "trail", "track"]),
            {"id": "name", "type": "text", "purpose": purpose_slug, "text": text("Name?"), "required": False},
            {
                "id": "news",
                "type": "consent",
                "purpose": purpose_slug,
                "text": text("Tips by email?"),
                "notice_version": notice_version,
            },
        ],
        "outcomes": [{"id": f"plan-{i}", "title": text(f"Plan {i}")} for i in range(3)],
    }


def _day_rows(version_id: int, day: date, completed: int, purpose_slug: str, rng: random.Random) -> list[Any]:
    from quizzes.models import FunnelCount

    started = int(completed * 1.6)
    viewed = started * 2
    steps = {"viewed": viewed, "started": started, "completed": completed}
    answered = started
    for key in ("goal", "time", "level", "terrain", "name", "news"):
        answered = max(completed, int(answered * rng.uniform(0.88, 0.97)))
        steps[f"answered:{key}"] = answered
    shares = [0.5, 0.3, 0.2]
    for i, share in enumerate(shares):
        steps[f"outcome:plan-{i}"] = int(completed * share)
    steps[f"opted_in:{purpose_slug}"] = int(completed * 0.42)
    return [FunnelCount(version_id=version_id, day=day, step=step, count=n) for step, n in steps.items()]


def seed(
    *, brand_id: int, purpose_slug: str, notice_version: str, log: Callable[[str], None]
) -> dict[str, Any]:
    from django.utils import timezone

    from brands.audit import Actor
    from brands.models import Brand
    from quizzes.models import FunnelCount
    from quizzes.services import quiz_create, quiz_publish

    started = time.monotonic()
    actor = Actor.system("bench")
    brand = Brand.objects.get(pk=brand_id)
    quiz = quiz_create(brand=brand, actor=actor, document=document(purpose_slug, notice_version))
    version = quiz_publish(quiz=quiz, actor=actor)
    others = []
    for n in range(OTHER_VERSIONS):
        other_document = document(purpose_slug, notice_version)
        other_document["title"] = {"en": f"Other quiz {n}"}
        other = quiz_create(brand=brand, actor=actor, document=other_document)
        others.append(quiz_publish(quiz=other, actor=actor))
    today = timezone.now().date()
    days = [today - timedelta(days=offset) for offset in range(DAYS)]
    rng = random.Random(13)
    per_day = RESPONSES // DAYS
    rows: list[Any] = []
    for index, day in enumerate(days):
        completed = per_day + (RESPONSES - per_day * DAYS if index == 0 else 0)
        rows += _day_rows(version.pk, day, completed, purpose_slug, rng)
    FunnelCount.objects.bulk_create(rows, batch_size=5000)
    other_rows = 0
    for other_version in others:
        batch = [row for day in days for row in _day_rows(other_version.pk, day, 500, purpose_slug, rng)]
        FunnelCount.objects.bulk_create(batch, batch_size=5000)
        other_rows += len(batch)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE quizzes_funnelcount")
    seconds = time.monotonic() - started
    log(
        f"bench: funnel rows: {len(rows):,} for the quiz ({RESPONSES:,} responses over {DAYS} days), "
        f"{other_rows:,} for {OTHER_VERSIONS} other quizzes, in {seconds:.1f} s"
    )
    return {
        "quiz": quiz.public_id,
        "version": version.number,
        "quiz_rows": len(rows),
        "other_rows": other_rows,
        "first_day": days[-1].isoformat(),
        "last_day": days[0].isoformat(),
        "seconds": round(seconds, 1),
    }


def run_phase(*, brand_id: int, seeded: dict[str, Any], log: Callable[[str], None]) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client

    from brands.audit import Actor
    from brands.models import Brand, Scope
    from brands.services import api_key_create

    # The funnel needs `admin`; the seeded key has the consent scopes only.
    raw_key = api_key_create(
        brand=Brand.objects.get(pk=brand_id), actor=Actor.system("bench"), scopes=[Scope.ADMIN], name="funnel"
    ).raw_key
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    base = f"/api/v1/quizzes/{seeded['quiz']}/funnel"
    last_30 = (date.fromisoformat(seeded["last_day"]) - timedelta(days=29)).isoformat()
    cases = {
        "funnel_90_days": base,
        "funnel_30_days": f"{base}?from={last_30}&to={seeded['last_day']}&version={seeded['version']}",
    }
    results: dict[str, Any] = {}
    for name, path in cases.items():
        for _ in range(WARMUP):
            response = client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code} {response.content[:300]!r}")
        body = response.json()
        statements: list[str] = []
        with connection.execute_wrapper(_Recorder(statements)):
            client.get(path)
        queries = [sql for sql in statements if not _is_tx_control(sql)]
        timings = []
        for _ in range(ITERATIONS):
            began = time.perf_counter()
            client.get(path)
            timings.append((time.perf_counter() - began) * 1000)
        p50, p99 = _percentile(timings, 0.5), _percentile(timings, 0.99)
        results[name] = {
            "path": path,
            "p50_ms": round(p50, 2),
            "p99_ms": round(p99, 2),
            "queries": len(queries),
            "completed": body["completed"],
            "viewed": body["viewed"],
            "passed": p99 < FUNNEL_P99_MS,
        }
        log(f"bench: {name}: p50 {p50:.2f} ms, p99 {p99:.2f} ms, {len(queries)} queries")
    with connection.cursor() as cursor:
        cursor.execute(
            "EXPLAIN (ANALYZE, BUFFERS) SELECT step, SUM(count) FROM quizzes_funnelcount "
            "WHERE version_id = (SELECT live_version_id FROM quizzes_quiz WHERE public_id = %s) "
            "GROUP BY step",
            [seeded["quiz"]],
        )
        plan = [row[0] for row in cursor.fetchall()]
    return {"cases": results, "plan": plan}


def table(result: dict[str, Any], seeded: dict[str, Any]) -> list[str]:
    lines = [
        f"Funnel of a quiz with {RESPONSES:,} responses over {DAYS} days "
        f"({seeded['quiz_rows']:,} FunnelCount rows; "
        f"{seeded['other_rows']:,} of {OTHER_VERSIONS} other quizzes)",
        f"{'case':<16} {'p50 ms':>8} {'p99 ms':>8} {'queries':>8}",
    ]
    for name, case in result["cases"].items():
        lines.append(f"{name:<16} {case['p50_ms']:8.2f} {case['p99_ms']:8.2f} {case['queries']:8d}")
    lines += ["", "Plan of the funnel's query:", *(f"  {line}" for line in result["plan"])]
    return lines
