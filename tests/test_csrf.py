"""The CSRF token of the hosted pages and the console (config.csrf): what Django's get_token
answers, laid out as Django lays it out so its middleware unmasks and checks it, with a mask in
which every character is equally likely, new for every page."""

from __future__ import annotations

import pytest
from django.middleware.csrf import (
    CSRF_ALLOWED_CHARS,
    CsrfViewMiddleware,
    _get_new_csrf_string,
    _unmask_cipher_token,
)
from django.test import RequestFactory

from config import csrf
from config.csrf import csrf_field, csrf_token


def cookie_read(cookie: str | None = None):
    """A request as CsrfViewMiddleware leaves it for the view: its cookie's secret read."""
    factory = RequestFactory()
    if cookie is not None:
        factory.cookies["csrftoken"] = cookie
    request = factory.get("/p/acme/")
    CsrfViewMiddleware(lambda r: None).process_request(request)
    return request


def test_the_token_unmasks_to_the_cookies_secret_and_leaves_the_cookie_as_it_is():
    secret = _get_new_csrf_string()
    request = cookie_read(secret)

    tokens = {csrf_token(request) for _ in range(50)}

    assert len(tokens) == 50  # a new mask each time
    for token in tokens:
        assert len(token) == 64
        assert set(token) <= set(CSRF_ALLOWED_CHARS)
        assert _unmask_cipher_token(token) == secret
    assert request.META["CSRF_COOKIE"] == secret
    assert "CSRF_COOKIE_NEEDS_UPDATE" not in request.META  # not sent again: Django's would be


@pytest.mark.parametrize("cookie", [None, "short", "!" * 32])
def test_without_a_usable_cookie_django_makes_the_secret(cookie):
    request = cookie_read(cookie)

    token = csrf_token(request)

    secret = request.META["CSRF_COOKIE"]
    assert secret != cookie
    assert len(secret) == 32
    assert _unmask_cipher_token(token) == secret
    assert request.META["CSRF_COOKIE_NEEDS_UPDATE"] is True


def test_every_character_of_the_mask_is_equally_likely(monkeypatch):
    # Bytes 248-255 would make the first eight characters likelier (256 is not a multiple of 62):
    # they are dropped, and each byte kept counts modulo 62.
    drawn = iter([bytes(range(248, 256)) + bytes(range(40)), bytes(range(200, 248))])
    monkeypatch.setattr(csrf.secrets, "token_bytes", lambda n: next(drawn))
    secret = "a" * 32

    token = csrf._mask(secret)

    assert token[:32] == CSRF_ALLOWED_CHARS[:32]
    assert _unmask_cipher_token(token) == secret


def test_a_draw_short_of_usable_bytes_draws_again(monkeypatch):
    drawn = iter([bytes([255] * 20) + bytes(range(28)), bytes(range(100, 148))])
    monkeypatch.setattr(csrf.secrets, "token_bytes", lambda n: next(drawn))
    secret = _get_new_csrf_string()

    token = csrf._mask(secret)

    shifts = [*range(28), 100 % 62, 101 % 62, 102 % 62, 103 % 62]
    assert token[:32] == "".join(CSRF_ALLOWED_CHARS[s] for s in shifts)
    assert _unmask_cipher_token(token) == secret


def test_the_field_is_djangos():
    assert csrf_field("abc") == '<input type="hidden" name="csrfmiddlewaretoken" value="abc">'
