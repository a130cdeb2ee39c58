"""config.embedded_postgres: the server `make run`, `make test` and manage.py use in a checkout.

Each test has a data folder of its own under var/ (a PostgreSQL running as `nobody` when the
tests run as root must reach it, which a private temporary folder would not allow), so these
run beside the suite's own database, embedded or not.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from config.embedded_postgres import BASE_DIR, EmbeddedPostgres, InUse

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def root() -> Iterator[Path]:
    folder = BASE_DIR / "var" / f"pg-test-{uuid.uuid4().hex[:8]}"
    yield folder
    server = EmbeddedPostgres(folder)
    if server.postmaster_pid() is not None:  # a failed test must not leave one running
        server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def _query(url: str, sql: str) -> object:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute(sql).fetchone()
        return row[0] if row else None


def _gone(server: EmbeddedPostgres, pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return server.postmaster_pid() is None
        time.sleep(0.05)
    return False


def test_the_owner_starts_it_with_the_candor_database_and_stops_it(root):
    server = EmbeddedPostgres(root)
    with server.serving(own=True) as url:
        pid = server.postmaster_pid()
        assert pid is not None
        assert _query(url, "SELECT current_database()") == "candor"
        assert _query(url, "SHOW listen_addresses") == ""  # the socket only: no port to collide
    assert _gone(server, pid)
    # Started again on the same data: what was written is still there.
    with server.serving(own=True) as url:
        assert _query(url, "SELECT count(*) FROM pg_database WHERE datname = 'candor'") == 1


def test_a_second_owner_is_told_who_has_it_and_a_user_shares_it(root):
    owner, other = EmbeddedPostgres(root), EmbeddedPostgres(root)
    with owner.serving(own=True) as url:
        pid = owner.postmaster_pid()
        with pytest.raises(InUse, match=rf"in use by pid {os.getpid()}"), other.serving(own=True, wait=0.3):
            pass
        with other.serving() as shared:  # a manage.py command beside `make run`
            assert shared == url
            assert _query(shared, "SELECT 1") == 1
        assert owner.postmaster_pid() == pid  # the user's leaving stopped nothing
    assert _gone(owner, pid)


def _owner_process(root: Path, then: str) -> subprocess.Popen[str]:
    code = textwrap.dedent(
        f"""
        import os, signal, sys, time
        from pathlib import Path
        from config.embedded_postgres import EmbeddedPostgres
        server = EmbeddedPostgres(Path({str(root)!r}))
        with server.serving(own=True) as url:
            print(server.postmaster_pid(), flush=True)
            {then}
        """
    )
    return subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )


@pytest.mark.parametrize(
    "then",
    [
        "os.kill(os.getpid(), signal.SIGKILL)",  # a crash: no cleanup runs
        "raise KeyboardInterrupt",  # Ctrl-C
    ],
    ids=["killed", "ctrl-c"],
)
def test_no_postmaster_outlives_its_owner(root, then):
    owner = _owner_process(root, then)
    assert owner.stdout is not None
    pid = int(owner.stdout.readline())
    owner.wait(timeout=30)
    assert _gone(EmbeddedPostgres(root), pid)


def test_a_stray_postmaster_with_no_owner_is_stopped_before_a_new_one_starts(root):
    """Where the parent-death signal does not exist (macOS), a crashed owner's server keeps
    running with nobody holding the owner's lock: the next owner stops it first."""
    crashed = EmbeddedPostgres(root)
    root.mkdir(parents=True)
    crashed._init()
    crashed._start()
    stray = crashed.postmaster_pid()
    assert stray is not None
    server = EmbeddedPostgres(root)
    with server.serving(own=True) as url:
        assert server.postmaster_pid() not in (None, stray)
        assert _query(url, "SELECT 1") == 1
    assert crashed.process is not None
    assert crashed.process.wait(timeout=10) is not None


def _without_database_url(code: str, *, debug: str) -> str:
    """What `code` prints, run in the checkout with no DATABASE_URL."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"DEBUG": debug}
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def test_manage_py_starts_the_server_for_a_command_and_stops_it_after(root):
    """With no DATABASE_URL, a command finds or starts the checkout's server; here a stand-in
    for it (this test's folder) through the same helper manage.py uses."""
    code = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from config.embedded_postgres import database_url_for_checkout, EmbeddedPostgres
        with database_url_for_checkout(Path({str(root)!r})):
            print(os.environ["DATABASE_URL"], EmbeddedPostgres(Path({str(root)!r})).postmaster_pid())
        print(EmbeddedPostgres(Path({str(root)!r})).postmaster_pid())
        """
    )
    during, after = _without_database_url(code, debug="true").splitlines()
    url, pid = during.split()
    assert url == EmbeddedPostgres(root).url()
    assert pid != "None"
    assert after == "None"


def test_production_never_starts_one(root):
    code = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from config.embedded_postgres import database_url_for_checkout
        with database_url_for_checkout(Path({str(root)!r})):
            print(os.environ.get("DATABASE_URL"))
        """
    )
    assert _without_database_url(code, debug="false").strip() == "None"
    assert not (root / "data").exists()


def test_make_run_beside_a_running_one_says_so(root, monkeypatch, capsys):
    from config import embedded_postgres, launcher

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DEBUG", "true")
    monkeypatch.setattr(embedded_postgres, "RUN_ROOT", root)
    monkeypatch.setattr(embedded_postgres, "OWNER_WAIT", 0.2)
    with EmbeddedPostgres(root).serving(own=True):
        assert launcher.main(["--no-setup"]) == 1
    message = capsys.readouterr().err
    assert f"in use by pid {os.getpid()}" in message
    assert "Is `make run` already running in another terminal?" in message
