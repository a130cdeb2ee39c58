"""`make run`: the embedded servers, then the web process, a Celery worker and Celery beat.

    python -m config.launcher [--addr 127.0.0.1:8000] [--concurrency 2] [--no-setup]

Without DATABASE_URL (CELERY_BROKER_URL) it owns the embedded PostgreSQL under var/postgres (the
embedded Valkey under var/valkey): started first, stopped last. A second `make run` beside a
first one is told so and stops. It migrates, seeds the demo brand and prints a link, then hands
the processes of config/Procfile.run to honcho, which prefixes their output and stops them all
together when one ends or on Ctrl-C (SIGTERM to each process group, SIGKILL after 5 s). The
launcher waits for honcho and then stops the servers; killed outright, it takes honcho down
with it (on Linux, the parent-death signal), and honcho the rest. While it runs, the base URL it
serves on is in var/run/public_base_url, where commands in another terminal find it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from config.children import die_with
from config.embedded_postgres import EmbeddedPostgresError, InUse, database_url_for_checkout
from config.embedded_valkey import EmbeddedValkeyError, broker_url_for_checkout

BASE_DIR = Path(__file__).resolve().parent.parent
PROCFILE = Path(__file__).resolve().parent / "Procfile.run"
# The base URL this `make run` serves on, for commands run beside it (config.env).
PUBLIC_BASE_URL_RECORD = BASE_DIR / "var" / "run" / "public_base_url"


def record_public_base_url(url: str, *, path: Path = PUBLIC_BASE_URL_RECORD) -> None:
    """Write the URL and this process's id (a reader ignores the record of a dead launcher)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_text(f"{url}\n{os.getpid()}\n")
    partial.replace(path)


def forget_public_base_url(*, path: Path = PUBLIC_BASE_URL_RECORD) -> None:
    """Remove the record if it is still this process's own."""
    try:
        if path.read_text().split("\n")[1] == str(os.getpid()):
            path.unlink()
    except (OSError, IndexError):
        pass


def setup_commands(*, python: str = sys.executable) -> list[list[str]]:
    """What `make run` does before it starts the processes: migrate, seed the demo brand (it
    prints the demo API key), build the demo's dashboard figures (so the console's Overview is
    full at once, not a minute later), print a link to the demo customer's preference centre."""
    manage = [python, "manage.py"]
    return [
        [*manage, "migrate", "--no-input"],
        [*manage, "seed_demo"],
        [*manage, "rebuild_rollups", "--brand", "demo"],
        [*manage, "issue_link", "--brand", "demo", "--contact", "cust-42", "--kind", "manage"],
    ]


def processes(procfile: Path, *, addr: str, concurrency: int) -> int:
    """Run the Procfile's processes under honcho until they stop; honcho's exit status."""
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "ADDR": addr,
        "WORKER_CONCURRENCY": str(concurrency),
        "PYTHONUNBUFFERED": "1",
    }
    owner = os.getpid()
    honcho = subprocess.Popen(  # noqa: S603 - our own interpreter and Procfile
        [sys.executable, "-m", "honcho", "start", "--procfile", str(procfile), "--app-root", str(BASE_DIR)],
        env=env,
        preexec_fn=lambda: die_with(owner),
    )

    def forward(signum: int, frame: FrameType | None) -> None:
        # A terminal's Ctrl-C reaches honcho itself (the same process group); SIGTERM or SIGHUP
        # sent to the launcher alone is passed on as the SIGINT honcho stops on.
        if signum != signal.SIGINT:
            honcho.send_signal(signal.SIGINT)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        return honcho.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--addr", default="127.0.0.1:8000", help="runserver's address:port")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--no-setup", action="store_true", help="skip migrate, seed_demo and issue_link")
    parser.add_argument("--procfile", type=Path, default=PROCFILE, help=argparse.SUPPRESS)  # tests
    args = parser.parse_args(argv)
    # The processes and the setup commands make their links from it; so do commands run later
    # in another terminal (settings read the record while PUBLIC_BASE_URL is unset).
    public_base_url = os.environ.get("PUBLIC_BASE_URL") or f"http://{args.addr}"
    os.environ["PUBLIC_BASE_URL"] = public_base_url
    try:
        with database_url_for_checkout(own=True), broker_url_for_checkout():
            record_public_base_url(public_base_url)
            if not args.no_setup:
                for command in setup_commands():
                    subprocess.run(command, check=True)  # noqa: S603 - our own argv
            return processes(args.procfile, addr=args.addr, concurrency=args.concurrency)
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
    finally:
        forget_public_base_url()


if __name__ == "__main__":
    sys.exit(main())
