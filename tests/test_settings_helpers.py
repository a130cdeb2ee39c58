from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import email_settings, env_bool, env_int


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
