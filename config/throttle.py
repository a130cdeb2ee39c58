"""The one rate limiter: fixed windows counted in the shared cache, for the API and the hosted pages.

- The API: brands.auth.ApiKeyRateThrottle is DRF's throttle hook onto this counter
  (API_RATE_LIMIT per key; DRF raises Throttled, config.api answers 429 problem+json with
  Retry-After).
- The hosted pages: bad link tokens per IP (LINK_BAD_TOKEN_RATE), "email me a new link" per
  address and per IP (LINK_REQUEST_RATE, LINK_REQUEST_IP_RATE).

One atomic increment per counted request (DRF's SimpleRateThrottle instead reads, rewrites and
stores the time of every request in the window, and two requests at once can both slip
through). Rates are settings such as '1200/min' (config.env.parse_rate). Identifiers (key ids,
IP addresses, email pseudonyms) are hashed before they become cache keys.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django.core.cache import cache

from config.env import parse_rate


@dataclass(frozen=True)
class Window:
    key: str
    limit: int
    retry_after: int


def _window(scope: str, ident: str, rate: str) -> Window:
    limit, seconds = parse_rate(rate)
    now = time.time()
    start = int(now // seconds) * seconds
    digest = hashlib.sha256(ident.encode()).hexdigest()[:24]
    return Window(
        key=f"throttle:{scope}:{digest}:{start}",
        limit=limit,
        retry_after=max(1, math.ceil(start + seconds - now)),
    )


def throttle_blocked(*, scope: str, ident: str, rate: str) -> int | None:
    """Retry-After seconds if `ident` has used up this window, without counting this request."""
    window = _window(scope, ident, rate)
    count = cache.get(window.key, 0)
    return window.retry_after if count >= window.limit else None


def throttle_count(*, scope: str, ident: str, rate: str) -> int | None:
    """Count one request; Retry-After seconds if it went over the limit, else None."""
    window = _window(scope, ident, rate)
    try:
        count = cache.incr(window.key)
    except ValueError:  # the first request of this window
        count = 1 if cache.add(window.key, 1, timeout=window.retry_after + 1) else cache.incr(window.key)
    return window.retry_after if count > window.limit else None
