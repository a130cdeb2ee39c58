"""What a contact's fields may hold: one rule per field.

`consent.services.contact_upsert` enforces them for every writer (the API, the hosted pages, the
admin, imports). The hosted pages' forms apply the same rules first only to answer in the
person's language. Each check returns the value as it is stored, or raises ValueError with the
message the API answers.
"""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from consent.identifiers import normalise_email

# \A…\Z: unlike ^…$, no trailing newline slips through.
LOCALE_RE = re.compile(r"\A[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8}){0,3}\Z")
JURISDICTION_RE = re.compile(r"\A[A-Z]{2}(?:-[A-Z0-9]{1,3})?\Z")
_PHONE_SEPARATORS = re.compile(r"[\s\-().]")

EMAIL_MESSAGE = "Enter a valid email address."
PHONE_MESSAGE = "Give a valid phone number in E.164 form, e.g. +4915123456789."
LOCALE_MESSAGE = "Use a BCP 47 language tag such as de or fr-CA."
TIME_ZONE_MESSAGE = "Use an IANA time zone such as Europe/Berlin."
JURISDICTION_MESSAGE = "Use an ISO 3166 code such as DE, CA or US-CA."


def email_address(raw: str) -> str:
    """The address as stored: trimmed and lower-cased, if it is one."""
    email = normalise_email(raw)
    try:
        validate_email(email)
    except ValidationError:
        raise ValueError(EMAIL_MESSAGE) from None
    return email


def phone_e164(raw: str) -> str:
    """The number in E.164 (+4915123456789), from one written with its country code and any
    spaces, hyphens, dots or brackets."""
    compact = _PHONE_SEPARATORS.sub("", raw)
    if not compact.startswith("+"):
        raise ValueError(PHONE_MESSAGE)
    try:
        number = phonenumbers.parse(compact, None)
    except phonenumbers.NumberParseException:
        raise ValueError(PHONE_MESSAGE) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(PHONE_MESSAGE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def locale_tag(raw: str) -> str:
    """A BCP 47 language tag, with hyphens ("de_DE" becomes "de-DE")."""
    if not LOCALE_RE.match(raw):
        raise ValueError(LOCALE_MESSAGE)
    return raw.replace("_", "-")


@lru_cache(maxsize=1)
def time_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def time_zone(raw: str) -> str:
    if raw not in time_zone_names():
        raise ValueError(TIME_ZONE_MESSAGE)
    return raw


def jurisdiction_code(raw: str) -> str:
    """An ISO 3166-1 country or 3166-2 region code, in capitals as ISO writes it."""
    if not JURISDICTION_RE.match(raw):
        raise ValueError(JURISDICTION_MESSAGE)
    return raw
