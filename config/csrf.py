"""The CSRF token a page's forms carry: Django's get_token, masked in a fifth of the time.

Django masks the cookie's secret afresh for every page (so a compressed response never repeats
it: BREACH) by drawing 32 characters with `secrets.choice`, one call to the system's random
source each, and adding the two strings by `str.index`. That took about 40 µs of every page with
a form, the largest single cost of a kept console page after its database read (bench/README.md,
"A console list page"). Here the mask comes from one read of the same source and the sum from a
table, with the same alphabet, length and layout, so Django's middleware unmasks and checks it
unchanged (tests/test_csrf.py holds that to Django's own `_unmask_cipher_token` and to a POST).

The cookie goes out when the request came without a usable one (or Django has changed the
secret: a new sign-in rotates it). Django's get_token sends it again with every page that has a
form, only to move its expiry a year on; that took about 8% of a console page's CPU (setting the
cookie, then writing the header). A cookie not renewed lasts the year it was set for; staff get
a new one at every sign-in, and a browser whose cookie has lapsed gets a new one with its next
page.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.http import HttpRequest
from django.middleware.csrf import CSRF_ALLOWED_CHARS, CSRF_SECRET_LENGTH, get_token
from django.utils.html import format_html

_BASE = len(CSRF_ALLOWED_CHARS)  # 62
_INDEX = {char: index for index, char in enumerate(CSRF_ALLOWED_CHARS)}
# Bytes from here up are dropped, so every character is drawn with the same chance (248 is 4 times 62).
_UNBIASED_BELOW = 256 - 256 % _BASE


def _mask(secret: str) -> str:
    """The token for `secret`: a uniformly random mask, then each secret character shifted by
    the mask's (as django.middleware.csrf._mask_cipher_secret lays it out)."""
    shifts: list[int] = []
    while len(shifts) < CSRF_SECRET_LENGTH:  # 48 bytes give 32 usable ones but once in ~10^13
        shifts.extend(b % _BASE for b in secrets.token_bytes(CSRF_SECRET_LENGTH + 16) if b < _UNBIASED_BELOW)
    shifts = shifts[:CSRF_SECRET_LENGTH]
    mask = [CSRF_ALLOWED_CHARS[shift] for shift in shifts]
    cipher = [
        CSRF_ALLOWED_CHARS[(_INDEX[char] + shift) % _BASE] for char, shift in zip(secret, shifts, strict=True)
    ]
    return "".join(mask + cipher)


def csrf_token(request: HttpRequest) -> str:
    """What django.middleware.csrf.get_token answers: a request without a usable cookie gets a
    new secret, sent with the response; one with a usable cookie keeps it, not sent again."""
    secret = request.META.get("CSRF_COOKIE")
    if not secret or len(secret) != CSRF_SECRET_LENGTH or set(secret) - _INDEX.keys():
        return get_token(request)  # Django makes the secret (or masks one it will replace)
    return _mask(secret)


def csrf_field(token: Any) -> str:
    """The hidden input a form posts `token` in, as Django's `csrf_input` draws it."""
    return format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)
