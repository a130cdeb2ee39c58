"""config.launcher (`make run`): prefixed output, signals passed on, no process left behind.

The children here are tiny Python programs, so this runs in a second; `make run` itself was
checked by hand (see README).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from config.launcher import commands

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
                launcher.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                launcher.kill()


def child(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def start_launcher(programs: dict[str, list[str]], grace: float = 5.0) -> subprocess.Popen[str]:
    script = (
        "import sys; from config.launcher import Launcher; "
        f"sys.exit(Launcher({programs!r}, grace={grace}).run())"
    )
    launcher = subprocess.Popen(  # noqa: S603
        [sys.executable, "-c", script],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    STARTED.append(launcher)
    return launcher


def wait_for(proc: subprocess.Popen[str], text: str, seen: list[str], timeout: float = 10) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while not any(text in line for line in seen) and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line.rstrip("\n"))
    if any(text in line for line in seen):
        return
    raise AssertionError(f"{text!r} never came; output so far: {seen}")


def gone(pid: int, within: float = 5) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def pid_of(seen: list[str], name: str) -> int:
    line = next(line for line in seen if line.startswith("run") and f"started {name} (pid " in line)
    return int(line.split("(pid ", 1)[1].split(")", 1)[0])


TRAPS_SIGINT = """
    import signal, sys, time
    def stop(*_):
        print("stopping on SIGINT")
        sys.exit(0)
    signal.signal(signal.SIGINT, stop)
    print("up")
    while True:
        time.sleep(0.05)
"""


def test_sigterm_stops_every_child_with_a_sigint_and_output_is_prefixed():
    launcher = start_launcher({"web": child(TRAPS_SIGINT), "worker": child(TRAPS_SIGINT)})
    seen: list[str] = []
    wait_for(launcher, "web    | up", seen)
    wait_for(launcher, "worker | up", seen)

    launcher.send_signal(signal.SIGTERM)
    out, _ = launcher.communicate(timeout=10)
    lines = seen + out.splitlines()

    assert launcher.returncode == 0
    assert "run    | SIGTERM: stopping web, worker" in lines
    assert "web    | stopping on SIGINT" in lines
    assert "worker | stopping on SIGINT" in lines
    assert lines[-1] == "run    | all stopped"


def test_when_one_child_dies_the_others_are_stopped_and_its_code_returned():
    launcher = start_launcher(
        {
            "web": child(TRAPS_SIGINT),
            "beat": child("import time, sys; time.sleep(0.5); print('bye'); sys.exit(3)"),
        }
    )
    out, _ = launcher.communicate(timeout=20)

    assert launcher.returncode == 3
    assert "beat | bye" in out
    assert "run  | beat exited with code 3; stopping the others" in out
    assert "web  | stopping on SIGINT" in out


def test_a_group_that_ignores_sigint_is_killed_after_the_grace_period_grandchildren_too():
    stubborn = """
        import signal, subprocess, sys, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        print("grandchild", grandchild.pid)
        while True:
            time.sleep(0.05)
    """
    launcher = start_launcher({"worker": child(stubborn)}, grace=0.5)
    seen: list[str] = []
    wait_for(launcher, "worker | grandchild ", seen)
    grandchild = int(next(line for line in seen if "worker | grandchild " in line).rsplit(" ", 1)[1])

    launcher.send_signal(signal.SIGINT)
    out, _ = launcher.communicate(timeout=10)

    assert launcher.returncode == 0
    assert "run    | still running after 0.5 s: killing worker" in out
    assert gone(grandchild)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_children_stop_even_when_the_launcher_is_killed_outright():
    launcher = start_launcher({"web": child(TRAPS_SIGINT)})
    seen: list[str] = []
    wait_for(launcher, "web | up", seen)
    web = pid_of(seen, "web")

    launcher.kill()
    launcher.wait(timeout=5)

    assert gone(web)


def test_make_run_starts_runserver_a_prefork_worker_and_beat():
    argv = commands(addr="127.0.0.1:8765", concurrency=2, pool="prefork", python="py")
    assert argv["web"] == ["py", "manage.py", "runserver", "127.0.0.1:8765"]
    assert argv["worker"][:6] == ["py", "-m", "celery", "-A", "config", "worker"]
    assert {"--concurrency=2", "--pool=prefork"} <= set(argv["worker"])
    assert argv["beat"][:6] == ["py", "-m", "celery", "-A", "config", "beat"]
