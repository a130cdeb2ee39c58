"""`make bench`: throughput and latency of the consent API against same-run ceilings.

One run, end to end (about eight minutes on 2 cores):

1. start the bench's own embedded PostgreSQL (var/postgres-bench; stopped when the run ends)
   unless BENCH_DATABASE_URL names a server; drop and recreate the bench database there and
   migrate it with bench.settings;
2. seed a brand, an API key, a purpose with a notice version, 10,000 contacts each with one
   granted consent (through the real services), and 10,000 rows for the read ceiling;
3. count the SQL round trips (and their statements) each endpoint makes per request (in-process);
4. start the WSGI server (BENCH_SERVER: granian, as deploy/Procfile runs it, or gunicorn with
   sync workers; DEBUG=false) on 127.0.0.1 and drive it with wrk:
   the three ceilings and the two endpoints, then top the ledger up to 1,000,000 rows with
   bulk SQL and read again;
5. webhooks (bench.webhooks): one Celery worker's delivery rate against its no-op task rate,
   and the time from a committed consent write to a local receiver getting its webhook;
6. add 1,000,000 outbox events with bulk SQL and page through the brand's whole changes feed
   over HTTP (feed_1m: events/s, page latency, every event exactly once);
7. print the table, write bench/results/latest.json and latest.md.

Needs wrk (the load generator): Debian/Ubuntu `apt-get install wrk`. PostgreSQL and the brokers
come from the locked wheels (Debian's redis-server is used where installed). Exits 0 when the
harness ran (whatever the targets say), non-zero when it could not.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from bench import DATABASE, POSTGRES_ROOT, VALKEY_ROOT
from bench import webhooks as bench_webhooks
from bench.webhooks import HarnessError as WebhookHarnessError
from config.embedded_postgres import EmbeddedPostgres, EmbeddedPostgresError
from config.embedded_valkey import EmbeddedValkey, EmbeddedValkeyError

BENCH_DIR = Path(__file__).resolve().parent
BASE_DIR = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
VAR_DIR = BASE_DIR / "var"
LUA_SCRIPT = BENCH_DIR / "wrk" / "scenario.lua"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


# --- What is measured, and how (README.md explains each choice) -----------------------------
WORKERS = _env_int("BENCH_WORKERS", 4)  # server processes
WRK_THREADS = _env_int("BENCH_THREADS", 2)
WRK_CONNECTIONS = _env_int("BENCH_CONNECTIONS", 8)  # two per worker: one served, one queued
WARMUP_SECONDS = _env_int("BENCH_WARMUP", 3)
DURATION_SECONDS = _env_int("BENCH_DURATION", 12)
CONTACTS = _env_int("BENCH_CONTACTS", 10_000)
CEILING_ROWS = 10_000
LEDGER_ROWS_LARGE = _env_int("BENCH_LEDGER_ROWS", 1_000_000)
# A one-second window: the throttle still runs on every request (as in production), but
# DRF's per-key history list stays short and never refuses a request.
API_RATE_LIMIT = "1000000000/s"

READ_RATIO_TARGET = 0.70
WRITE_RATIO_TARGET = 0.30
PAGE_RATIO_TARGET = 0.30  # issue 3: the preference centre vs ceiling_constant
ONE_CLICK_RATIO_TARGET = 0.50  # issue 3: the one-click POST vs ceiling_insert
FEED_EVENTS = _env_int("BENCH_FEED_EVENTS", 1_000_000)
WEBHOOKS = _env_int("BENCH_WEBHOOKS", 1)  # 0 skips delivery_rate and webhook_latency
# "webhooks": recreate, migrate and seed the database, then run only the webhook phase (no wrk
# scenarios, no feed); its results go to var/bench-webhooks.json, not to bench/results/.
ONLY = os.environ.get("BENCH_ONLY", "").strip()
# "overview": the same for the console's Overview (bench.overview) at its own size, 100,000
# contacts and 1,000,000 ledger events; results in var/bench-overview.json.
# "console": a console list page (the audit log) over HTTP with a staff session against the
# same run's ceiling_constant (bench.console); results in var/bench-console.json.
# "funnel": a quiz's funnel endpoint (bench.funnel) in-process over FunnelCount rows for
# 1,000,000 responses over 90 days; results in var/bench-funnel.json.
# "quiz_step": a step of the hosted quiz page over HTTP (POST an answer, GET the next question)
# against the same run's ceiling_constant (bench.quiz_step); results in var/bench-quiz_step.json.
ONLY_CHOICES = ("", "webhooks", "overview", "console", "funnel", "quiz_step", "connectors", "backfill")
OVERVIEW_CONTACTS = _env_int("BENCH_OVERVIEW_CONTACTS", 100_000)
AUDIT_ENTRIES = _env_int("BENCH_AUDIT_ENTRIES", 100_000)
# The results' file name under bench/results/ (bench.servers runs one per server).
RESULTS_NAME = os.environ.get("BENCH_RESULTS_NAME", "latest").strip() or "latest"
FEED_PAGE = 1000  # the feed's largest page (sync.api.FEED_MAX_LIMIT)
FEED_RATE_TARGET = 20_000  # issue 4: events/s paging through 1,000,000 events
FEED_LABEL = f"GET /api/v1/events?limit={FEED_PAGE}&after={{cursor}} (changes feed)"
READ_P99_MS = 50.0
WRITE_P99_MS = 200.0
SCALE_TOLERANCE = 0.10
MAX_ERROR_SHARE = 0.01  # more failed requests than this and the run is not a measurement


CENTRE_PATH = "/p/bench/"
# verify_ledger runs after this one, so it covers both write loads (consents_post before it).
LAST_WRITE_SCENARIO = "one_click_post"
MOST = 0.5  # one-click: the share of requests that must do the real write for a fair measurement


class HarnessError(Exception):
    """The benchmark could not measure; `make bench` exits non-zero."""


def log(message: str) -> None:
    print(message, flush=True)


# --- Environment -------------------------------------------------------------------------------


def require_tools() -> None:
    """What the run needs beside Python: wrk, checked before anything starts. (PostgreSQL and the
    brokers come from the locked wheels; Debian's redis-server is used where installed.)"""
    if shutil.which("wrk") is None:
        raise HarnessError(
            "not installed: wrk, the HTTP load generator\n"
            "  Debian/Ubuntu: apt-get install wrk   (macOS: brew install wrk)"
        )


@contextlib.contextmanager
def bench_database() -> Iterator[str]:
    """BENCH_DATABASE_URL, or the bench's own embedded PostgreSQL under var/postgres-bench: owned
    by this run, started here and stopped when the block ends (however it ends)."""
    given = os.environ.get("BENCH_DATABASE_URL")
    if given:
        yield given
        return
    server = EmbeddedPostgres(POSTGRES_ROOT)
    try:
        with server.serving(own=True):
            log(f"bench: embedded PostgreSQL in {POSTGRES_ROOT} (started by this run)")
            yield server.url(DATABASE)
    except EmbeddedPostgresError as exc:
        raise HarnessError(f"{exc} (or set BENCH_DATABASE_URL to a server of your own)") from None


@contextlib.contextmanager
def bench_broker() -> Iterator[str]:
    """A Valkey of the run's own (bench.VALKEY_ROOT), empty, stopped when the block ends."""
    shutil.rmtree(VALKEY_ROOT, ignore_errors=True)  # the last run's unread nudges
    try:
        with EmbeddedValkey(VALKEY_ROOT).serving(own=True) as url:
            yield url
    except EmbeddedValkeyError as exc:
        raise HarnessError(str(exc)) from None


def bench_environment(port: int, database_url: str) -> dict[str, str]:
    """What both the harness process and the server run with: production settings, local only."""
    return {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "BENCH_DATABASE_URL": database_url,
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("BENCH_SECRET_KEY") or secrets.token_urlsafe(48),
        "IDENTIFIER_PEPPER": os.environ.get("BENCH_IDENTIFIER_PEPPER") or secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "SECURE_SSL_REDIRECT": "false",
        "API_RATE_LIMIT": API_RATE_LIMIT,
        "CACHE_URL": "locmem://",
        # Production refuses a printing mail backend; bench.settings drops the mail instead.
        "EMAIL_URL": "smtp://127.0.0.1:25",
        "LOG_LEVEL": "WARNING",
        # One-click nudges go to the run's own Valkey (bench_broker; no worker reads it). The
        # webhook scenarios use a Redis of their own (bench.webhooks sets CELERY_BROKER_URL for
        # the processes it starts).
        "CELERY_BROKER_URL": os.environ["CELERY_BROKER_URL"],
        # The webhook receiver is on 127.0.0.1 (bench.receiver).
        "WEBHOOK_ALLOW_PRIVATE": "true",
    }


def free_port(*, any_port: bool = False) -> int:
    if os.environ.get("BENCH_PORT") and not any_port:
        return int(os.environ["BENCH_PORT"])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine_info() -> dict[str, Any]:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_total = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    wrk_version = (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else "?"
    import django
    import granian
    import gunicorn
    import psycopg
    import rest_framework

    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory": mem_total,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "django": django.__version__,
        "djangorestframework": rest_framework.__version__,
        "psycopg": psycopg.__version__,
        "gunicorn": gunicorn.__version__,
        "granian": granian.__version__,
        "wrk": wrk_version,
    }


def git_revision() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=BASE_DIR, capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    revision = result.stdout.strip() or "unknown"
    return f"{revision}+dirty" if dirty.stdout.strip() else revision


# --- Database ----------------------------------------------------------------------------------


def recreate_database(url: str) -> dict[str, str]:
    """Drop and create the bench database (a TCP or, host being a folder, a Unix socket URL)."""
    import dj_database_url
    import psycopg
    from psycopg import sql

    config = dj_database_url.parse(url)
    if config["ENGINE"] != "django.db.backends.postgresql":
        raise HarnessError(f"BENCH_DATABASE_URL must be a postgres:// URL, not {url!r}")
    name = config["NAME"]
    if "bench" not in name:
        raise HarnessError(
            f"Refusing to drop database {name!r}: the bench database is dropped on every run, "
            "so its name must contain 'bench' (e.g. candor_bench)."
        )
    host, port = config.get("HOST") or "127.0.0.1", config.get("PORT") or 5432
    where = f"the socket in {host}" if host.startswith("/") else f"{host}:{port}"
    try:
        admin = psycopg.connect(
            host=host,
            port=port,
            user=config.get("USER") or None,
            password=config.get("PASSWORD") or None,
            dbname="postgres",
            autocommit=True,
            connect_timeout=5,
        )
    except psycopg.OperationalError as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise HarnessError(
            f"PostgreSQL is not reachable at {where} ({detail}).\n"
            "  BENCH_DATABASE_URL must name a PostgreSQL 15+ server and a role that may CREATE "
            "DATABASE;\n  unset it and the run starts an embedded PostgreSQL of its own."
        ) from None
    with admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        info = {"server_version": str(admin.execute("SHOW server_version").fetchone()[0])}
        for setting in ("shared_buffers", "synchronous_commit", "fsync", "max_connections", "work_mem"):
            info[setting] = str(
                admin.execute(sql.SQL("SHOW {}").format(sql.Identifier(setting))).fetchone()[0]
            )
    info["database"] = name
    info["host"] = where
    return info


def fresh_database(env: dict[str, str]) -> dict[str, str]:
    """The run's database, dropped and recreated empty (its address logged without the password)."""
    log(f"bench: database {unquote(env['BENCH_DATABASE_URL'].rsplit('@', 1)[-1])} (dropped and recreated)")
    return recreate_database(env["BENCH_DATABASE_URL"])


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


# --- Queries per request -------------------------------------------------------------------


@dataclass
class QueryCount:
    endpoint: str
    status: int
    statements: int  # every round trip Django sends, BEGIN/COMMIT included
    transaction_control: int  # of which BEGIN, COMMIT, SAVEPOINT, RELEASE, ROLLBACK
    sql: list[str] = field(default_factory=list)  # each round trip's statements, ";\n" between them


def _is_tx_control(statement: str) -> bool:
    return statement.split(None, 1)[0].upper() in {"BEGIN", "COMMIT", "SAVEPOINT", "RELEASE", "ROLLBACK"}


@dataclass(frozen=True)
class QueryCase:
    label: str
    method: str
    path: str
    expected: int
    warm_path: str | None = None  # the warming request's path, when it must differ (a write)
    body: str | None = None
    content_type: str = "application/json"
    api: bool = True  # sends the API key
    token: str | None = None  # another API key than the seeded one
    cookie: str | None = None  # a Cookie header


def count_queries(seeded: Any, extra: list[QueryCase]) -> list[QueryCount]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    body = json.dumps(consent_body(seeded))
    cases = [
        QueryCase("GET /api/v1/contacts/{id}/consents", "get", "/api/v1/contacts/c2/consents", 200),
        QueryCase(
            "POST /api/v1/contacts/{id}/consents", "post", "/api/v1/contacts/c3/consents", 201, body=body
        ),
        *extra,
    ]
    results = []
    for case in cases:
        headers: dict[str, str] = {}
        if case.api:
            headers["HTTP_AUTHORIZATION"] = f"Bearer {case.token or seeded.raw_key}"
        if case.cookie:
            headers["HTTP_COOKIE"] = case.cookie
        client = Client(**headers)
        kwargs: dict[str, Any] = (
            {"data": case.body, "content_type": case.content_type} if case.body is not None else {}
        )
        # Warm: the key's last_used_at is now fresh, caches and templates are loaded; a write
        # warms on another contact, so the counted request does the real write.
        getattr(client, case.method)(case.warm_path or case.path, **kwargs)
        with CaptureQueriesContext(connection) as captured:
            response = getattr(client, case.method)(case.path, **kwargs)
        if response.status_code != case.expected:
            raise HarnessError(f"{case.label} answered {response.status_code}: {response.content[:500]!r}")
        results.append(
            QueryCount(
                endpoint=case.label,
                status=response.status_code,
                statements=len(captured.captured_queries),
                transaction_control=sum(
                    1 for query in captured.captured_queries if _is_tx_control(query["sql"])
                ),
                sql=[query["sql"] for query in captured.captured_queries],
            )
        )
    return results


# --- Server ------------------------------------------------------------------------------------


SERVERS = ("granian", "gunicorn")
SERVER = os.environ.get("BENCH_SERVER", "granian").strip()  # deploy/Procfile's, unless told
GRANIAN_THREADS = _env_int("BENCH_GRANIAN_THREADS", 2)  # blocking threads per granian worker
START_SECONDS = 90  # every worker imports Django and the project; slow on a loaded machine


class Server:
    """The WSGI server under test (BENCH_SERVER: granian, as deploy/Procfile runs it, or gunicorn
    with sync workers), in its own process group, always stopped by `stop()`. Either way
    WORKERS processes; granian also keeps each client connection alive, gunicorn's sync workers
    close it after every response."""

    def __init__(
        self, port: int, env: dict[str, str], log_name: str = "bench-server.log", kind: str | None = None
    ) -> None:
        self.port = port
        self.env = env
        self.kind = kind or SERVER
        if self.kind not in SERVERS:
            raise HarnessError(f"BENCH_SERVER={self.kind!r}; known: {', '.join(SERVERS)}")
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = VAR_DIR / log_name
        self.log_mode = "wb"  # a restart appends

    @property
    def command(self) -> list[str]:
        bindir = Path(sys.executable).parent
        if self.kind == "granian":
            return [
                str(bindir / "granian"),
                "--interface",
                "wsgi",
                "bench.wsgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(WORKERS),
                "--blocking-threads",
                str(GRANIAN_THREADS),
                "--backlog",
                "2048",
                "--log-level",
                "warning",
                "--no-access-log",
            ]
        return [
            str(bindir / "gunicorn"),
            "bench.wsgi:application",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(WORKERS),
            "--worker-class",
            "sync",
            "--backlog",
            "2048",
            "--timeout",
            "60",
            "--log-level",
            "warning",
        ]

    @property
    def description(self) -> str:
        if self.kind == "granian":
            return f"granian {WORKERS} WSGI workers × {GRANIAN_THREADS} blocking threads, keep-alive"
        return f"gunicorn {WORKERS} sync workers"

    def start(self) -> None:
        VAR_DIR.mkdir(exist_ok=True)
        self._log = self.log_path.open(self.log_mode)
        self.log_mode = "ab"
        self.process = subprocess.Popen(
            self.command,
            cwd=BASE_DIR,
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise HarnessError(f"{self.kind} exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}/api/v1/bench/constant", timeout=2
                ) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        raise HarnessError(f"{self.kind} did not answer within {START_SECONDS} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)  # the group this harness started
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
            except ProcessLookupError:
                pass
        self._log.close()
        self.process = None


def check_request(
    port: int,
    method: str,
    path: str,
    token: str | None,
    body: str | None,
    expected: int,
    *,
    cookie: str | None = None,
    content_type: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> None:
    """One request before the load, so a misconfiguration fails loudly instead of as 4xx noise."""
    headers = {"Content-Type": content_type or "application/json"} if body else {}
    headers.update(extra_headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if cookie:
        headers["Cookie"] = cookie
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", method=method, headers=headers, data=body.encode() if body else None
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, content = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, content = exc.code, exc.read()
    if status != expected:
        raise HarnessError(f"{method} {path} answered {status}, not {expected}: {content[:500]!r}")


# --- Load --------------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    description: str
    method: str
    path: str  # "{id}" becomes a random 1..max_id
    max_id: int
    token: str | None = None
    body: str | None = None
    expected_status: int = 200
    ledger_rows: int | None = None
    content_type: str | None = None  # of the body; application/json when not given
    # Per-request paths and Cookie headers, one per line, picked round-robin per thread; the
    # warm-up gets its own files so the measurement starts on lines nobody sent yet.
    paths: list[str] | None = None
    cookies: list[str] | None = None
    warmup_paths: list[str] | None = None
    warmup_cookies: list[str] | None = None
    check_path: str | None = None  # the request sent before the load (default: the template, id 1)
    check_cookie: str | None = None
    # Whole requests, each with its own headers and body (bench/wrk/scenario.lua's requests=): a
    # signed webhook call. The check request then is `check_whole` (path, headers, body).
    requests: list[str] | None = None
    warmup_requests: list[str] | None = None
    check_whole: tuple[str, dict[str, str], str] | None = None
    # A sign-up: "{seq}" in the path and body is new for each request (bench/wrk/scenario.lua),
    # and `then` (method, path, body) follows each request for the same "{seq}": an operation of
    # two requests, counted once. Both run one connection per wrk thread, so the two go in order.
    numbered: bool = False
    then: tuple[str, str, str] | None = None
    expected_then_status: int = 201
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def requests_per_op(self) -> int:
        return 2 if self.then else 1

    @property
    def rps(self) -> float:
        """Operations per second: requests per second, or pairs per second with `then`."""
        return float(self.result["rps"]) / self.requests_per_op


def _lines_file(name: str, lines: list[str] | None) -> list[str]:
    """Write `lines` to var/ for the wrk script; the option that names the file, if any."""
    if not lines:
        return []
    path = VAR_DIR / f"bench-{name}.txt"
    path.write_text("\n".join(lines) + "\n")
    return [f"{name.rsplit('-', 1)[-1]}={path}"]


def wrk(port: int, scenario: Scenario, seconds: int, *, warmup: bool = False) -> dict[str, Any]:
    paths = (warmup and scenario.warmup_paths) or scenario.paths
    cookies = (warmup and scenario.warmup_cookies) or scenario.cookies
    whole = (warmup and scenario.warmup_requests) or scenario.requests
    run = f"{scenario.name}-warmup" if warmup else scenario.name
    options = [
        *_lines_file(f"{run}-paths", paths),
        *_lines_file(f"{run}-cookies", cookies),
        *_lines_file(f"{run}-requests", whole),
    ]
    if options:
        options += ["pick=roundrobin", f"threads={WRK_THREADS}"]
    if scenario.content_type:
        options.append(f"content_type={scenario.content_type}")
    threads = WRK_THREADS
    if scenario.numbered:
        options.append(f"run={run.replace('_', '')}{int(time.time())}")
        threads = WRK_CONNECTIONS  # one connection per thread: a pair's two requests in order
    if scenario.then:
        then_file = VAR_DIR / f"bench-{run}-then.txt"
        then_file.write_text("\n".join(scenario.then) + "\n")
        options.append(f"then={then_file}")
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{WRK_CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        f"http://127.0.0.1:{port}",
        "--",
        scenario.method,
        scenario.path,
        str(scenario.max_id),
        scenario.token or "-",
        scenario.body or "-",
        *options,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("BENCH_JSON ")]
    if completed.returncode != 0 or not lines:
        raise HarnessError(
            f"wrk failed for {scenario.name} (exit {completed.returncode}):\n"
            f"{completed.stdout}\n{completed.stderr}"
        )
    data: dict[str, Any] = json.loads(lines[-1].removeprefix("BENCH_JSON "))
    data["rps"] = data["requests"] / (data["duration_us"] / 1_000_000)
    data["error_count"] = sum(data["errors"].values())
    data["wrk_output"] = [line for line in completed.stdout.splitlines() if not line.startswith("BENCH_JSON")]
    return data


def measure(port: int, scenario: Scenario, *, seconds: int | None = None, warm_up: bool = True) -> None:
    """Check one request, warm up (unless `warm_up` is false: a round after the first), then
    drive the scenario for `seconds` (DURATION_SECONDS by default) and keep wrk's result."""

    def numbered(text: str | None) -> str | None:
        return text.replace("{seq}", "check") if text and scenario.numbered else text

    if scenario.check_whole:
        path, headers, whole_body = scenario.check_whole
        check_request(
            port,
            scenario.method,
            path,
            scenario.token,
            whole_body,
            scenario.expected_status,
            extra_headers=headers,
        )
    else:
        check_request(
            port,
            scenario.method,
            numbered(scenario.check_path or scenario.path.replace("{id}", "1")) or "",
            scenario.token,
            numbered(scenario.body),
            scenario.expected_status,
            cookie=scenario.check_cookie,
            content_type=scenario.content_type,
        )
    if scenario.then:
        method, path, then_body = scenario.then
        check_request(
            port,
            method,
            numbered(path) or "",
            scenario.token,
            numbered(then_body),
            scenario.expected_then_status,
        )
    warmup_requests = 0
    if WARMUP_SECONDS > 0 and warm_up:
        warmup_requests = wrk(port, scenario, WARMUP_SECONDS, warmup=True)["requests"]
    result = wrk(port, scenario, seconds or DURATION_SECONDS)
    result["warmup_requests"] = warmup_requests
    if result["requests"] == 0 or result["error_count"] > MAX_ERROR_SHARE * result["requests"]:
        raise HarnessError(
            f"{scenario.name}: {result['error_count']} of {result['requests']} requests failed "
            f"({result['errors']}); this is not a measurement. See {VAR_DIR / 'bench-server.log'}.\n"
            + "\n".join(result["wrk_output"])
        )
    scenario.result = result
    lat = result["latency_us"]
    per = " pairs/s" if scenario.then else " req/s  "
    log(
        f"  {scenario.name:<20} {scenario.rps:8.1f}{per} p50 {lat['p50'] / 1000:6.2f} ms   "
        f"p99 {lat['p99'] / 1000:6.2f} ms   errors {result['error_count']}"
    )


def consent_body(seeded: Any) -> dict[str, Any]:
    return {
        "purpose": seeded.purpose_slug,
        "decision": "granted",
        "notice_version": seeded.notice_version_public_id,
        "method": "api",
        "evidence": {"ip": "203.0.113.77", "user_agent": "Mozilla/5.0 (bench) wrk/4.1"},
    }


def signup_bodies(seeded: Any) -> tuple[str, str]:
    """The one-request sign-up's body, and the pair's PUT body: the same contact and decision
    (the pair's POST is consents_post's body). "{seq}" makes each address new."""
    consent = consent_body(seeded)
    decision = {key: consent[key] for key in ("purpose", "decision", "notice_version")}
    signup = {
        "contact": {"email": "s{seq}@example.com"},
        "consents": [decision],
        "method": consent["method"],
        "evidence": consent["evidence"],
    }
    put = {"email": "p{seq}@example.com"}
    return json.dumps(signup, separators=(",", ":")), json.dumps(put, separators=(",", ":"))


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def read_feed(port: int, token: str, *, brand_id: int, limit: int = FEED_PAGE) -> dict[str, Any]:
    """Page through the whole changes feed as one consumer does: GET /api/v1/events?limit=…,
    then `after=next_cursor` until has_more is false, one request at a time.

    The rate is every event over the wall time of the whole walk, the consumer's JSON parsing
    included; a page's latency is from sending its request to the last byte of its body. Then
    checks what the feed promises: every event up to the last cursor exactly once (the same ids
    as the database holds there, none twice) and each contact's events in sequence order.
    """
    import http.client

    from bench import seed
    from config.api import decode_cursor_parts

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)  # reconnects as needed
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    latencies: list[float] = []
    ids: list[str] = []
    order: list[tuple[str, int]] = []
    after: str | None = None
    received = 0
    started = time.perf_counter()
    while True:
        path = f"/api/v1/events?limit={limit}" + (f"&after={after}" if after else "")
        sent = time.perf_counter()
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        content = response.read()
        latencies.append(time.perf_counter() - sent)
        if response.status != 200:
            raise HarnessError(f"GET {path} answered {response.status}: {content[:500]!r}")
        received += len(content)
        page = json.loads(content)
        for event in page["events"]:
            ids.append(event["id"])
            if "contact" in event["data"]:  # brand-level events (webhook.test, ...) have no chain
                order.append((event["data"]["contact"], event["data"]["sequence"]))
        after = page["next_cursor"]
        if not page["has_more"]:
            break
    seconds = time.perf_counter() - started
    connection.close()
    last: dict[str, int] = {}
    out_of_order = 0
    for contact, sequence in order:
        if sequence <= last.get(contact, -1):
            out_of_order += 1
        last[contact] = sequence
    seen = set(ids)
    distinct = len(seen)
    end = decode_cursor_parts(after or "", count=2)
    stored = seed.feed_event_ids(brand_id, upto=(end[0], end[1]))
    expected = len(stored)
    missing, unknown = len(stored - seen), len(seen - stored)
    del seen, stored
    result = {
        "events": len(ids),
        "expected_events": expected,
        "brand_events": seed.brand_events(brand_id),
        "distinct_ids": distinct,
        "duplicates": len(ids) - distinct,
        "missing": missing,
        "unknown": unknown,
        "out_of_order": out_of_order,
        "exactly_once": len(ids) == expected == distinct and not (missing or unknown),
        "pages": len(latencies),
        "limit": limit,
        "seconds": round(seconds, 2),
        "events_per_second": round(len(ids) / seconds, 1),
        "bytes": received,
        "latency_ms": {
            "p50": round(_percentile(latencies, 0.50) * 1000, 2),
            "p90": round(_percentile(latencies, 0.90) * 1000, 2),
            "p99": round(_percentile(latencies, 0.99) * 1000, 2),
            "max": round(max(latencies) * 1000, 2),
        },
    }
    log(
        f"  {'feed_1m':<20} {result['events_per_second']:8.0f} events/s   {result['pages']:,} pages in "
        f"{seconds:.1f} s   p50 {result['latency_ms']['p50']:6.2f} ms   "
        f"p99 {result['latency_ms']['p99']:6.2f} ms"
        f"   {len(ids):,} events ({distinct:,} distinct, {expected:,} in the database)"
    )
    return result


# --- Report ------------------------------------------------------------------------------------


@dataclass
class Check:
    scenario: str
    target: str
    measured: str
    passed: bool


def evaluate(by_name: dict[str, Scenario], ledger: dict[str, Any], feed: dict[str, Any]) -> list[Check]:
    checks = []
    read, read_ceiling = by_name["consents_get_10k"], by_name["ceiling_read"]
    write, write_ceiling = by_name["consents_post"], by_name["ceiling_insert"]
    large = by_name["consents_get_1m"]
    page, one_click = by_name["centre_page"], by_name["one_click_post"]
    ratio = read.rps / read_ceiling.rps
    checks.append(
        Check(
            read.name,
            f">= {READ_RATIO_TARGET:.0%} of ceiling_read req/s",
            f"{ratio:.1%}",
            ratio >= READ_RATIO_TARGET,
        )
    )
    ratio = write.rps / write_ceiling.rps
    checks.append(
        Check(
            write.name,
            f">= {WRITE_RATIO_TARGET:.0%} of ceiling_insert req/s",
            f"{ratio:.1%}",
            ratio >= WRITE_RATIO_TARGET,
        )
    )
    for scenario, limit in ((read, READ_P99_MS), (large, READ_P99_MS), (write, WRITE_P99_MS)):
        p99 = scenario.result["latency_us"]["p99"] / 1000
        checks.append(Check(scenario.name, f"p99 < {limit:.0f} ms", f"{p99:.1f} ms", p99 < limit))
    ratio = large.rps / read.rps
    checks.append(
        Check(
            large.name,
            f"req/s within {SCALE_TOLERANCE:.0%} of consents_get_10k",
            f"{ratio:.1%}",
            abs(ratio - 1) <= SCALE_TOLERANCE,
        )
    )
    ratio = page.rps / by_name["ceiling_constant"].rps
    checks.append(
        Check(
            page.name,
            f">= {PAGE_RATIO_TARGET:.0%} of ceiling_constant req/s",
            f"{ratio:.1%}",
            ratio >= PAGE_RATIO_TARGET,
        )
    )
    ratio = one_click.rps / write_ceiling.rps
    checks.append(
        Check(
            one_click.name,
            f">= {ONE_CLICK_RATIO_TARGET:.0%} of ceiling_insert req/s",
            f"{ratio:.1%}",
            ratio >= ONE_CLICK_RATIO_TARGET,
        )
    )
    # Issue 11: the one-request sign-up must beat the two requests it replaces (the targets
    # against the peer are measured by ../shared/peers/side.sh, not here).
    signup, pair = by_name["signup"], by_name["signup_pair"]
    ratio = signup.rps / pair.rps
    checks.append(Check(signup.name, "> signup_pair (sign-ups/s vs pairs/s)", f"{ratio:.2f}x", ratio > 1))
    # Not speed targets: the load must be what it claims, and leave every chain valid.
    share = float(one_click.result.get("real_write_share", 0.0))
    checks.append(
        Check(
            one_click.name,
            f"most requests ({MOST:.0%}+) do the real write (write share)",
            f"{share:.1%}",
            share > MOST,
        )
    )
    checks.append(
        Check(
            one_click.name,
            "verify_ledger passes after the write loads",
            "ok" if ledger.get("ok") else f"{'; '.join(ledger.get('problems', [])) or 'not run'}",
            bool(ledger.get("ok")),
        )
    )
    if feed:
        rate = float(feed["events_per_second"])
        checks.append(
            Check(
                "feed_1m",
                f">= {FEED_RATE_TARGET:,} events/s",
                f"{rate:,.0f} events/s",
                rate >= FEED_RATE_TARGET,
            )
        )
        checks.append(
            Check(
                "feed_1m",
                "every event exactly once, each contact's in sequence order",
                f"{feed['events']:,} events, {feed['distinct_ids']:,} distinct, "
                f"{feed['expected_events']:,} in the database, {feed['missing']} missing, "
                f"{feed['unknown']} unknown, {feed['out_of_order']} out of order",
                bool(feed["exactly_once"]) and not feed["out_of_order"],
            )
        )
    return checks


CEILING_OF = {
    "consents_get_10k": "ceiling_read",
    "consents_get_1m": "ceiling_read",
    "consents_post": "ceiling_insert",
    "signup": "ceiling_insert",
    "signup_pair": "ceiling_insert",
    "centre_page": "ceiling_constant",
    "one_click_post": "ceiling_insert",
}


def feed_table(feed: dict[str, Any], checks: list[Check], statements: int | None) -> list[str]:
    own = [c for c in checks if c.scenario == "feed_1m"]
    rows = [
        ("scenario", "events", "pages", "events/s", "p50 ms", "p99 ms", "SQL/page", "target", "result"),
        (
            "feed_1m",
            f"{feed['events']:,}",
            f"{feed['pages']:,}",
            f"{feed['events_per_second']:,.0f}",
            f"{feed['latency_ms']['p50']:.2f}",
            f"{feed['latency_ms']['p99']:.2f}",
            "-" if statements is None else str(statements),
            own[0].target if own else "-",
            "PASS" if own and all(c.passed for c in own) else "FAIL",
        ),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return lines


def webhook_table(webhooks: dict[str, Any], checks: list[Check]) -> list[str]:
    def result(name: str) -> str:
        own = [c for c in checks if c.scenario == name]
        return "-" if not own else ("PASS" if all(c.passed for c in own) else "FAIL")

    rows = [("scenario", "measured", "vs ceiling", "target", "result")]
    rate = webhooks.get("delivery_rate")
    if rate is not None:
        rows += [
            (
                "ceiling_task",
                f"{rate['ceiling_tasks_per_second']:,.1f} no-op tasks/s",
                "-",
                "(ceiling)",
                "-",
            ),
            (
                "delivery_rate",
                f"{rate['deliveries_per_second']:,.1f} deliveries/s "
                f"on {rate['receiver_connections']} TCP connection(s)",
                f"{rate['ratio_to_ceiling']:.1%}",
                ">= 35% of ceiling_task; keep-alive reused",
                result("delivery_rate"),
            ),
        ]
    latency = webhooks.get("latency") or {}
    measured = [(f"webhook_latency_{key}", latency[key]) for key in ("idle", "load") if key in latency]
    for name, data in measured:
        lat = data.get("latency_s", {})
        rate_text = ""
        if "achieved_rate" in data:
            rate_text = f" at {data['achieved_rate']:,.0f} writes/s (offered {data['offered_rate']})"
        rows.append(
            (
                name,
                f"p50 {lat.get('p50', float('nan')):.3f} s, p99 {lat.get('p99', float('nan')):.3f} s; "
                f"{data['delivered']:,}/{data['writes']:,} delivered{rate_text}",
                "-",
                "median < 1 s" if name.endswith("idle") else "p99 < 5 s",
                result(name),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return lines


def table(
    scenarios: list[Scenario],
    checks: list[Check],
    feed: dict[str, Any] | None = None,
    feed_statements: int | None = None,
    webhooks: dict[str, Any] | None = None,
) -> str:
    by_name = {s.name: s for s in scenarios}
    rows = [("scenario", "ledger rows", "req/s", "p50 ms", "p99 ms", "vs ceiling", "target", "result")]
    for scenario in scenarios:
        lat = scenario.result["latency_us"]
        ceiling = CEILING_OF.get(scenario.name)
        ratio = f"{scenario.rps / by_name[ceiling].rps:.1%}" if ceiling else "-"
        own = [
            c
            for c in checks
            if c.scenario == scenario.name and not c.target.startswith(("verify_ledger", "most requests"))
        ]
        target = "; ".join(c.target.replace(" req/s", "") for c in own) or ("-" if ceiling else "(ceiling)")
        result = "-" if not own else ("PASS" if all(c.passed for c in own) else "FAIL")
        rows.append(
            (
                scenario.name,
                f"{scenario.ledger_rows:,}" if scenario.ledger_rows is not None else "-",
                f"{scenario.rps:,.0f}",
                f"{lat['p50'] / 1000:.2f}",
                f"{lat['p99'] / 1000:.2f}",
                ratio,
                target,
                result,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    if feed:
        lines += ["", *feed_table(feed, checks, feed_statements)]
    if webhooks:
        lines += ["", *webhook_table(webhooks, checks)]
    lines.append("")
    lines.append("Checks:")
    for check in checks:
        lines.append(
            f"  {'PASS' if check.passed else 'FAIL'}  {check.scenario}: {check.target} "
            f"(measured {check.measured})"
        )
    return "\n".join(lines)


def query_report(counts: list[QueryCount]) -> str:
    lines = []
    for count in counts:
        lines.append(
            f"{count.endpoint}: {count.statements} SQL round trips per request"
            + (f" ({count.transaction_control} of them BEGIN/COMMIT)" if count.transaction_control else "")
        )
        for number, trip in enumerate(count.sql, 1):
            # config.db.select_many sends several statements in one round trip (a pipeline).
            for part, statement in enumerate(trip.split(";\n")):
                short = " ".join(statement.split())
                lead = f"{number:2}." if part == 0 else "   +"
                lines.append(f"  {lead} {short[:150]}{'…' if len(short) > 150 else ''}")
    return "\n".join(lines)


# --- Main --------------------------------------------------------------------------------------


def run(database_url: str) -> dict[str, Any]:
    started = time.monotonic()
    port = free_port()
    env = bench_environment(port, database_url)
    os.environ.update(env)
    notes: list[str] = []

    database = fresh_database(env)

    import django

    django.setup()
    from django.db import connection

    from bench import seed
    from config.api import encode_cursor

    step = time.monotonic()
    migrate()
    log(f"bench: migrated in {time.monotonic() - step:.1f} s")

    step = time.monotonic()
    seeded = seed.seed_base(contacts=CONTACTS, ceiling_rows=CEILING_ROWS, log=log)
    log(
        f"bench: seeded {CONTACTS:,} contacts with one granted consent each "
        f"in {time.monotonic() - step:.1f} s"
    )

    step = time.monotonic()
    pages = seed.seed_pages(seeded)
    log(
        f"bench: topic '{pages.topic_slug}' on the bench purpose, {pages.subscriptions:,} contacts "
        f"subscribed to it by email in {time.monotonic() - step:.1f} s"
    )
    # Contacts 1-3 are the one-click's own: warming and counting SQL, and the check before the
    # load. The rest, shuffled, go to the load: a fifth to the warm-up, the others to the
    # measurement, each unsubscribed by one request (round-robin, so a token comes back only
    # once the whole list was sent).
    load_numbers = list(range(4, CONTACTS + 1))
    random.Random(3).shuffle(load_numbers)
    warmup_share = WARMUP_SECONDS / (WARMUP_SECONDS + DURATION_SECONDS) if WARMUP_SECONDS > 0 else 0
    split = round(len(load_numbers) * warmup_share)
    [warm_link, counted_link, check_link] = seed.unsubscribe_paths(seeded, pages, [1, 2, 3])
    warmup_links = seed.unsubscribe_paths(seeded, pages, load_numbers[:split]) if split else None
    measured_links = seed.unsubscribe_paths(seeded, pages, load_numbers[split:])
    cookies = seed.session_cookies(seeded, list(range(1, CONTACTS + 1)))
    one_click_body = "List-Unsubscribe=One-Click"
    form = "application/x-www-form-urlencoded"
    page_cases = [
        QueryCase(
            "GET /p/{brand}/ (preference centre)", "get", CENTRE_PATH, 200, api=False, cookie=cookies[1]
        ),
        QueryCase(
            "POST /p/{brand}/u/{token} (one-click unsubscribe)",
            "post",
            counted_link,
            200,
            warm_path=warm_link,
            body=one_click_body,
            content_type=form,
            api=False,
        ),
    ]

    feed_token = seed.feed_key(seeded)
    page_cases.append(
        QueryCase(
            FEED_LABEL,
            "get",
            f"/api/v1/events?limit={FEED_PAGE}&after={encode_cursor(0, 0)}",
            200,
            token=feed_token,
        )
    )
    counts = count_queries(seeded, page_cases)
    log("bench: SQL per request (warm, in-process):")
    log(query_report(counts))
    connection.close()

    body = json.dumps(consent_body(seeded), separators=(",", ":"))
    signup_body, pair_put_body = signup_bodies(seeded)
    scenarios = [
        Scenario("ceiling_constant", "DRF view returning a constant", "GET", "/api/v1/bench/constant", 1),
        Scenario(
            "ceiling_read", "DRF view reading one row by pk", "GET", "/api/v1/bench/read/{id}", CEILING_ROWS
        ),
        Scenario(
            "consents_get_10k",
            "GET current consents",
            "GET",
            "/api/v1/contacts/c{id}/consents",
            CONTACTS,
            token=seeded.raw_key,
        ),
        Scenario(
            "ceiling_insert",
            "DRF view inserting one row",
            "POST",
            "/api/v1/bench/insert",
            1,
            body='{"value":"bench"}',
            expected_status=201,
        ),
        Scenario(
            "consents_post",
            "POST a granted consent",
            "POST",
            "/api/v1/contacts/c{id}/consents",
            CONTACTS,
            token=seeded.raw_key,
            body=body,
            expected_status=201,
        ),
        Scenario(
            "signup",
            "POST a sign-up: a new contact and one granted consent, one request",
            "POST",
            "/api/v1/contacts/s{seq}/signup",
            1,
            token=seeded.raw_key,
            body=signup_body,
            expected_status=201,
            numbered=True,
        ),
        Scenario(
            "signup_pair",
            "PUT a new contact then POST its granted consent (pairs/s)",
            "PUT",
            "/api/v1/contacts/p{seq}",
            1,
            token=seeded.raw_key,
            body=pair_put_body,
            expected_status=201,
            numbered=True,
            then=("POST", "/api/v1/contacts/p{seq}/consents", body),
        ),
        Scenario(
            "centre_page",
            "GET the preference centre with a session cookie",
            "GET",
            CENTRE_PATH,
            1,
            cookies=cookies,
            check_cookie=cookies[0],
        ),
        Scenario(
            "one_click_post",
            "cookieless RFC 8058 one-click unsubscribe POST",
            "POST",
            "/p/bench/u/{token}",
            1,
            body=one_click_body,
            content_type=form,
            paths=measured_links,
            warmup_paths=warmup_links,
            check_path=check_link,
        ),
        Scenario(
            "ceiling_read_1m",
            "ceiling_read again (drift control)",
            "GET",
            "/api/v1/bench/read/{id}",
            CEILING_ROWS,
        ),
        Scenario(
            "consents_get_1m",
            "GET current consents",
            "GET",
            "/api/v1/contacts/c{id}/consents",
            CONTACTS,
            token=seeded.raw_key,
        ),
    ]
    by_name = {s.name: s for s in scenarios}
    server = Server(port, env)
    fill: dict[str, Any] = {}
    ledger: dict[str, Any] = {}
    feed_fill: dict[str, Any] = {}
    feed: dict[str, Any] = {}
    webhooks: dict[str, Any] = {}
    try:
        server.start()
        log(
            f"bench: {server.description} on 127.0.0.1:{port}; wrk -t{WRK_THREADS} "
            f"-c{WRK_CONNECTIONS}, {WARMUP_SECONDS} s warm-up + {DURATION_SECONDS} s per scenario"
        )
        for scenario in scenarios:
            if scenario.name == "ceiling_read_1m":
                step = time.monotonic()
                fill = seed.fill_ledger(total=LEDGER_ROWS_LARGE, seeded=seeded)
                connection.close()
                log(
                    f"bench: ledger topped up to {fill['events']:,} events (+{fill['inserted']:,} synthetic) "
                    f"in {time.monotonic() - step:.1f} s"
                )
            if scenario.name.startswith("consents_get"):
                scenario.ledger_rows = seed.ledger_rows()
                connection.close()
            measure(port, scenario)
            if scenario.name == "one_click_post":
                # The POSTs were accepted durably; a worker applies them (preferences.one_click).
                # Here one process does the worker's job in-process, timed: its drain rate.
                step = time.monotonic()
                applied = seed.one_click_drain()
                seconds = time.monotonic() - step
                connection.close()
                scenario.result["applied"] = applied
                scenario.result["applied_per_second"] = round(applied / seconds, 1) if seconds else 0.0
                log(f"bench: one worker process applied {applied:,} accepted one-clicks in {seconds:.1f} s")
                load_writes = seed.one_click_writes(seeded, exclude=[1, 2, 3])
                sent = scenario.result["requests"] + scenario.result["warmup_requests"]
                scenario.result["real_writes"] = load_writes
                scenario.result["real_write_share"] = round(load_writes / sent, 4) if sent else 0.0
                log(
                    f"bench: {load_writes:,} of the {sent:,} one-click requests (warm-up included) "
                    f"unsubscribed and withdrew consent; the rest found it done already"
                )
            if scenario.name == LAST_WRITE_SCENARIO:
                ledger = seed.ledger_check(seeded)
                connection.close()
                log(
                    f"bench: verify_ledger after the write loads: {'ok' if ledger['ok'] else 'FAILED'} "
                    f"({ledger['events']:,} events, {ledger['seconds']} s) {'; '.join(ledger['problems'])}"
                )
        if WEBHOOKS:
            # A worker, beat, a receiver and a gunicorn on the Redis broker of their own.
            server.stop()
            log("bench: webhooks (one Celery worker, Redis broker, a local receiver)")
            webhooks = bench_webhooks.run_phase(
                port=port,
                receiver_port=free_port(any_port=True),
                seeded=seeded,
                env=env,
                server_factory=Server,
            )
            connection.close()
            if FEED_EVENTS > 0:
                server.start()
        if FEED_EVENTS > 0:
            # Last, so the million events weigh on no other scenario.
            step = time.monotonic()
            feed_fill = seed.fill_events(total=FEED_EVENTS, seeded=seeded, pages=pages)
            connection.close()
            log(
                f"bench: {feed_fill['inserted']:,} synthetic outbox events "
                f"({feed_fill['transactions']:,} transactions, {feed_fill['contacts']:,} contacts) added in "
                f"{time.monotonic() - step:.1f} s; the brand's feed holds {feed_fill['events']:,}"
            )
            feed = read_feed(port, feed_token, brand_id=seeded.brand_id)
            connection.close()
    finally:
        server.stop()

    checks = evaluate(by_name, ledger, feed)
    if webhooks:
        checks += [Check(*check) for check in bench_webhooks.checks(webhooks)]
    feed_statements = next((c.statements for c in counts if c.endpoint == FEED_LABEL), None)
    report_table = table(scenarios, checks, feed, feed_statements, webhooks)
    return {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision(),
        "seconds": round(time.monotonic() - started, 1),
        "machine": machine_info(),
        "database": database,
        "server": {
            "kind": server.kind,
            "description": server.description,
            "command": " ".join([Path(server.command[0]).name, *server.command[1:]]),
            "workers": WORKERS,
            "settings": "bench.settings (config.settings + bench.ceiling), DEBUG=false",
            "api_rate_limit": API_RATE_LIMIT,
            "cache": "locmem:// (per worker)",
        },
        "load": {
            "tool": "wrk",
            "threads": WRK_THREADS,
            "connections": WRK_CONNECTIONS,
            "warmup_seconds": WARMUP_SECONDS,
            "duration_seconds": DURATION_SECONDS,
            "contacts": CONTACTS,
            "post_body": json.loads(body),
            "one_click_body": one_click_body,
            "one_click_links": {"warmup": len(warmup_links or []), "measured": len(measured_links)},
            "centre_cookies": len(cookies),
        },
        "seeding": {
            **asdict(seeded),
            "raw_key": "(not recorded)",
            "pages": asdict(pages),
            "ledger_fill": fill,
            "feed_fill": feed_fill,
        },
        "ledger_verification_after_writes": ledger,
        "queries_per_request": [asdict(count) for count in counts],
        "scenarios": [
            {
                "name": s.name,
                "description": s.description,
                "request": f"{s.method} {s.path}",
                "ledger_rows": s.ledger_rows,
                "ceiling": CEILING_OF.get(s.name),
                "ratio_to_ceiling": round(s.rps / by_name[CEILING_OF[s.name]].rps, 4)
                if s.name in CEILING_OF
                else None,
                **{k: v for k, v in s.result.items() if k != "wrk_output"},
                "wrk_output": s.result["wrk_output"],
            }
            for s in scenarios
        ],
        "feed": {
            "name": "feed_1m",
            "request": f"GET /api/v1/events?limit={FEED_PAGE}&after=<next_cursor>, one at a time, "
            "until has_more is false",
            "client": "http.client in the harness process, json.loads of every page",
            "sql_statements_per_page": feed_statements,
            **feed,
        }
        if feed
        else None,
        "webhooks": webhooks or None,
        "checks": [asdict(check) for check in checks],
        "notes": notes,
        "table": report_table,
        "queries_text": query_report(counts),
    }


def run_overview_only(database_url: str) -> dict[str, Any]:
    """BENCH_ONLY=overview: the console's Overview (bench.overview) on a fresh database of
    OVERVIEW_CONTACTS contacts and LEDGER_ROWS_LARGE ledger events."""
    started = time.monotonic()
    env = bench_environment(free_port(), database_url)
    os.environ.update(env)
    database = fresh_database(env)

    import django

    django.setup()
    from django.db import connection

    from bench import overview, seed

    migrate()
    step = time.monotonic()
    seeded = seed.seed_base(contacts=OVERVIEW_CONTACTS, ceiling_rows=1, log=log)
    pages = seed.seed_pages(seeded)
    log(
        f"bench: seeded {OVERVIEW_CONTACTS:,} contacts, each with a granted consent and a subscription "
        f"({pages.subscriptions:,}), in {time.monotonic() - step:.1f} s"
    )
    step = time.monotonic()
    fill = seed.fill_ledger(total=LEDGER_ROWS_LARGE, seeded=seeded)
    connection.close()
    log(f"bench: ledger topped up to {fill['events']:,} events in {time.monotonic() - step:.1f} s")
    result = overview.run_phase(brand_id=seeded.brand_id, purpose_slug=seeded.purpose_slug, log=log)
    connection.close()
    passed = result["overview"]["passed"]
    check = Check(
        "overview",
        f"p99 < {overview.OVERVIEW_P99_MS:.0f} ms",
        f"{result['overview']['p99_ms']} ms",
        passed,
    )
    lines = [*overview.table(result), "", "Checks:"]
    verdict = "PASS" if check.passed else "FAIL"
    lines.append(f"  {verdict}  {check.scenario}: {check.target} (measured {check.measured})")
    return {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision(),
        "seconds": round(time.monotonic() - started, 1),
        "machine": machine_info(),
        "database": database,
        "seeding": {
            **asdict(seeded),
            "raw_key": "(not recorded)",
            "pages": asdict(pages),
            "ledger_fill": fill,
        },
        "overview": result,
        "checks": [asdict(check)],
        "notes": [],
        "table": "\n".join(lines),
    }


def run_console_only(database_url: str) -> dict[str, Any]:
    """BENCH_ONLY=console: the console's audit log page served over HTTP to a signed-in owner,
    against ceiling_constant measured in the same run (bench.console)."""
    started = time.monotonic()
    port = free_port()
    env = bench_environment(port, database_url)
    os.environ.update(env)
    database = fresh_database(env)

    import django

    django.setup()
    from django.db import connection

    from bench import console, seed

    migrate()
    step = time.monotonic()
    seeded = seed.seed_base(contacts=1000, ceiling_rows=1, log=log)
    entries = console.seed_audit(brand_id=seeded.brand_id, entries=AUDIT_ENTRIES)
    cookies = console.owner_sessions(brand_id=seeded.brand_id, count=WRK_CONNECTIONS * 4)
    connection.close()
    log(
        f"bench: seeded {entries:,} audit entries and {len(cookies)} staff sessions "
        f"in {time.monotonic() - step:.1f} s"
    )
    rounds = console.rounds(Scenario, cookies=cookies)
    drawn = console.drawn(Scenario, cookies=cookies)
    server = Server(port, env)
    log(f"bench: starting {server.description} on 127.0.0.1:{port}")
    server.start()
    try:
        for n, (ceiling, page) in enumerate(rounds):
            measure(port, ceiling, seconds=console.ROUND_SECONDS, warm_up=n == 0)
            measure(port, page, seconds=console.ROUND_SECONDS, warm_up=n == 0)
        measure(port, drawn)
    finally:
        server.stop()
    ceiling_rps = console.rate([ceiling for ceiling, _ in rounds])
    page_rps = console.rate([page for _, page in rounds])
    ratio = page_rps / ceiling_rps
    by_round = [page.rps / ceiling.rps for ceiling, page in rounds]
    check = Check(
        "console_audit_page",
        f">= {console.CONSOLE_RATIO_TARGET:.0%} of ceiling_constant req/s "
        f"({len(rounds)} rounds of each, in turn)",
        f"{ratio:.1%}",
        ratio >= console.CONSOLE_RATIO_TARGET,
    )
    measured = [s for pair in rounds for s in pair] + [drawn]
    lines = [
        f"{'scenario':<20} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}",
        *(
            f"{s.name:<20} {s.rps:9.1f} {s.result['latency_us']['p50'] / 1000:8.2f} "
            f"{s.result['latency_us']['p99'] / 1000:8.2f}"
            for s in measured
        ),
        "",
        f"over the rounds: ceiling_constant {ceiling_rps:,.1f} req/s, console_audit_page {page_rps:,.1f}",
        "each round's ratio: " + ", ".join(f"{r:.1%}" for r in by_round),
        f"console_audit_drawn (every view read and rendered, no target): {drawn.rps / ceiling_rps:.1%} "
        "of ceiling_constant",
        "",
        "Checks:",
        f"  {'PASS' if check.passed else 'FAIL'}  {check.scenario}: {check.target} "
        f"(measured {check.measured})",
    ]
    return {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision(),
        "seconds": round(time.monotonic() - started, 1),
        "machine": machine_info(),
        "database": database,
        "server": {"kind": server.kind, "description": server.description},
        "seeding": {"audit_entries": entries, "staff_sessions": len(cookies), "contacts": seeded.contacts},
        "scenarios": {
            s.name: {key: value for key, value in s.result.items() if key != "wrk_output"} for s in measured
        },
        "rounds": {
            "seconds": console.ROUND_SECONDS,
            "ceiling_constant_rps": round(ceiling_rps, 1),
            "console_audit_page_rps": round(page_rps, 1),
            "ratio_by_round": [round(r, 4) for r in by_round],
        },
        "checks": [asdict(check)],
        "notes": [],
        "table": "\n".join(lines),
    }


def run_webhooks_only(database_url: str) -> dict[str, Any]:
    """BENCH_ONLY=webhooks: the webhook phase alone, on a freshly seeded database (the same seed
    as a full run: its contacts' outbox events make the deliveries and the latency writes)."""
    started = time.monotonic()
    port = free_port()
    env = bench_environment(port, database_url)
    os.environ.update(env)
    database = fresh_database(env)

    import django

    django.setup()
    from django.db import connection

    from bench import seed

    notes: list[str] = []
    migrate()
    step = time.monotonic()
    seeded = seed.seed_base(contacts=CONTACTS, ceiling_rows=CEILING_ROWS, log=log)
    connection.close()
    log(f"bench: seeded {CONTACTS:,} contacts, one granted consent each, in {time.monotonic() - step:.1f} s")
    log(f"bench: webhooks only ({', '.join(sorted(bench_webhooks.SCENARIOS))})")
    webhooks = bench_webhooks.run_phase(
        port=port, receiver_port=free_port(any_port=True), seeded=seeded, env=env, server_factory=Server
    )
    connection.close()
    checks = [Check(*check) for check in bench_webhooks.checks(webhooks)]
    lines = [*webhook_table(webhooks, checks), "", "Checks:"]
    for c in checks:
        lines.append(f"  {'PASS' if c.passed else 'FAIL'}  {c.scenario}: {c.target} (measured {c.measured})")
    return {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision(),
        "seconds": round(time.monotonic() - started, 1),
        "machine": machine_info(),
        "database": database,
        "webhooks": webhooks,
        "checks": [asdict(check) for check in checks],
        "notes": notes,
        "table": "\n".join(lines),
    }


def run_funnel_only(database_url: str) -> dict[str, Any]:
    """BENCH_ONLY=funnel: a quiz's funnel (bench.funnel) on a fresh database, FunnelCount rows for
    1,000,000 responses over 90 days, the endpoint's server time in-process."""
    started = time.monotonic()
    env = bench_environment(free_port(), database_url)
    os.environ.update(env)
    database = fresh_database(env)

    import django

    django.setup()
    from django.db import connection

    from bench import funnel, seed

    migrate()
    seeded = seed.seed_base(contacts=10, ceiling_rows=1, log=log)
    rows = funnel.seed(
        brand_id=seeded.brand_id,
        purpose_slug=seeded.purpose_slug,
        notice_version=seeded.notice_version_public_id,
        log=log,
    )
    connection.close()
    result = funnel.run_phase(brand_id=seeded.brand_id, seeded=rows, log=log)
    connection.close()
    checks = [
        Check(name, f"p99 < {funnel.FUNNEL_P99_MS:.0f} ms", f"{case['p99_ms']} ms", case["passed"])
        for name, case in result["cases"].items()
    ]
    lines = [*funnel.table(result, rows), "", "Checks:"]
    for check in checks:
        verdict = "PASS" if check.passed else "FAIL"
        lines.append(f"  {verdict}  {check.scenario}: {check.target} (measured {check.measured})")
    return {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision(),
        "seconds": round(time.monotonic() - started, 1),
        "machine": machine_info(),
        "database": database,
        "seeding": {"funnel": rows},
        "funnel": result,
        "checks": [asdict(check) for check in checks],
        "notes": [],
        "table": "\n".join(lines),
    }


def run_quiz_step_only(database_url: str) -> dict[str, Any]:
    """BENCH_ONLY=quiz_step: a step of the hosted quiz page (POST an answer, GET the next
    question) served over HTTP, against ceiling_constant measured in the same run
    (bench.quiz_step); and the embed loader's gzipped size."""
    started = time.monotonic()
    port = free_port()
    env = bench_environment(port, database_url)
    os.environ.update(env)
    database = fresh_database(env)

    import django

    django.setup()
    from django.db import connection

    from bench import quiz_step, seed

    migrate()
    seeded = seed.seed_base(contacts=10, ceiling_rows=1, log=log)
    step = quiz_step.seed(
        brand_id=seeded.brand_id,
        purpose_slug=seeded.purpose_slug,
        notice_version=seeded.notice_version_public_id,
    )
    connection.close()
    loader = quiz_step.loader_size()
    log(
        f"bench: published quiz {step['quiz']}; "
        f"embed.js {loader['bytes']:,} bytes, {loader['gzip_bytes']:,} gzipped"
    )
    scenarios = quiz_step.scenarios(Scenario, step=step)
    server = Server(port, env)
    log(f"bench: starting {server.description} on 127.0.0.1:{port}")
    server.start()
    try:
        for scenario in scenarios:
            measure(port, scenario)
    finally:
        server.stop()
    by_name = {s.name: s for s in scenarios}
    page, ceiling = by_name["quiz_step"], by_name["ceiling_constant"]
    ratio = page.rps / ceiling.rps
    checks = [
        Check(
            "quiz_step",
            f">= {quiz_step.QUIZ_STEP_RATIO_TARGET:.0%} of ceiling_constant req/s (steps/s: one POST)",
            f"{ratio:.1%}",
            ratio >= quiz_step.QUIZ_STEP_RATIO_TARGET,
        ),
        Check(
            "embed_js_gzip",
            f"< {quiz_step.LOADER_GZIP_LIMIT:,} bytes gzipped",
            f"{loader['gzip_bytes']:,} bytes",
            loader["gzip_bytes"] < quiz_step.LOADER_GZIP_LIMIT,
        ),
    ]
    lines = [
        f"{'scenario':<20} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8}",
        *(
            f"{s.name:<20} {s.rps:9.1f} {s.result['latency_us']['p50'] / 1000:8.2f} "
            f"{s.result['latency_us']['p99'] / 1000:8.2f}"
            for s in scenarios
        ),
        "(quiz_step: steps/s, one request each; quiz_step_no_js: steps/s, each a POST and a GET,"
        " its latencies per request)",
        f"embed.js: {loader['bytes']:,} bytes, {loader['gzip_bytes']:,} bytes gzipped",
        "",
        "Checks:",
        *(
            f"  {'PASS' if c.passed else 'FAIL'}  {c.scenario}: {c.target} (measured {c.measured})"
            for c in checks
        ),
    ]
    return {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git": git_revision(),
        "seconds": round(time.monotonic() - started, 1),
        "machine": machine_info(),
        "database": database,
        "server": {"kind": server.kind, "description": server.description},
        "seeding": {"quiz": step["quiz"], "contacts": seeded.contacts},
        "loader": loader,
        "scenarios": {
            s.name: {key: value for key, value in s.result.items() if key != "wrk_output"} for s in scenarios
        },
        "checks": [asdict(check) for check in checks],
        "notes": [],
        "table": "\n".join(lines),
    }


def main() -> int:
    def terminate(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    if ONLY not in ONLY_CHOICES:
        print(
            f"bench: FAILED: BENCH_ONLY={ONLY!r}; known: {', '.join(ONLY_CHOICES[1:])}",
            file=sys.stderr,
            flush=True,
        )
        return 2
    server = (
        "BENCH_DATABASE_URL"
        if os.environ.get("BENCH_DATABASE_URL")
        else f"embedded, {POSTGRES_ROOT.relative_to(BASE_DIR)}, started by the run"
    )
    try:
        require_tools()
        with bench_database() as database_url, bench_broker() as broker_url:
            os.environ["CELERY_BROKER_URL"] = broker_url
            if ONLY == "webhooks":
                report = run_webhooks_only(database_url)
            elif ONLY == "overview":
                report = run_overview_only(database_url)
            elif ONLY == "console":
                report = run_console_only(database_url)
            elif ONLY == "funnel":
                report = run_funnel_only(database_url)
            elif ONLY == "quiz_step":
                report = run_quiz_step_only(database_url)
            elif ONLY == "connectors":
                from bench import connectors as bench_connectors

                report = bench_connectors.run(database_url, sys.modules[__name__])
            elif ONLY == "backfill":
                from bench import backfill as bench_backfill

                report = bench_backfill.run(database_url, sys.modules[__name__])
            else:
                report = run(database_url)
    except (HarnessError, WebhookHarnessError) as exc:
        print(f"bench: FAILED: {exc}", file=sys.stderr, flush=True)
        return 2
    report["database"]["server"] = server
    if ONLY in ONLY_CHOICES[1:]:
        VAR_DIR.mkdir(exist_ok=True)
        (VAR_DIR / f"bench-{ONLY}.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
        log("")
        log(report["table"])
        log(f"\nbench: done in {report['seconds']} s; results in {VAR_DIR / f'bench-{ONLY}.json'}")
        return 0
    RESULTS_DIR.mkdir(exist_ok=True)
    tmp = RESULTS_DIR / f"{RESULTS_NAME}.json.tmp"
    tmp.write_text(json.dumps(report, indent=2, default=str) + "\n")
    tmp.replace(RESULTS_DIR / f"{RESULTS_NAME}.json")
    markdown = (
        f"Run {report['finished_at']} at {report['git']}, {report['seconds']} s; "
        f"{report['machine']['nproc']} × {report['machine']['cpu_model']}, {report['machine']['memory']}; "
        f"PostgreSQL {report['database']['server_version']} ({server}); "
        f"{report['server']['description']}; wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} "
        f"-d{DURATION_SECONDS}s after {WARMUP_SECONDS} s warm-up.\n\n"
        f"{report['table']}\n\nSQL per request:\n{report['queries_text']}\n"
    )
    (RESULTS_DIR / f"{RESULTS_NAME}.md").write_text(markdown)
    log("")
    log(report["table"])
    for note in report["notes"]:
        log(f"NOTE: {note}")
    log(f"\nbench: done in {report['seconds']} s; results in {RESULTS_DIR / f'{RESULTS_NAME}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
