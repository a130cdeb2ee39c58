"""Development mail: EMAIL_URL=file://… files each message as one .eml (config.mail), `make run`
and every checkout default to var/mail/, /_dev/mail/ lists and shows them under DEBUG only, and
production refuses the backend as it refuses the console."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core import mail as django_mail
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMultiAlternatives

from config.env import email_settings
from config.mail import MailboxBackend, file_name, mailbox_list, mailbox_read
from tests.test_settings_helpers import _import_settings


@pytest.fixture
def mailbox(settings, tmp_path) -> Path:
    settings.DEBUG = True
    settings.EMAIL_BACKEND = "config.mail.MailboxBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path / "mail")
    return tmp_path / "mail"


def send(subject: str, text: str, *, to: str = "ada@example.com", html: str | None = None) -> None:
    message = EmailMultiAlternatives(subject, text, "Candor <no-reply@localhost>", [to])
    if html:
        message.attach_alternative(html, "text/html")
    message.send()


def test_email_urls_for_a_folder():
    assert email_settings("file://var/mail") == {
        "EMAIL_BACKEND": "config.mail.MailboxBackend",
        "EMAIL_FILE_PATH": "var/mail",
    }
    assert email_settings("file:///srv/mail")["EMAIL_FILE_PATH"] == "/srv/mail"
    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL needs a folder"):
        email_settings("file://")


def test_a_checkout_files_mail_under_var_mail_by_default():
    result = _import_settings(
        DEBUG="true", DATABASE_URL="postgres://u@db.invalid/x", CELERY_BROKER_URL="redis://b.invalid/0"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "config.mail.MailboxBackend"


@pytest.mark.parametrize("email_url", [None, "file://var/mail", "file:///srv/mail"])
def test_production_refuses_the_mail_folder(email_url):
    result = _import_settings(**({"EMAIL_URL": email_url} if email_url else {}))

    assert result.returncode != 0
    assert "ImproperlyConfigured: EMAIL_URL must name a real mail server" in result.stderr


def test_file_names_sort_by_time_and_name_the_subject():
    now = datetime(2026, 11, 23, 10, 15, 2, 123456, tzinfo=UTC)
    assert file_name(subject="Confirm your subscription!", now=now) == (
        "20261123T101502.123456Z-confirm-your-subscription.eml"
    )
    assert file_name(subject="¿?", now=now) == "20261123T101502.123456Z.eml"


def test_each_message_is_one_eml_file_and_the_list_is_newest_first(mailbox):
    send("First", "one")
    send("Second: a link", "Open https://shop.example/p/x?a=1&b=2 now.", html="<p>hi</p>")

    files = sorted(path.name for path in mailbox.iterdir())
    assert len(files) == 2
    assert [name.split("-", 1)[1] for name in files] == ["first.eml", "second-a-link.eml"]
    assert [m.subject for m in mailbox_list(mailbox)] == ["Second: a link", "First"]
    read = mailbox_read(mailbox, files[1])
    assert read is not None
    assert (read.summary.to, read.sender, read.has_html) == (
        "ada@example.com",
        "Candor <no-reply@localhost>",
        True,
    )
    assert read.text == "Open https://shop.example/p/x?a=1&b=2 now."
    assert django_mail.outbox == []  # the folder, not pytest's locmem outbox


def test_two_messages_in_the_same_microsecond_both_keep_their_file(tmp_path):
    backend = MailboxBackend(file_path=str(tmp_path))
    backend._write("20261123T101502.123456Z-x.eml", b"a")
    backend._write("20261123T101502.123456Z-x.eml", b"b")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "20261123T101502.123456Z-x-1.eml",
        "20261123T101502.123456Z-x.eml",
    ]


def test_the_mail_page_lists_and_shows_mail_with_clickable_links(mailbox, client):
    send("Your link", "Open https://shop.example/p/x?a=1&b=2 now.\n<script>x</script>")
    name = next(mailbox.iterdir()).name

    listing = client.get("/_dev/mail/")
    shown = client.get(f"/_dev/mail/{name}")

    assert listing.status_code == 200
    assert f'<a href="/_dev/mail/{name}">Your link</a>' in listing.content.decode()
    assert "<td>ada@example.com</td>" in listing.content.decode()
    body = shown.content.decode()
    assert shown.status_code == 200
    assert (
        '<a href="https://shop.example/p/x?a=1&amp;b=2" rel="noopener">https://shop.example/p/x?a=1&amp;b=2</a>'
        in body
    )
    assert "&lt;script&gt;x&lt;/script&gt;" in body
    assert "<script>x</script>" not in body
    assert shown["Content-Security-Policy"].startswith("default-src 'self'")


def test_the_mail_page_opens_only_files_the_backend_wrote(mailbox, client, tmp_path):
    (tmp_path / "secret.eml").write_text("Subject: no\n\nno")
    mailbox.mkdir()
    for name in ("../secret.eml", "..%2Fsecret.eml", "secret.eml", "20261123T101502.123456Z-nothing.eml"):
        assert client.get(f"/_dev/mail/{name}").status_code == 404, name


def test_the_mail_page_says_where_mail_goes_when_not_to_a_folder(settings, client):
    settings.DEBUG = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"

    body = client.get("/_dev/mail/").content.decode()

    assert (
        "Mail does not go to a folder here (<code>django.core.mail.backends.locmem.EmailBackend</code>)"
        in body
    )


def test_the_mail_pages_are_404_without_debug(mailbox, settings, client):
    send("Your link", "text")
    name = next(mailbox.iterdir()).name
    settings.DEBUG = False

    assert client.get("/_dev/mail/").status_code == 404
    assert client.get(f"/_dev/mail/{name}").status_code == 404
