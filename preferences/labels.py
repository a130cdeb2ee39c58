"""Translated names of channels and cadences for the hosted pages and emails.

The model choices keep their English labels (the API and migrations use them); people see these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise as Label
else:
    from django.utils.functional import Promise as Label

CHANNEL_LABELS: dict[str, Label] = {
    "email": _("Email"),
    "sms": _("Text message (SMS)"),
    "push": _("Push notification"),
    "post": _("Post"),
    "phone": _("Phone call"),
}

# "All <channel>": the object of "Unsubscribe from all …".
CHANNEL_ALL_LABELS: dict[str, Label] = {
    "email": _("all emails"),
    "sms": _("all text messages"),
    "push": _("all push notifications"),
    "post": _("all post"),
    "phone": _("all phone calls"),
}

CADENCE_LABELS: dict[str, Label] = {
    "immediate": _("As it happens"),
    "daily": _("Daily digest"),
    "weekly": _("Weekly digest"),
    "monthly": _("Monthly digest"),
}

# The least frequent first: what "a digest instead" offers.
DIGESTS_LEAST_FREQUENT_FIRST = ("monthly", "weekly", "daily")

DIGEST_OFFERS: dict[str, Label] = {
    "monthly": _("Get a monthly digest instead"),
    "weekly": _("Get a weekly digest instead"),
    "daily": _("Get a daily digest instead"),
}

# With %(topic)s.
DIGEST_TAKEN: dict[str, Label] = {
    "monthly": _("You'll get “%(topic)s” as a monthly digest instead."),
    "weekly": _("You'll get “%(topic)s” as a weekly digest instead."),
    "daily": _("You'll get “%(topic)s” as a daily digest instead."),
}

PROFILE_FIELDS = ("email", "phone", "locale", "timezone", "jurisdiction")

PROFILE_LABELS: dict[str, Label] = {
    "email": _("Email address"),
    "phone": _("Phone number"),
    "locale": _("Language"),
    "timezone": _("Time zone"),
    "jurisdiction": _("Country or region"),
}

PROFILE_WHY: dict[str, Label] = {
    "email": _("To send you the emails you chose, and links to this page."),
    "phone": _("To send you the text messages or calls you chose."),
    "locale": _("To write to you, and show this page, in your language."),
    "timezone": _("To send messages at a sensible time of day where you are."),
    "jurisdiction": _("To apply the privacy and marketing rules of where you live."),
}
