"""The services' refusals in the staff member's language.

Services answer in English: the same text reaches API clients, logs and the audit log, whatever
language a person reads the console in. The console shows the refusals its forms can meet in
the person's language: each known text here has its translation (locale/*/django.po); a text
not known here is shown as the service gave it. Tests drive the real services, so a service
text that drifts from its entry here fails them."""

from __future__ import annotations

import re
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from config.errors import ApplicationError

# (the service's text, as a whole-text pattern; its translation, with the pattern's groups)
KNOWN: tuple[tuple[re.Pattern[str], Promise], ...] = tuple(
    (re.compile(pattern), text)
    for pattern, text in (
        (
            re.escape("A brand needs at least one owner: make someone else an owner first."),
            _("A brand needs at least one owner: make someone else an owner first."),
        ),
        (
            re.escape("This person is already a member of the brand."),
            _("This person is already a member of the brand."),
        ),
        (
            re.escape("This invitation is not valid: it may have expired, been used or been withdrawn."),
            _("This invitation is not valid: it may have expired, been used or been withdrawn."),
        ),
        (
            re.escape(
                "This invitation was sent to another email address. Sign in with that address to accept it."
            ),
            _("This invitation was sent to another email address. Sign in with that address to accept it."),
        ),
        (re.escape("Use an absolute https:// URL."), _("Use an absolute https:// URL.")),
        (re.escape("Use https://."), _("Use https://.")),
        (
            re.escape("Leave credentials out of the URL; verify the signature instead."),
            _("Leave credentials out of the URL; verify the signature instead."),
        ),
        (re.escape("Leave out the #fragment."), _("Leave out the #fragment.")),
        (
            re.escape("Webhooks cannot be sent to a loopback address."),
            _("Webhooks cannot be sent to a loopback address."),
        ),
        (
            re.escape("The endpoint is disabled; enable it before sending a test message."),
            _("The endpoint is disabled; enable it before sending a test message."),
        ),
    )
)


def translated(message: Any) -> str:
    """The service's text in the active language, where it is one the console knows."""
    text = str(message)
    for pattern, translation in KNOWN:
        found = pattern.fullmatch(text)
        if found is not None:
            values = found.groupdict()
            return str(translation) % values if values else str(translation)
    return text


def refusal_errors(refused: ApplicationError) -> dict[str, list[str]]:
    """A service's refusal per field (`__all__` for the form as a whole), translated."""
    errors = refused.errors or {"__all__": [refused.detail]}
    return {name: [translated(problem) for problem in problems] for name, problems in errors.items()}
