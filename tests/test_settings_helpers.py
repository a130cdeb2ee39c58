from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMessage

from config.env import email_settings, env_bool, env_int
from config.mail import WithheldBackend


def test_email_urls():
    assert email_settings("console://")["EMAIL_BACKEND"].endswith("console.EmailBackend")
    assert email_settings("file:///srv/mail")["EMAIL_FILE_PATH"] == "/srv/mail"
    smtp = email_settings("smtp+tls://user%40x:p%3Ass@mail.example:2525")
    assert (smtp["EMAIL_HOST"], smtp["EMAIL_PORT"], smtp["EMAIL_HOST_USER"], smtp["EMAIL_HOST_PASSWORD"]) == (
        "mail.example",
        2525,
        "user@x",
        "p:ss",
    )
    assert smtp["EMAIL_USE_TLS"] is True
    assert email_settings("smtps://mail.example")["EMAIL_PORT"] == 465
    for bad in ("smtp://", "mailgun://key"):
        with pytest.raises(ImproperlyConfigured):
            email_settings(bad)


def test_a_bad_email_url_is_named_by_its_scheme_alone():
    with pytest.raises(ImproperlyConfigured) as refused:
        email_settings("mailgun://api:key-secret@api.mailgun.net")
    assert "mailgun://" in str(refused.value)
    assert "key-secret" not in str(refused.value)


def _import_settings(**env: str) -> subprocess.CompletedProcess[str]:
    """Import config.settings in a fresh interpreter with production's required variables."""
    clean = {k: v for k, v in os.environ.items() if k != "EMAIL_URL"}
    clean |= {
        "DEBUG": "false",
        "SECRET_KEY": "s" * 40,
        "IDENTIFIER_PEPPER": "p" * 40,
        "DATABASE_URL": "postgres://candor@db.invalid/candor",
        "CELERY_BROKER_URL": "redis://broker.invalid:6379/0",
    }
    code = "import config.settings as s; print(s.EMAIL_BACKEND)"
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], env=clean | env, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize("email_url", [None, "file:///tmp/mail"])
def test_production_refuses_to_start_without_a_real_mail_server(email_url):
    """Unset, EMAIL_URL files every email (addresses, links, codes) under var/mail."""
    result = _import_settings(**({"EMAIL_URL": email_url} if email_url else {}))

    assert result.returncode != 0
    assert "ImproperlyConfigured: EMAIL_URL must name a real mail server" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("debug", ["true", "false"])
def test_a_real_mail_server_starts_production_and_development_files_mail_under_var(debug):
    smtp = _import_settings(EMAIL_URL="smtps://user:pw@mail.example", DEBUG=debug)
    development = _import_settings(DEBUG="true")
    console = _import_settings(DEBUG="true", EMAIL_URL="console://")

    assert smtp.returncode == 0, smtp.stderr
    assert smtp.stdout.strip() == "django.core.mail.backends.smtp.EmailBackend"
    assert development.stdout.strip() == "config.mail.MailboxBackend"  # var/mail/, config/mail.py
    assert console.stdout.strip() == "django.core.mail.backends.console.EmailBackend"


def test_console_mail_in_production_withholds_every_message_and_prints_none_of_it(caplog):
    """../shared/peers starts production settings with EMAIL_URL=console://: the server runs,
    and mail is neither sent nor printed, only counted in a warning."""
    started = _import_settings(EMAIL_URL="console://")
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "config.mail.WithheldBackend"

    message = EmailMessage(
        "Your sign-in code 123456", "https://x.example/c/secret-token", to=["ada@example.com"]
    )
    with caplog.at_level(logging.WARNING, logger="config.mail"):
        sent = WithheldBackend().send_messages([message])
    assert sent == 0
    assert [r.getMessage() for r in caplog.records] == [
        "Withheld 1 email(s): EMAIL_URL=console:// sends and prints no mail when DEBUG is false; "
        "set EMAIL_URL to an smtp://, smtp+tls:// or smtps:// server"
    ]


def test_typed_env_helpers_fail_loudly(monkeypatch):
    monkeypatch.setenv("X_BOOL", "perhaps")
    with pytest.raises(ImproperlyConfigured, match="X_BOOL must be true or false"):
        env_bool("X_BOOL", False)
    monkeypatch.setenv("X_INT", "ten")
    with pytest.raises(ImproperlyConfigured, match="X_INT must be a whole number"):
        env_int("X_INT", 1)
    monkeypatch.setenv("X_INT", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("X_INT", 5, minimum=1)
    monkeypatch.setenv("X_BOOL", "Yes")
    assert env_bool("X_BOOL", False) is True


@pytest.mark.parametrize(("flag", "threshold"), [(None, "0"), ("false", "None"), ("true", "0")])
def test_prepared_statements_on_postgresql_follow_the_setting(flag, threshold):
    """psycopg prepares a statement at its first run (0) or never (None); only server-side
    binding cursors (config.db) are affected."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "DATABASE_URL": "postgres://u:p@db.example:5432/candor", "DEBUG": "true"}
    env.pop("DATABASE_PREPARED_STATEMENTS", None)
    if flag is not None:
        env["DATABASE_PREPARED_STATEMENTS"] = flag
    code = "import config.settings as s; print(s.DATABASES['default']['OPTIONS'].get('prepare_threshold'))"
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == threshold
