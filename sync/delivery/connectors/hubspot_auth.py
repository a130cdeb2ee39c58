"""HubSpot credentials: a private app's token, or an OAuth app's refresh token.

Two shapes (developers.hubspot.com, "Private apps" and the OAuth tokens guide, "Refresh an
access token"):

- `{"access_token": "pat-…", "client_secret"?}`: a private app's token, sent as it is (it does
  not expire);
- `{"client_id", "client_secret", "refresh_token"}`: an app installed by OAuth. Before the first
  call, `POST /oauth/v1/token` (form-encoded: grant_type=refresh_token, client_id,
  client_secret, refresh_token) answers `{"access_token", "expires_in", "refresh_token",
  "token_type": "bearer"}`; the access token (30 minutes) is cached in Django's cache per
  connector until `EARLY` seconds before `expires_in`, and fetched again once when a call
  answers 401 (HubSpot's `EXPIRED_AUTHENTICATION`, or a token revoked early).

HubSpot's refresh tokens do not rotate: the answer repeats the one sent. Should it ever carry
another, the stored one is kept (the worker never writes credentials back; the stored one stays
valid until the app is uninstalled). A refused refresh is a 400 `{"status": "BAD_REFRESH_TOKEN"
(or "invalid_grant"), "message", "correlationId"}`: the app was uninstalled or the token revoked.
It is raised as `HubSpotAuthRefused`, not permanent: the delivery stays pending and is retried
as any 401, so new credentials resume the connector. Nothing here logs a token or a secret, and
every message is redacted of the credentials (and of the access token fetched) before it leaves.
The client secret of either shape also checks HubSpot's webhook signatures (hubspot_inbound).
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from django.core.cache import cache

from sync.delivery.connectors.vendors import Target, redact

TOKEN_PATH = "/oauth/v1/token"  # noqa: S105 (a path, not a secret)
# Fetch a new access token this long before HubSpot says it expires, so a call never starts with
# a token about to lapse mid-batch.
EARLY = 5 * 60
# The least a token is cached for, whatever expires_in says.
LEAST = 30
PRIVATE_APP = {"access_token", "client_secret"}
OAUTH = {"client_id", "client_secret", "refresh_token"}


class HubSpotAuthRefused(Exception):
    """HubSpot refused or could not answer the refresh; the message is safe to show (redacted)."""

    def __init__(self, message: str, *, status_code: int | None = None, excerpt: str = "") -> None:
        super().__init__(message)
        self.status_code, self.excerpt = status_code, excerpt


def is_oauth(credentials: dict[str, Any]) -> bool:
    return "refresh_token" in credentials


def credentials_problems(credentials: Any) -> list[str]:
    if not isinstance(credentials, dict) or not (
        ("access_token" in credentials and set(credentials) <= PRIVATE_APP) or set(credentials) == OAUTH
    ):
        return [
            'HubSpot takes {"access_token": "pat-…", "client_secret"?: "…"} (a private app) or '
            '{"client_id", "client_secret", "refresh_token"} (an OAuth app), and nothing else.'
        ]
    problems = []
    if "access_token" in credentials:
        token = credentials["access_token"]
        if not isinstance(token, str) or len(token) < 16 or any(c.isspace() for c in token):
            problems.append("access_token must be a HubSpot private app access token (pat-…).")
    else:
        for name, says in (
            ("client_id", "client_id is the OAuth app's client id."),
            ("refresh_token", "refresh_token is the refresh token HubSpot gave when the app was installed."),
        ):
            value = credentials[name]
            if not isinstance(value, str) or len(value) < 8 or any(c.isspace() for c in value):
                problems.append(says)
    secret = credentials.get("client_secret")
    if secret is not None and (not isinstance(secret, str) or len(secret) < 16):
        problems.append("client_secret is the app's client secret (it signs HubSpot's webhooks).")
    return problems


def _cache_key(target: Target) -> str | None:
    if not target.public_id:
        return None  # a check before the connector exists: nothing to key it by
    who = f"{target.base_url}|{target.credentials['client_id']}|{target.credentials['refresh_token']}"
    return f"connectors:hubspot:token:{target.public_id}:{hashlib.sha256(who.encode()).hexdigest()[:16]}"


def access_token(target: Target, *, client: httpx.Client, fresh: bool = False) -> str:
    """The bearer token for a call: the private app's own, or an OAuth access token (cached;
    `fresh` fetches a new one). HubSpotAuthRefused if HubSpot will not give one."""
    credentials = target.credentials
    if not is_oauth(credentials):
        return str(credentials["access_token"])
    key = _cache_key(target)
    if key is not None and fresh:
        cache.delete(key)  # refused: a retry must not send it again should the refresh fail
    elif key is not None:
        cached = cache.get(key)
        if isinstance(cached, str):
            return cached
    token, lifetime = _refresh(target, client=client)
    if key is not None:
        cache.set(key, token, max(lifetime - EARLY, LEAST))
    return token


def _refresh(target: Target, *, client: httpx.Client) -> tuple[str, int]:
    credentials = target.credentials
    form = {
        "grant_type": "refresh_token",
        "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
        "refresh_token": credentials["refresh_token"],
    }
    try:
        response = client.post(f"{target.base_url}{TOKEN_PATH}", data=form)
    except httpx.TimeoutException as exc:
        raise HubSpotAuthRefused("HubSpot's token endpoint did not answer in time.") from exc
    except httpx.HTTPError as exc:
        raise HubSpotAuthRefused(f"HubSpot could not be reached: {type(exc).__name__}.") from exc
    status = response.status_code
    excerpt = redact(response.text[:1024], credentials)
    if status == 200:
        try:
            answer = response.json()
            token, lifetime = answer["access_token"], int(answer.get("expires_in") or 0)
        except (ValueError, KeyError, TypeError, AttributeError):
            token, lifetime = None, 0
        if isinstance(token, str) and token:
            return token, lifetime
        raise HubSpotAuthRefused("HubSpot's token answer had no access_token.", status_code=200)
    try:
        error = response.json()
        code = error.get("status") or error.get("error")
        detail = f"{code}: {error.get('message') or error.get('error_description')}"
    except (ValueError, AttributeError):
        detail = response.text[:200]
    # 400 BAD_REFRESH_TOKEN / invalid_grant: the app was uninstalled or the token revoked; new
    # credentials fix it, so it is retried as a 401 is, never given up.
    raise HubSpotAuthRefused(
        redact(f"HubSpot refused the OAuth refresh token ({status}, {detail}).", credentials)[:300],
        status_code=status,
        excerpt=excerpt,
    )
