"""Links on the right port: `make run` (config.launcher) records the base URL it serves on in
var/run/public_base_url, and a command run beside it without PUBLIC_BASE_URL (issue_link in
another terminal) makes its links from that record, under DEBUG only, while the launcher lives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from config.env import recorded_public_base_url
from config.launcher import PUBLIC_BASE_URL_RECORD, forget_public_base_url, record_public_base_url
from tests.test_launcher import STARTED, _stop_leftover_launchers, wait_for  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_URL = "import config.settings as s; print(s.PUBLIC_BASE_URL)"
SERVERS = {
    "DATABASE_URL": "postgres://nobody@db.invalid/none",
    "CELERY_BROKER_URL": "redis://b.invalid:6379/0",
}


def settings_url(**env: str) -> str:
    """settings.PUBLIC_BASE_URL as a fresh command in this checkout reads it."""
    clean = {k: v for k, v in os.environ.items() if k not in ("PUBLIC_BASE_URL", "DEBUG")}
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", SETTINGS_URL],
        env=clean | SERVERS | env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def test_a_record_counts_only_while_its_launcher_lives(tmp_path):
    record = tmp_path / "public_base_url"
    assert recorded_public_base_url(record) is None  # none yet

    record_public_base_url("http://127.0.0.1:8123", path=record)
    assert record.read_text() == f"http://127.0.0.1:8123\n{os.getpid()}\n"
    assert recorded_public_base_url(record) == "http://127.0.0.1:8123"

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    record.write_text(f"http://127.0.0.1:8123\n{dead.stdout.strip()}\n")
    assert recorded_public_base_url(record) is None  # a launcher killed outright left it behind

    record.write_text("garbage")
    assert recorded_public_base_url(record) is None

    record.write_text(f"http://127.0.0.1:9000\n{os.getpid() + 10**7}\n")
    forget_public_base_url(path=record)
    assert record.exists()  # another launcher's record is not ours to remove
    record_public_base_url("http://127.0.0.1:8123", path=record)
    forget_public_base_url(path=record)
    assert not record.exists()


REPORTS = """
    import os, signal, subprocess, sys, time
    env = {k: v for k, v in os.environ.items() if k != "PUBLIC_BASE_URL"}
    code = "import config.settings as s; print(s.PUBLIC_BASE_URL)"
    beside = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    print("children get", os.environ["PUBLIC_BASE_URL"], flush=True)
    print("a command beside it gets", beside.stdout.strip() or beside.stderr, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(0.05)
"""


def test_make_run_on_another_port_gives_commands_beside_it_links_on_that_port(tmp_path):
    script = tmp_path / "web.py"
    script.write_text(textwrap.dedent(REPORTS))
    procfile = tmp_path / "Procfile"
    procfile.write_text(f'web: exec "$PYTHON" -u {script}\n')
    env = {k: v for k, v in os.environ.items() if k != "PUBLIC_BASE_URL"} | SERVERS | {"DEBUG": "true"}
    launcher = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "config.launcher",
            "--no-setup",
            "--procfile",
            str(procfile),
            "--addr",
            "127.0.0.1:8123",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    STARTED.append(launcher)
    seen: list[str] = []

    assert wait_for(launcher, r"children get (\S+)", seen)[1] == "http://127.0.0.1:8123"
    assert wait_for(launcher, r"a command beside it gets (\S+)", seen)[1] == "http://127.0.0.1:8123"
    # Set, PUBLIC_BASE_URL wins; production never reads the record.
    assert settings_url(DEBUG="true", PUBLIC_BASE_URL="https://prefs.example/") == "https://prefs.example"
    production = {"DEBUG": "false", "SECRET_KEY": "s" * 40, "IDENTIFIER_PEPPER": "p" * 40}
    assert settings_url(**production, EMAIL_URL="smtp://mail.example") == "http://127.0.0.1:8000"

    launcher.send_signal(signal.SIGTERM)
    launcher.communicate(timeout=20)

    assert not PUBLIC_BASE_URL_RECORD.exists()
    assert settings_url(DEBUG="true") == "http://127.0.0.1:8000"
