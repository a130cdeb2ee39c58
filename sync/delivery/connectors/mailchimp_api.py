"""Mailchimp's Marketing API as every part of the connector calls it (sync.delivery.connectors.
mailchimp has the vendor mapping): the host, auth, reads, the member rule's outcome in a call's
answer, and its errors. Nothing here holds state."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import httpx

from sync.delivery.connectors.vendors import PushResult, Target, VendorError, redact

DEFAULT_BASE_URL = "https://api.mailchimp.com"  # replaced by https://<dc>.api.mailchimp.com
API_KEY = re.compile(r"^[0-9a-f]{32}-([a-z]{2,4}[0-9]{1,3})$")
BATCH_MAX = 500
BULK_BATCH = 5000  # a backfill's batch through batch operations: up to 5000 x lists operations
PAGE = 1000  # Mailchimp's largest `count`
THROTTLED_DELAY = 2.0  # seconds: a connection slot frees in about one call's time
EXCERPT = 1024
COMPLIANCE = "compliance state"
FORGOTTEN = "permanently deleted"
NOTHING = PushResult(succeeded=True, excerpt="Nothing to push for this contact's current state.")


def subscriber_hash(email: str) -> str:
    """Mailchimp's id of a member in a list: the MD5 of the lower-cased address."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def data_centre(api_key: str) -> str | None:
    match = API_KEY.match(api_key) if isinstance(api_key, str) else None
    return match.group(1) if match else None


def api_root(target: Target) -> str:
    if target.base_url.rstrip("/") == DEFAULT_BASE_URL:
        dc = data_centre(target.credentials.get("api_key", ""))
        if dc is None:
            raise VendorError("The Mailchimp API key names no data centre.", status_code=401)
        return f"https://{dc}.api.mailchimp.com/3.0"
    return f"{target.base_url.rstrip('/')}/3.0"


def api_auth(target: Target) -> httpx.BasicAuth:
    return httpx.BasicAuth("candor", target.credentials["api_key"])


def api_get(
    target: Target, path: str, *, client: httpx.Client, params: dict[str, Any] | None = None
) -> httpx.Response:
    try:
        return client.get(f"{api_root(target)}{path}", params=params, auth=api_auth(target))
    except httpx.HTTPError as exc:
        raise VendorError(f"Mailchimp could not be reached: {type(exc).__name__}.") from exc


def api_write(
    target: Target, method: str, path: str, *, client: httpx.Client, body: dict[str, Any] | None = None
) -> httpx.Response | PushResult:
    """One write call (`body` sent as JSON), or the failure that kept it from being answered: no
    data centre in the key, a timeout, no connection (its words without credentials)."""
    try:
        return client.request(
            method,
            f"{api_root(target)}{path}",
            content=json.dumps(body, separators=(",", ":")).encode() if body is not None else None,
            headers={"content-type": "application/json"} if body is not None else None,
            auth=api_auth(target),
        )
    except VendorError as exc:
        return PushResult(succeeded=False, error=str(exc), status_code=exc.status_code)
    except httpx.TimeoutException:
        return PushResult(succeeded=False, error="Mailchimp did not answer in time.")
    except httpx.HTTPError as exc:
        return PushResult(
            succeeded=False, error=redact(f"{type(exc).__name__}: {exc}", target.credentials)[:300]
        )


def api_read(
    target: Target, path: str, *, client: httpx.Client, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = api_get(target, path, client=client, params=params)
    if response.status_code != 200:
        raise VendorError(
            f"Mailchimp answered {response.status_code}: {problem_text(response, target)}",
            status_code=response.status_code,
        )
    body = response.json()
    if not isinstance(body, dict):
        raise VendorError("Mailchimp answered something that is not a JSON object.")
    return body


def api_paged(
    target: Target, path: str, key: str, *, client: httpx.Client, fields: str | None = None
) -> list[dict[str, Any]]:
    """Every row, page by page, until Mailchimp's `total_items` (or an empty page)."""
    rows: list[dict[str, Any]] = []
    while True:
        params: dict[str, Any] = {"count": PAGE, "offset": len(rows)}
        if fields:
            params["fields"] = fields
        body = api_read(target, path, client=client, params=params)
        batch = body.get(key) or []
        rows += batch
        if len(rows) >= int(body.get("total_items") or 0) or not batch:
            return rows


def member_outcome(*, target: Target, list_id: str, status: int, error: str) -> PushResult:
    """One member's outcome in one list, from either endpoint: `status` 200 and no `error` is
    done; Mailchimp's compliance state and a permanently deleted address are Mailchimp's own
    "no", kept (succeeded, noted); a 429 or 5xx is retried; any other refusal fails for good."""
    if status < 300 and not error:
        return PushResult(succeeded=True, status_code=status, excerpt=f"list {list_id}: upserted")
    lowered = error.lower()
    if COMPLIANCE in lowered:
        return PushResult(
            succeeded=True,
            status_code=status,
            excerpt=f"list {list_id}: Mailchimp keeps this member's own unsubscribe or "
            "bounce (compliance state); not subscribed again.",
        )
    if FORGOTTEN in lowered:
        return PushResult(
            succeeded=True,
            status_code=status,
            excerpt=f"list {list_id}: Mailchimp deleted this address permanently and imports it no "
            "more; only the person can sign up again.",
        )
    retried = status == 429 or status >= 500
    return PushResult(
        succeeded=False,
        status_code=status,
        excerpt=redact(error, target.credentials)[:EXCERPT],
        error=f"Mailchimp refused the member in list {list_id}.",
        retry_after=THROTTLED_DELAY if status == 429 else None,
        permanent=not retried,
    )


def outcome_merged(before: PushResult | None, result: PushResult) -> PushResult:
    """A delivery's outcome over several lists: a retry needed wins, then a refusal for good,
    then success (the later list's note)."""

    def weight(outcome: PushResult) -> int:
        return 0 if outcome.succeeded else 1 if outcome.permanent else 2

    return result if before is None or weight(result) >= weight(before) else before


def refused(response: httpx.Response, target: Target, *, what: str) -> PushResult:
    """A call Mailchimp answered with an error: 400-class refusals other than auth and throttling
    are the request's own fault (for good); the rest are retried (429 after Retry-After, or
    THROTTLED_DELAY: Mailchimp sends none)."""
    status = response.status_code
    retry_after = retry_after_seconds(response.headers.get("retry-after"))
    if status == 429 and retry_after is None:
        retry_after = THROTTLED_DELAY
    return PushResult(
        succeeded=False,
        status_code=status,
        excerpt=redact(response.text[:EXCERPT], target.credentials),
        error=f"Mailchimp answered {status} to {what}.",
        retry_after=retry_after,
        permanent=400 <= status < 500 and status not in (401, 403, 408, 409, 429),
    )


def not_tried(result: PushResult) -> PushResult:
    return PushResult(
        succeeded=False,
        status_code=result.status_code,
        error="Not sent: an earlier call of the batch failed.",
        retry_after=result.retry_after,
    )


def retry_after_seconds(raw: str | None) -> float | None:
    if raw and raw.strip().isdigit():
        return float(raw.strip())
    return None


def problem_text(response: httpx.Response, target: Target) -> str:
    """A problem document's title and detail, without credentials."""
    try:
        body = response.json()
        detail = f"{body.get('title', '')}: {body.get('detail', '')}".strip(": ")
        fields = "; ".join(f"{e.get('field')}: {e.get('message')}" for e in body.get("errors") or [])
        if fields:
            detail += f" ({fields})"
    except (ValueError, AttributeError):
        detail = response.text[:200]
    return redact(detail, target.credentials)[:300]
