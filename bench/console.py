"""A console list page over HTTP (issue 12): the audit log page, served by the bench's WSGI server
to a signed-in owner, against the same run's constant-view ceiling (target: at least 30%).

`BENCH_ONLY=console python -m bench.run`: on a fresh bench database, the bench brand
(bench.seed.seed_base), an owner with an authenticator app (owners must have a second factor),
`AUDIT_ENTRIES` audit entries and four staff sessions per wrk connection (made as Django's login
makes them); then wrk drives `GET /api/v1/bench/constant` and `GET /console/bench/audit/` (a page of
50 entries, newest first: one index range scan of audit_brand_newest) in turn, `ROUNDS` times.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Any

CONSOLE_RATIO_TARGET = 0.30
AUDIT_ENTRIES = 100_000
AUDIT_PATH = "/console/bench/audit/"
OWNER_EMAIL = "owner@bench.example"


def seed_audit(*, brand_id: int, entries: int = AUDIT_ENTRIES) -> int:
    """`entries` topic updates by an API key, spread over the last 90 days, written in bulk (the
    log is append-only: inserts are what it takes)."""
    from django.db import connection
    from django.utils import timezone

    from brands.models import AuditEntry, AuditLog

    now = timezone.now()
    step = timedelta(days=90) / max(entries, 1)
    batch = 10_000
    for start in range(0, entries, batch):
        AuditEntry.objects.bulk_create(
            [
                AuditEntry(
                    brand_id=brand_id,
                    at=now - step * n,
                    actor_kind="api_key",
                    actor_ref="cnd_bench",
                    actor_name="bench",
                    action="topic.updated",
                    target_type="topic",
                    target_id=f"topic-{n % 40}",
                    before={"name": f"Topic {n}"},
                    after={"name": f"Topic {n + 1}"},
                )
                for n in range(start, min(entries, start + batch))
            ]
        )
    # As brands.services.audit_record counts each entry it writes (the audit page keys by it).
    AuditLog.objects.update_or_create(
        brand_id=brand_id, defaults={"entries": AuditEntry.objects.filter(brand_id=brand_id).count()}
    )
    with connection.cursor() as cursor:
        # Now, so autovacuum does not wake up for these rows during the measurement.
        cursor.execute(f"VACUUM ANALYZE {AuditEntry._meta.db_table}, {AuditLog._meta.db_table}")
        with contextlib.suppress(Exception):  # needs superuser or pg_checkpoint
            cursor.execute("CHECKPOINT")
    return entries


def owner_sessions(*, brand_id: int, count: int) -> list[str]:
    """An owner of the bench brand with a second factor, and `count` signed-in sessions of
    theirs as `Cookie` header values (the session store and the fields Django's login writes),
    each with the CSRF cookie a browser holds once it has shown a console page."""
    from allauth.account.models import EmailAddress
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.middleware.csrf import _get_new_csrf_string

    from brands.models import Membership
    from console.sessions import SessionStore

    user = get_user_model().objects.create_user(username=OWNER_EMAIL, email=OWNER_EMAIL)
    EmailAddress.objects.create(user=user, email=OWNER_EMAIL, verified=True, primary=True)
    TOTP.activate(user, generate_totp_secret())
    Membership.objects.create(user=user, brand_id=brand_id, role="owner")
    cookies = []
    for _ in range(count):
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "console.backends.StaffBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        cookies.append(
            f"{settings.SESSION_COOKIE_NAME}={session.session_key}; "
            f"{settings.CSRF_COOKIE_NAME}={_get_new_csrf_string()}"
        )
    return cookies


# A keyset position after every entry (the year 2100) with a random id: the first 50 entries,
# as the first page shows them, under an address no view has asked for before, so each view
# is drawn (read and rendered) rather than answered from the pages a process keeps.
DRAWN_PATH = f"{AUDIT_PATH}?after=4102444800000000.{{id}}"
DRAWN_IDS = 1_000_000


# The ceiling and the page are measured in turn, ROUNDS times ROUND_SECONDS each (the first of
# each after the usual warm-up), and compared over all their rounds. Over a run the machine's
# speed for this work drifts by about ±20% from one minute to the next; measured in turn, every
# stretch of it is shared by both, which windows of a quarter of a minute one after the other
# were not. Rounds of three seconds spread no more than rounds of six, so twelve of them average
# the spread down further than four did (bench/README.md).
ROUNDS = 12
ROUND_SECONDS = 3


def rounds(scenario: Any, *, cookies: list[str]) -> list[tuple[Any, Any]]:
    """(the ceiling, the audit log page) for each round, as bench.run.Scenario objects."""
    return [
        (
            scenario(
                f"ceiling_constant_{n}", "DRF view returning a constant", "GET", "/api/v1/bench/constant", 1
            ),
            scenario(
                f"console_audit_page_{n}",
                "GET the console's audit log page (50 entries) as a signed-in owner",
                "GET",
                AUDIT_PATH,
                1,
                cookies=cookies,
                check_cookie=cookies[0],
            ),
        )
        for n in range(1, ROUNDS + 1)
    ]


def drawn(scenario: Any, *, cookies: list[str]) -> Any:
    """The same page drawn for every view (reported, no target: what a first view costs)."""
    return scenario(
        "console_audit_drawn",
        "the same 50 entries at an address not asked for before: each view read and rendered",
        "GET",
        DRAWN_PATH,
        DRAWN_IDS,
        cookies=cookies,
        check_cookie=cookies[0],
    )


def rate(measured: list[Any]) -> float:
    """Requests per second over several measurements: all their requests over all their time."""
    requests = sum(s.result["requests"] for s in measured)
    seconds = sum(s.result["duration_us"] for s in measured) / 1_000_000
    return float(requests / seconds)
