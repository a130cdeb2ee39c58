"""config.launcher (`make run`): honcho runs the Procfile's processes with prefixed output and
stops them together; nothing is left behind however the launcher ends.

The processes here are tiny Python programs in a Procfile of the test's own, and the database
and broker URLs are set, so no server starts and this runs in seconds; `make run` itself is
exercised by the soak (bench/soak.py) and was checked by hand (see README).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from config.launcher import PROCFILE

ROOT = Path(__file__).resolve().parent.parent
STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _stop_leftover_launchers():
    """A failed test must not leave its launcher (and so its children) running."""
    yield
    while STARTED:
        launcher = STARTED.pop()
        if launcher.poll() is None:
            launcher.send_signal(signal.SIGTERM)
            try:
                launcher.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                launcher.kill()


def start_launcher(tmp_path: Path, programs: dict[str, str]) -> subprocess.Popen[str]:
    """The launcher on a Procfile of `programs` (name → Python source), servers given."""
    lines = []
    for name, code in programs.items():
        script = tmp_path / f"{name}.py"
        script.write_text(textwrap.dedent(code))
        lines.append(f'{name}: exec "$PYTHON" -u {script}')
    procfile = tmp_path / "Procfile"
    procfile.write_text("\n".join(lines) + "\n")
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "DATABASE_URL": "postgres://nobody@db.invalid/none",  # so no embedded server starts
        "CELERY_BROKER_URL": "redis://broker.invalid:6379/0",
    }
    launcher = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "config.launcher", "--no-setup", "--procfile", str(procfile)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,  # as a terminal would: its own process group
    )
    STARTED.append(launcher)
    return launcher


def wait_for(
    proc: subprocess.Popen[str], pattern: str, seen: list[str], timeout: float = 20
) -> re.Match[str]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in seen:
            if found := re.search(pattern, line):
                return found
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line.rstrip("\n"))
    for line in seen:
        if found := re.search(pattern, line):
            return found
    raise AssertionError(f"{pattern!r} never came; output so far: {seen}")


def gone(pid: int, within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


TRAPS_SIGTERM = """
    import os, signal, sys, time
    def stop(*_):
        print("stopping on SIGTERM", flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    print("up", os.getpid(), flush=True)
    while True:
        time.sleep(0.05)
"""


def test_sigterm_stops_every_process_and_output_is_prefixed(tmp_path):
    launcher = start_launcher(tmp_path, {"web": TRAPS_SIGTERM, "worker": TRAPS_SIGTERM})
    seen: list[str] = []
    web = int(wait_for(launcher, r"web\.1\s+\| up (\d+)", seen)[1])
    worker = int(wait_for(launcher, r"worker\.1\s+\| up (\d+)", seen)[1])

    launcher.send_signal(signal.SIGTERM)
    out, _ = launcher.communicate(timeout=20)
    lines = seen + out.splitlines()

    assert any(re.search(r"web\.1\s+\| stopping on SIGTERM", line) for line in lines), lines
    assert any(re.search(r"worker\.1\s+\| stopping on SIGTERM", line) for line in lines), lines
    assert gone(web)
    assert gone(worker)


def test_when_one_process_dies_the_others_are_stopped_and_the_run_fails(tmp_path):
    launcher = start_launcher(
        tmp_path,
        {"web": TRAPS_SIGTERM, "beat": "import time, sys; time.sleep(1); print('bye'); sys.exit(3)"},
    )
    out, _ = launcher.communicate(timeout=30)

    assert launcher.returncode != 0
    assert re.search(r"beat\.1\s+\| bye", out), out
    assert re.search(r"web\.1\s+\| stopping on SIGTERM", out), out


def test_a_process_that_ignores_sigterm_is_killed_grandchildren_too(tmp_path):
    """honcho kills what is left 5 s after the first process stopped (as web and beat stop at
    once in `make run`); a lone process that ignored SIGTERM would not start that clock."""
    stubborn = """
        import signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        print("grandchild", grandchild.pid, flush=True)
        while True:
            time.sleep(0.05)
    """
    launcher = start_launcher(tmp_path, {"web": TRAPS_SIGTERM, "worker": stubborn})
    seen: list[str] = []
    grandchild = int(wait_for(launcher, r"worker\.1\s+\| grandchild (\d+)", seen)[1])

    launcher.send_signal(signal.SIGTERM)
    launcher.communicate(timeout=30)  # honcho's SIGKILL comes 5 s after its SIGTERM

    assert gone(grandchild)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_processes_stop_even_when_the_launcher_is_killed_outright(tmp_path):
    launcher = start_launcher(tmp_path, {"web": TRAPS_SIGTERM})
    seen: list[str] = []
    web = int(wait_for(launcher, r"web\.1\s+\| up (\d+)", seen)[1])

    launcher.kill()
    launcher.wait(timeout=5)

    assert gone(web, within=15)


def test_make_run_starts_runserver_a_prefork_worker_and_beat():
    processes = dict(line.split(": ", 1) for line in PROCFILE.read_text().splitlines() if ": " in line)
    processes = {name: command for name, command in processes.items() if not name.startswith("#")}
    assert set(processes) == {"web", "worker", "beat"}
    assert 'manage.py runserver "$ADDR"' in processes["web"]
    assert "-m celery -A config worker" in processes["worker"]
    assert "--pool=prefork" in processes["worker"]
    assert '--concurrency="$WORKER_CONCURRENCY"' in processes["worker"]
    assert "-m celery -A config beat" in processes["beat"]
