"""HubSpot's answers read for when to call again (its rate-limit headers and 429 bodies), for every
part of the connector that calls it (hubspot, hubspot_moves)."""

from __future__ import annotations

import httpx

EXCERPT = 1024  # characters of an answer kept in the delivery log
DAILY_WAIT = 3600.0  # seconds: past the daily limit, try again in an hour


def rate_wait(response: httpx.Response) -> float | None:
    """Seconds to wait before the next call, from HubSpot's rate-limit headers and 429 body."""
    headers = response.headers
    interval = _number(headers.get("x-hubspot-ratelimit-interval-milliseconds"))
    window = interval / 1000 if interval else 10.0
    if response.status_code == 429:
        retry_after = _number(headers.get("retry-after"))
        if retry_after is not None:
            return retry_after
        try:
            policy = str(response.json().get("policyName", "")).upper()
        except (ValueError, AttributeError):
            policy = ""
        if "DAILY" in policy:
            return DAILY_WAIT
        if policy == "SECONDLY":
            return 1.0
        return window
    if headers.get("x-hubspot-ratelimit-daily-remaining") == "0":
        return DAILY_WAIT
    if headers.get("x-hubspot-ratelimit-remaining") == "0":
        return window
    if headers.get("x-hubspot-ratelimit-secondly-remaining") == "0":
        return 1.0
    return None


def _number(raw: str | None) -> float | None:
    try:
        return float(raw) if raw is not None and raw.strip() else None
    except ValueError:
        return None
