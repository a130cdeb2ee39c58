"""No link token, API key, email address or phone number reaches a log line (issue 10, Security
4): the redaction itself, Django's loggers as configured, and the web server started as
deploy/Procfile starts it (granian, its logging from deploy/granian-logging.json). Every other
log line of the test run is scanned by tests/logscan.py."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.db import connection

from config.logfilters import redact
from consent.services import contact_upsert
from preferences.tokens import fingerprint, link_path, token_issue
from tests.logscan import LEAKS
from tests.sync.worker_support import free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "WzMsMTIzNF0.1DxAbc.abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
PRODUCTION_SECRET = "s" * 40


def _leaks(text: str) -> list[str]:
    return [f"{name}: {line}" for line in text.splitlines() for name, p in LEAKS.items() if p.search(line)]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"GET /p/acme/t/{TOKEN} 404", f"GET /p/acme/t/[token {fingerprint(TOKEN)}] 404"),
        (f"token={TOKEN}", f"token=[token {fingerprint(TOKEN)}]"),
        ("Bearer cnd_k1ab_abcdefghijklmnopqrstuvwxyz0123", "Bearer cnd_k1ab_[redacted]"),
        ("/api/v1/contacts/ada@example.com 404", "/api/v1/contacts/[email] 404"),
        ("/api/v1/contacts/ada%40example.com", "/api/v1/contacts/[email]"),
        ("/api/v1/contacts/%2B4915112345678/consents", "/api/v1/contacts/[phone]/consents"),
        (
            "phone +14155550100 at [22/Nov/2026:10:00:00 +0000]",
            "phone [phone] at [22/Nov/2026:10:00:00 +0000]",
        ),
        ("/p/acme/t/[token 0123456789ab]", "/p/acme/t/[token 0123456789ab]"),
    ],
)
def test_redaction(line, expected):
    assert redact(line) == expected
    assert not _leaks(expected)


def test_djangos_loggers_write_no_secrets_whatever_debug_says(capsys):
    """DEBUG adds Django's own console handler to "django" (and mail_admins without it); the
    project's LOGGING replaces both with its redacting console."""
    root = logging.getLogger()
    console = next(h for h in root.handlers if getattr(h, "name", "") == "console")
    assert [h for h in logging.getLogger("django").handlers] == []
    for name in (
        "django.security.csrf",
        "django.request",
        "django.server",
        "celery.worker",
        "gunicorn.error",
    ):
        record = logging.LogRecord(
            name,
            logging.WARNING,
            __file__,
            1,
            "Forbidden (%s): /p/acme/t/%s for %s",
            ("CSRF", TOKEN, "a@b.de"),
            None,
        )
        line = console.format(record)
        assert TOKEN not in line
        assert "a@b.de" not in line
    assert django_settings.CELERY_WORKER_HIJACK_ROOT_LOGGER is False


def _database_url(db: dict[str, Any]) -> str:
    """The test database as a URL (the embedded server's host is a socket directory)."""
    user = quote(db["USER"] or "", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{user}{password}@{quote(db['HOST'] or '', safe='')}{port}/{db['NAME']}"


def _procfile_web() -> str:
    for line in (ROOT / "deploy" / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.removeprefix("web:").strip()
    raise AssertionError("deploy/Procfile has no web process")


def _get(url: str, **kwargs: object) -> int:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kw: object) -> None:
            return None

    request = urllib.request.Request(url, **kwargs)  # type: ignore[arg-type]  # noqa: S310
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.django_db(transaction=True)
def test_the_production_start_command_logs_no_token_key_email_or_phone(brand, settings):
    """The web server exactly as deploy/Procfile starts it (DEBUG=false, its access log on stdout), on
    the test database: a manage link, a forged link, a one-click POST and API paths naming an
    email and a phone number leave only fingerprints and placeholders in its logs."""
    settings.SECRET_KEY = PRODUCTION_SECRET  # the links must verify in the production process
    contact, _ = contact_upsert(brand=brand, external_id="cust-1", email="ada@example.com")
    manage = link_path(
        kind="manage", brand=brand, token=token_issue(kind="manage", brand=brand, contact=contact)
    )
    unsubscribe_token = token_issue(kind="unsubscribe", brand=brand, contact=contact, channel="email")
    unsubscribe = link_path(kind="unsubscribe", brand=brand, token=unsubscribe_token)
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "DEBUG": "false",
        "SECRET_KEY": PRODUCTION_SECRET,
        "IDENTIFIER_PEPPER": "p" * 40,
        "DATABASE_URL": _database_url(connection.settings_dict),
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "EMAIL_URL": "smtp://127.0.0.1:9",
        "ALLOWED_HOSTS": "127.0.0.1",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_LEVEL": "INFO",
    }
    server = subprocess.Popen(  # noqa: S603 - the Procfile's own command line
        ["/bin/bash", "-c", f"exec {_procfile_web()}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if server.poll() is not None:
                break
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).close()  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)
        statuses = [
            _get(f"{base}{manage}"),
            _get(f"{base}/p/acme/t/{TOKEN}"),
            _get(f"{base}{unsubscribe}", data=b"List-Unsubscribe=One-Click", method="POST"),
            _get(
                f"{base}/api/v1/contacts/ada@example.com",
                headers={"Authorization": "Bearer cnd_x_" + "k" * 40},
            ),
            _get(f"{base}/api/v1/contacts/%2B4915112345678?email=ada%40example.com"),
        ]
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    logs = out + err

    assert statuses == [303, 404, 200, 401, 401], logs
    assert re.search(
        rf'"GET /p/acme/t/\[token {fingerprint(manage.rsplit("/", 1)[1])}\] HTTP/1.1" 303', out
    ), out
    assert f'"GET /p/acme/t/[token {fingerprint(TOKEN)}] HTTP/1.1" 404' in out
    assert '"GET /api/v1/contacts/[email] HTTP/1.1" 401' in out
    assert _leaks(logs) == []
    assert unsubscribe_token not in logs
