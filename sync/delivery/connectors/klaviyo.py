"""Klaviyo: Candor topics and purposes onto Klaviyo lists, email and SMS marketing consent.

Read from Klaviyo's published OpenAPI description (github.com/klaviyo/openapi, openapi/stable/apis/
bulk_subscribe_profiles.json, bulk_unsubscribe_profiles.json, get_lists.json and
request_profile_deletion.json, revision 2026-07-15) and the API reference
(developers.klaviyo.com/en/reference/bulk_subscribe_profiles):

- every request sends `Authorization: Klaviyo-API-Key <private key>` and the required `revision`
  header; bodies are JSON:API (`application/vnd.api+json`), errors `{"errors": [{"id", "code",
  "title", "detail", "source"}]}`;
- `POST /api/profile-subscription-bulk-create-jobs` subscribes up to 1000 profiles, with the list
  as the job's `relationships.list`; `consented_at` is accepted only with `historical_import`
  true, which also skips Klaviyo's own double opt-in and "added to list" flows: right for Candor,
  which collected (and where needed double-confirmed) the consent itself;
- `POST /api/profile-subscription-bulk-delete-jobs` unsubscribes up to 100 profiles; with a list, a
  profile not in that list is unsubscribed globally (Klaviyo's warning), so it is only sent for a
  real "no" in Candor;
- `GET /api/lists` pages by `page[cursor]` (at most 10 a page);
- rate limits: burst 75/s, steady 750/m for these endpoints; a 429 carries Retry-After, which the
  retry honours (the claim's batch waits, nothing is dropped).

What one delivery pushes is the contact's state now, for every list the mapping names (an event
about one topic still pushes all of them: it is cheap and repairs drift). Per list entry and
channel: subscribe when the mapped topic reads subscribed and the mapped purpose is granted;
unsubscribe when either is a "no" (unsubscribed, withdrawn, expired), the channel is opted out
or the address suppressed; otherwise (not set, pending double opt-in) nothing. An erasure is not
pushed yet: after it Candor no longer holds the address Klaviyo knows the profile by (a data
privacy deletion job needs it), so it waits for a stored vendor profile id (later work).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
from django.utils import timezone

from sync.delivery.connectors.klaviyo_inbound import klaviyo_inbound
from sync.delivery.connectors.vendors import (
    AccountView,
    InboundAnswer,
    InboundRequest,
    Item,
    PushResult,
    Target,
    VendorError,
    VendorSignal,
    redact,
)
from sync.outbox.contact_state import ContactState

REVISION = "2026-07-15"
SUBSCRIBE_MAX = 1000
UNSUBSCRIBE_MAX = 100
CHANNELS = ("email", "sms")
EXCERPT = 1024
JSON_API = "application/vnd.api+json"
NOTHING = PushResult(succeeded=True, excerpt="Nothing to push for this contact's current state.")


def _iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at is not None else None


def list_action(
    state: ContactState, entry: dict[str, Any], channel: str
) -> tuple[str, datetime | None] | None:
    """("subscribe", consented_at) | ("unsubscribe", None) | None for one mapping entry and
    channel: a "no" anywhere wins over every "yes"."""
    identifier = state.email if channel == "email" else state.phone
    if not identifier or state.erased:
        return None
    topic, purpose = entry.get("topic"), entry.get("purpose")
    status = state.subscriptions.get((topic, channel)) if topic else None
    consent = state.consents.get(purpose) if purpose else None
    if topic and status is None:
        return None  # the topic is not offered on this channel
    no = (
        state.unsubscribed_all.get(channel, False)
        or (channel == "email" and state.suppressed)
        or status == "unsubscribed"
        or consent in ("withdrawn", "expired")
    )
    if no:
        return ("unsubscribe", None)
    if (not topic or status == "subscribed") and (not purpose or consent == "granted"):
        times = [
            t
            for t in (
                state.subscribed_at.get((topic, channel)) if topic else None,
                state.consented_at.get(purpose) if purpose else None,
            )
            if t is not None
        ]
        return ("subscribe", max(times) if times else None)
    return None


class KlaviyoAdapter:
    vendor = "klaviyo"
    default_base_url = "https://a.klaviyo.com"
    max_batch = UNSUBSCRIBE_MAX

    # --- configuration -----------------------------------------------------------------------

    def credentials_errors(self, credentials: Any) -> list[str]:
        if (
            not isinstance(credentials, dict)
            or "api_key" not in credentials
            or not set(credentials) <= {"api_key", "webhook_secret"}
        ):
            return [
                'Klaviyo takes {"api_key": "<private API key>", "webhook_secret"?: "…"} and nothing else.'
            ]
        key = credentials["api_key"]
        problems = []
        if not isinstance(key, str) or not key.startswith("pk_") or len(key) < 10:
            problems.append("api_key must be a Klaviyo private API key (it starts with pk_).")
        secret = credentials.get("webhook_secret")
        if secret is not None and (not isinstance(secret, str) or len(secret) < 16):
            # Klaviyo's own rule for a webhook's secret key.
            problems.append("webhook_secret is the secret key of the Klaviyo webhook, 16 characters or more.")
        return problems

    def mapping_errors(
        self, mapping: Any, *, topics: dict[str, list[str]], purposes: set[str]
    ) -> dict[str, list[str]]:
        """{"lists": [{"list": "<Klaviyo list id>", "topic"?: slug, "purpose"?: slug,
        "channels"?: ["email", "sms"]}]}: each entry names a topic, a purpose or both."""
        if (
            not isinstance(mapping, dict)
            or set(mapping) != {"lists"}
            or not isinstance(mapping["lists"], list)
        ):
            return {
                "mapping": ['The mapping is {"lists": [{"list", "topic"?, "purpose"?, "channels"?}, …]}.']
            }
        errors: dict[str, list[str]] = {}
        for index, entry in enumerate(mapping["lists"]):
            where = f"mapping.lists.{index}"
            problems: list[str] = []
            if not isinstance(entry, dict):
                errors[where] = ["Each entry is an object."]
                continue
            unknown_keys = sorted(set(entry) - {"list", "topic", "purpose", "channels"})
            if unknown_keys:
                problems.append(f"Unknown key(s): {', '.join(unknown_keys)}.")
            if not isinstance(entry.get("list"), str) or not entry.get("list"):
                problems.append("list must be a Klaviyo list id.")
            topic, purpose = entry.get("topic"), entry.get("purpose")
            if topic is None and purpose is None:
                problems.append("Name a topic, a purpose or both.")
            if topic is not None and topic not in topics:
                problems.append(f"Unknown topic {topic!r}.")
            if purpose is not None and purpose not in purposes:
                problems.append(f"Unknown purpose {purpose!r}.")
            channels = entry.get("channels", ["email"])
            if (
                not isinstance(channels, list)
                or not channels
                or any(channel not in CHANNELS for channel in channels)
                or len(set(channels)) != len(channels)
            ):
                problems.append("channels is a list of email and/or sms.")
            elif isinstance(topic, str) and topic in topics:
                missing = [channel for channel in channels if channel not in topics[topic]]
                if missing:
                    problems.append(f"Topic {topic!r} is not offered on {', '.join(missing)}.")
            if problems:
                errors[where] = problems
        return errors

    def mapping_lists(self, mapping: dict[str, Any]) -> set[str]:
        return {entry["list"] for entry in mapping.get("lists", [])}

    # --- inbound -----------------------------------------------------------------------------

    polled = False

    def inbound(self, target: Target, request: InboundRequest) -> InboundAnswer:
        return klaviyo_inbound(target, request)

    def poll(
        self, target: Target, watermark: str | None, *, client: httpx.Client
    ) -> tuple[list[VendorSignal], str | None]:
        return [], watermark  # Klaviyo calls Candor: never polled

    # --- calls -------------------------------------------------------------------------------

    def _headers(self, target: Target) -> dict[str, str]:
        return {
            "Authorization": f"Klaviyo-API-Key {target.credentials['api_key']}",
            "revision": REVISION,
            "accept": JSON_API,
            "content-type": JSON_API,
        }

    def account_view(self, target: Target, *, client: httpx.Client) -> AccountView:
        """Every list of the account (GET /api/lists, page by page); VendorError if the key or
        the host does not work."""
        lists: list[dict[str, str]] = []
        url: str | None = f"{target.base_url}/api/lists"
        for _ in range(100):  # 1000 lists at 10 a page: enough for a check
            if url is None:
                break
            try:
                response = client.get(url, headers=self._headers(target))
            except httpx.HTTPError as exc:
                raise VendorError(f"Klaviyo could not be reached: {type(exc).__name__}.") from exc
            if response.status_code != 200:
                raise VendorError(
                    f"Klaviyo answered {response.status_code}: {_error_detail(response, target)}",
                    status_code=response.status_code,
                )
            body = response.json()
            lists += [
                {"id": row["id"], "name": (row.get("attributes") or {}).get("name") or ""}
                for row in body["data"]
            ]
            url = (body.get("links") or {}).get("next")
            if url and not url.startswith(target.base_url + "/"):
                raise VendorError("Klaviyo's next page points at another host; not followed.")
        return AccountView(ok=True, detail=f"The key works; {len(lists)} list(s) visible.", lists=lists)

    def push(self, target: Target, items: Sequence[Item], *, client: httpx.Client) -> list[PushResult]:
        """One subscribe job and one unsubscribe job per mapped list at most (fewer if nothing
        changes), for the whole batch; each delivery's outcome is that of the calls its contact
        was in (none: succeeded, nothing to push)."""
        jobs: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
        for item in items:
            if item.state is None:
                continue
            for entry in target.mapping.get("lists", []):
                for channel in entry.get("channels", ["email"]):
                    action = list_action(item.state, entry, channel)
                    if action is None:
                        continue
                    kind, consented_at = action
                    profile = jobs.setdefault((kind, entry["list"]), {}).setdefault(
                        item.delivery_id, {"state": item.state, "channels": {}}
                    )
                    profile["channels"][channel] = consented_at
        calls = []
        for (kind, list_id), profiles in sorted(jobs.items()):
            ids = sorted(profiles)
            size = SUBSCRIBE_MAX if kind == "subscribe" else UNSUBSCRIBE_MAX
            calls += [
                (kind, list_id, ids[start : start + size], profiles) for start in range(0, len(ids), size)
            ]
        pending = {item.delivery_id: 0 for item in items}
        for _kind, _list_id, chunk, _profiles in calls:
            for delivery_id in chunk:
                pending[delivery_id] += 1
        last: dict[int, PushResult] = {}
        for kind, list_id, chunk, profiles in calls:
            body = self.job_body(kind=kind, list_id=list_id, profiles=[profiles[i] for i in chunk])
            result = self._post_job(target, kind=kind, body=body, client=client)
            if not result.succeeded:
                # Throttled, refused or down: call it no more in this batch. A delivery with a call
                # still to make fails (and is retried whole: pushing current state is idempotent).
                return [
                    result
                    if item.delivery_id in chunk
                    else _not_tried(result)
                    if pending[item.delivery_id]
                    else last.get(item.delivery_id, NOTHING)
                    for item in items
                ]
            for delivery_id in chunk:
                pending[delivery_id] -= 1
                last[delivery_id] = result
        return [last.get(item.delivery_id, NOTHING) for item in items]

    @staticmethod
    def job_body(*, kind: str, list_id: str, profiles: list[dict[str, Any]]) -> dict[str, Any]:
        """The JSON:API body of a bulk subscribe ("subscribe") or unsubscribe job."""
        rows = []
        for profile in profiles:
            state: ContactState = profile["state"]
            attributes: dict[str, Any] = {}
            subscriptions: dict[str, Any] = {}
            for channel, consented_at in sorted(profile["channels"].items()):
                if channel == "email":
                    attributes["email"] = state.email
                else:
                    attributes["phone_number"] = state.phone
                if kind == "subscribe":
                    # historical_import needs a time for each: without a recorded one (a
                    # topic subscribed by default), the push itself is when Candor vouches for it.
                    marketing: dict[str, Any] = {
                        "consent": "SUBSCRIBED",
                        "consented_at": _iso(consented_at or timezone.now()),
                    }
                else:
                    marketing = {"consent": "UNSUBSCRIBED"}
                subscriptions[channel] = {"marketing": marketing}
            attributes["subscriptions"] = subscriptions
            rows.append({"type": "profile", "attributes": attributes})
        if kind == "subscribe":
            data: dict[str, Any] = {
                "type": "profile-subscription-bulk-create-job",
                "attributes": {
                    "custom_source": "Candor",
                    "profiles": {"data": rows},
                    "historical_import": True,
                },
            }
        else:
            data = {
                "type": "profile-subscription-bulk-delete-job",
                "attributes": {"profiles": {"data": rows}},
            }
        data["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
        return {"data": data}

    def _post_job(
        self, target: Target, *, kind: str, body: dict[str, Any], client: httpx.Client
    ) -> PushResult:
        path = (
            "profile-subscription-bulk-create-jobs"
            if kind == "subscribe"
            else "profile-subscription-bulk-delete-jobs"
        )
        try:
            response = client.post(
                f"{target.base_url}/api/{path}",
                content=json.dumps(body, separators=(",", ":")).encode(),
                headers=self._headers(target),
            )
        except httpx.TimeoutException:
            return PushResult(succeeded=False, error="Klaviyo did not answer in time.")
        except httpx.HTTPError as exc:
            return PushResult(
                succeeded=False, error=redact(f"{type(exc).__name__}: {exc}", target.credentials)[:300]
            )
        excerpt = redact(response.text[:EXCERPT], target.credentials)
        status = response.status_code
        if status == 202:
            return PushResult(succeeded=True, status_code=status, excerpt=f"{kind} job accepted")
        retry_after = _retry_after(response.headers.get("retry-after"))
        # 400-class refusals other than auth and throttling are the request's own fault.
        permanent = 400 <= status < 500 and status not in (401, 403, 408, 409, 429)
        return PushResult(
            succeeded=False,
            status_code=status,
            excerpt=excerpt,
            error=f"Klaviyo answered {status} to the {kind} job.",
            retry_after=retry_after,
            permanent=permanent,
        )


def _not_tried(result: PushResult) -> PushResult:
    return PushResult(
        succeeded=False,
        status_code=result.status_code,
        error="Not sent: an earlier call of the batch failed.",
        retry_after=result.retry_after,
    )


def _retry_after(raw: str | None) -> float | None:
    if raw and raw.strip().isdigit():
        return float(raw.strip())
    return None


def _error_detail(response: httpx.Response, target: Target) -> str:
    try:
        errors = response.json().get("errors") or []
        detail = "; ".join(str(error.get("detail") or error.get("title")) for error in errors)
    except (ValueError, AttributeError):
        detail = response.text[:200]
    return redact(detail, target.credentials)[:300]
