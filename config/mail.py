"""Development mail: a backend that files each message as one .eml under a folder (var/mail/
for `make run`), and the readers behind the DEBUG-only mail pages (config/home.py).

Production refuses this backend (settings.DEVELOPMENT_EMAIL_BACKENDS): the files hold addresses,
links and sign-in codes in clear.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage as ParsedMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage
from django.utils.text import slugify

# What the backend writes, and all the pages will open: no path separators, no dot-dot.
FILE_NAME = re.compile(r"\A\d{8}T\d{6}\.\d{6}Z(?:-[a-z0-9-]{1,60})?(?:-\d+)?\.eml\Z")
SLUG_LENGTH = 60


def file_name(*, subject: str, now: datetime) -> str:
    """`20261123T101502.123456Z-confirm-your-subscription.eml`: sorted by name is sorted by time."""
    slug = slugify(subject)[:SLUG_LENGTH].strip("-")
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{stamp}-{slug}.eml" if slug else f"{stamp}.eml"


logger = logging.getLogger(__name__)


class WithheldBackend(BaseEmailBackend):
    """What `EMAIL_URL=console://` means when DEBUG is false: nothing is sent and nothing of a
    message is printed (its addresses, links and codes would end in the logs), only one warning
    per batch that mail was withheld, so a server started for load tests (../shared/peers)
    runs, and an operator who forgot EMAIL_URL sees why no mail arrives."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        if email_messages:
            logger.warning(
                "Withheld %d email(s): EMAIL_URL=console:// sends and prints no mail when DEBUG is "
                "false; set EMAIL_URL to an smtp://, smtp+tls:// or smtps:// server",
                len(email_messages),
            )
        return 0


class MailboxBackend(BaseEmailBackend):
    """One file per message, never appended to: a reader never sees half a message (each is
    written under a temporary name and renamed into place)."""

    _lock = threading.Lock()

    def __init__(self, *args: Any, file_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.folder = Path(file_path or settings.EMAIL_FILE_PATH)

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sent = 0
        self.folder.mkdir(parents=True, exist_ok=True)
        for message in email_messages:
            if not message.recipients():
                continue
            data = message.message().as_bytes(linesep="\n")
            with self._lock:
                self._write(file_name(subject=str(message.subject), now=datetime.now(UTC)), data)
            sent += 1
        return sent

    def _write(self, name: str, data: bytes) -> None:
        stem = name.removesuffix(".eml")
        for attempt in range(100):
            target = self.folder / (name if attempt == 0 else f"{stem}-{attempt}.eml")
            partial = target.with_suffix(".part")
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                continue
            os.close(fd)
            partial.write_bytes(data)
            partial.replace(target)
            return
        raise OSError(f"Could not find a free file name for {name} in {self.folder}")


@dataclass(frozen=True)
class MailSummary:
    name: str
    subject: str
    to: str
    sent_at: datetime


@dataclass(frozen=True)
class Mail:
    summary: MailSummary
    sender: str
    text: str
    has_html: bool


def mailbox_folder() -> Path | None:
    """The folder development mail is filed in, or None when mail goes elsewhere."""
    if settings.EMAIL_BACKEND != "config.mail.MailboxBackend":
        return None
    return Path(settings.EMAIL_FILE_PATH)


def _parse(path: Path) -> ParsedMessage:
    with path.open("rb") as handle:
        parsed = BytesParser(policy=policy.default).parse(handle)
    assert isinstance(parsed, ParsedMessage)
    return parsed


def _summary(name: str, parsed: ParsedMessage) -> MailSummary:
    stamp = name[: len("20261123T101502.123456Z")]
    return MailSummary(
        name=name,
        subject=str(parsed.get("Subject", "")),
        to=str(parsed.get("To", "")),
        sent_at=datetime.strptime(stamp, "%Y%m%dT%H%M%S.%fZ").replace(tzinfo=UTC),
    )


def mailbox_list(folder: Path, *, limit: int = 200) -> list[MailSummary]:
    """The newest `limit` messages, newest first."""
    if not folder.is_dir():
        return []
    names = sorted((entry.name for entry in folder.iterdir() if FILE_NAME.match(entry.name)), reverse=True)
    return [_summary(name, _parse(folder / name)) for name in names[:limit]]


def mailbox_read(folder: Path, name: str) -> Mail | None:
    """One message by its file name, or None (a name the backend never writes is never opened)."""
    if not FILE_NAME.match(name):
        return None
    path = folder / name
    if not path.is_file():
        return None
    parsed = _parse(path)
    body = parsed.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    return Mail(
        summary=_summary(name, parsed),
        sender=str(parsed.get("From", "")),
        text=str(text),
        has_html=parsed.get_body(preferencelist=("html",)) is not None,
    )
