"""`make run`: the web process, a Celery worker and Celery beat side by side in one terminal.

    python -m config.launcher [--addr 127.0.0.1:8000] [--concurrency 2] [--pool prefork]

Each child runs in its own process group with its output prefixed (`web    | …`). Ctrl-C or
SIGTERM is passed on to every group as SIGINT, which is what each program expects from a
terminal's Ctrl-C: runserver and its autoreloader stop, the Celery worker finishes the tasks it
is running (a warm shutdown; its pool processes ignore SIGINT) and beat stops. If one child ends
on its own, the others are stopped the same way. A group still alive after `--grace` seconds, or
after a second Ctrl-C, is killed. Nothing here imports Django, so it cannot hold a database open.

Without DATABASE_URL it first starts the embedded PostgreSQL under var/postgres (a second
`make run` beside a first one is told so and stops), migrates and seeds the demo brand, and
stops the server once every child has stopped.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import TextIO

from config.children import die_with
from config.embedded_postgres import EmbeddedPostgresError, InUse, database_url_for_checkout
from config.embedded_valkey import EmbeddedValkeyError, broker_url_for_checkout

_COLOURS = ("36", "33", "35", "32", "34", "31")


@dataclass
class Child:
    name: str
    argv: Sequence[str]
    proc: subprocess.Popen[bytes] | None = None
    reader: threading.Thread | None = field(default=None, repr=False)


class Launcher:
    """Start commands, pass signals on, stop them all when one ends, prefix their output."""

    def __init__(
        self,
        commands: Mapping[str, Sequence[str]],
        *,
        grace: float = 20.0,
        out: TextIO | None = None,
        env: Mapping[str, str] | None = None,
        colour: bool | None = None,
    ) -> None:
        self.children = [Child(name, list(argv)) for name, argv in commands.items()]
        self.grace = grace
        self.out = out if out is not None else sys.stdout
        self.env = {**(env if env is not None else os.environ), "PYTHONUNBUFFERED": "1"}
        if colour is None:
            colour = self.out.isatty() and "NO_COLOR" not in os.environ
        self.colour = colour
        self.width = max(len(name) for name in [*commands, "run"])
        self._lock = threading.Lock()
        self._signals: list[int] = []

    # --- output ----------------------------------------------------------------------------

    def _prefix(self, name: str, index: int) -> str:
        label = f"{name:<{self.width}} | "
        if self.colour:
            return f"\033[{_COLOURS[index % len(_COLOURS)]}m{label}\033[0m"
        return label

    def say(self, message: str) -> None:
        self._write(self._prefix("run", len(self.children)), message)

    def _write(self, prefix: str, line: str) -> None:
        with self._lock:
            self.out.write(prefix + line + "\n")
            self.out.flush()

    def _pump(self, child: Child, index: int) -> None:
        assert child.proc is not None
        assert child.proc.stdout is not None
        prefix = self._prefix(child.name, index)
        for raw in iter(child.proc.stdout.readline, b""):
            self._write(prefix, raw.decode("utf-8", "replace").rstrip("\r\n"))

    # --- processes ---------------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals.append(signum)

    def _signal_groups(self, sig: int) -> None:
        for child in self.children:
            if child.proc is None:
                continue
            # start_new_session made each child the leader of its own group (pgid == pid).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.proc.pid, sig)

    def _alive(self) -> list[Child]:
        return [c for c in self.children if c.proc is not None and c.proc.poll() is None]

    def run(self) -> int:
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        }
        try:
            return self._run()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run(self) -> int:
        pid = os.getpid()
        # Every child first, then the reader threads: preexec_fn is only safe without threads.
        for child in self.children:
            child.proc = subprocess.Popen(  # noqa: S603 - our own argv, no shell
                child.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
                preexec_fn=lambda: die_with(pid),
            )
        for index, child in enumerate(self.children):
            assert child.proc is not None
            self.say(f"started {child.name} (pid {child.proc.pid}): {' '.join(child.argv)}")
            child.reader = threading.Thread(target=self._pump, args=(child, index), daemon=True)
            child.reader.start()

        code = 0
        while not self._signals:
            ended = [c for c in self.children if c.proc is not None and c.proc.poll() is not None]
            if ended:
                first = ended[0]
                assert first.proc is not None
                returncode = first.proc.returncode
                self.say(f"{first.name} exited with code {returncode}; stopping the others")
                code = returncode if returncode > 0 else 128 - returncode if returncode < 0 else 1
                break
            time.sleep(0.1)
        else:
            self.say(f"{signal.Signals(self._signals[0]).name}: stopping {self._names(self._alive())}")
        self._stop()
        return code

    def _names(self, children: list[Child]) -> str:
        return ", ".join(c.name for c in children) or "nothing"

    def _stop(self) -> None:
        handled = len(self._signals)
        self._signal_groups(signal.SIGINT)
        deadline = time.monotonic() + self.grace
        while self._alive():
            if len(self._signals) > handled:
                self.say(f"again: killing {self._names(self._alive())}")
                break
            if time.monotonic() > deadline:
                self.say(f"still running after {self.grace:g} s: killing {self._names(self._alive())}")
                break
            time.sleep(0.1)
        # Also reaps what a leader left behind in its group (a reloader's child, pool processes).
        self._signal_groups(signal.SIGKILL)
        for child in self.children:
            if child.proc is not None:
                child.proc.wait()
            if child.reader is not None:
                child.reader.join(timeout=5)
        self.say("all stopped")


def commands(*, addr: str, concurrency: int, pool: str, python: str = sys.executable) -> dict[str, list[str]]:
    celery = [python, "-m", "celery", "-A", "config"]
    return {
        "web": [python, "manage.py", "runserver", addr],
        # prefork, as in production, so fork-safety bugs show up here too (the Celery Django
        # fixup closes connections inherited across the fork).
        # One worker on one machine: gossip, mingle and heartbeats only add broker traffic.
        "worker": [
            *celery,
            "worker",
            "--loglevel=INFO",
            f"--concurrency={concurrency}",
            f"--pool={pool}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        # Its schedule file is CELERY_BEAT_SCHEDULE_FILENAME (var/celerybeat-schedule).
        "beat": [*celery, "beat", "--loglevel=INFO"],
    }


def setup_commands(*, python: str = sys.executable) -> list[list[str]]:
    """What `make run` does before it starts the processes: migrate, seed the demo brand (it
    prints the demo API key), print a link to the demo customer's preference centre."""
    manage = [python, "manage.py"]
    return [
        [*manage, "migrate", "--no-input"],
        [*manage, "seed_demo"],
        [*manage, "issue_link", "--brand", "demo", "--contact", "cust-42", "--kind", "manage"],
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--addr", default="127.0.0.1:8000", help="runserver's address:port")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--pool", default="prefork", choices=["prefork", "threads", "solo"])
    parser.add_argument("--grace", type=float, default=20.0, help="seconds to wait before killing")
    parser.add_argument("--no-setup", action="store_true", help="skip migrate, seed_demo and issue_link")
    args = parser.parse_args(argv)
    try:
        # Without DATABASE_URL (CELERY_BROKER_URL), the launcher owns the embedded PostgreSQL
        # under var/postgres (Valkey under var/valkey): started first, stopped after every child.
        with database_url_for_checkout(own=True), broker_url_for_checkout():
            if not args.no_setup:
                for command in setup_commands():
                    subprocess.run(command, check=True)  # noqa: S603 - our own argv
            launcher = Launcher(
                commands(addr=args.addr, concurrency=args.concurrency, pool=args.pool), grace=args.grace
            )
            return launcher.run()
    except InUse as exc:
        print(f"make run: {exc}. Is `make run` already running in another terminal?", file=sys.stderr)
        return 1
    except (EmbeddedPostgresError, EmbeddedValkeyError) as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as exc:
        return exc.returncode or 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
