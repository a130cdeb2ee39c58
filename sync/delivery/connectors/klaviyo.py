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
- reads, for the reconciler (get_profiles.json, get_profiles_for_list.json): `GET /api/profiles`
  with `filter=any(email,[…])` (or phone_number) and `additional-fields[profile]=subscriptions`
  gives each profile's consent per channel and, for email, its `list_suppressions`; `GET
  /api/lists/{id}/profiles` with the same filter gives who is in the list; both page by
  `page[cursor]`, at most 100 a page, so a batch of 100 contacts is one call each.

Reconciling: a slot is `list:<list id>:<channel>`. Candor's expectation is push's own rule
(`rule.mapped_action`: subscribe reads "subscribed", unsubscribe "unsubscribed", nothing None; where
two entries name one list, push's unsubscribe job goes last, so a "no" wins there too). Klaviyo
holds "unsubscribed" when the profile's channel consent is UNSUBSCRIBED or, for email, the list
is among its list suppressions; "subscribed" when it is in the list; otherwise (no profile, or
not in the list) "unknown". A vendor "no" becomes a signal for the entry's topics and purposes on
that channel; turning a slot off is an unsubscribe job with the list (the profile is in the
list, so Klaviyo unsubscribes it from that list only).

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
from sync.delivery.connectors.rule import mapped_action
from sync.delivery.connectors.vendors import (
    AccountView,
    InboundAnswer,
    InboundRequest,
    Item,
    PushResult,
    SlotState,
    Target,
    VendorError,
    VendorSignal,
    redact,
)
from sync.outbox.contact_state import ContactState

REVISION = "2026-07-15"
SUBSCRIBE_MAX = 1000
UNSUBSCRIBE_MAX = 100
READ_MAX = 100  # profiles a page, and values an any() filter
CHANNELS = ("email", "sms")
EXCERPT = 1024
JSON_API = "application/vnd.api+json"
NOTHING = PushResult(succeeded=True, excerpt="Nothing to push for this contact's current state.")


def _iso(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at is not None else None


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
                    action = mapped_action(item.state, entry, channel)
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

    # --- reconcile -----------------------------------------------------------------------------

    def expected(self, mapping: dict[str, Any], state: ContactState) -> dict[str, SlotState | None]:
        slots: dict[str, SlotState | None] = {}
        for entry in mapping.get("lists", []):
            for channel in entry.get("channels", ["email"]):
                slot = f"list:{entry['list']}:{channel}"
                action = mapped_action(state, entry, channel)
                value: SlotState | None = (
                    None if action is None else "subscribed" if action[0] == "subscribe" else "unsubscribed"
                )
                before = slots.get(slot)
                # Push sends a list's unsubscribe job after its subscribe job: the "no" wins.
                if before == "unsubscribed" or (before == "subscribed" and value is None):
                    continue
                slots[slot] = value
        return slots

    def vendor_read(
        self, target: Target, states: Sequence[ContactState], *, client: httpx.Client
    ) -> dict[int, dict[str, SlotState]]:
        wanted: dict[str, set[str]] = {}  # channel -> list ids
        for entry in target.mapping.get("lists", []):
            for channel in entry.get("channels", ["email"]):
                wanted.setdefault(channel, set()).add(entry["list"])
        read: dict[int, dict[str, SlotState]] = {state.contact_ref: {} for state in states}
        for channel, list_ids in sorted(wanted.items()):
            field = "email" if channel == "email" else "phone_number"
            keys = {
                state.contact_ref: _identifier(state, channel)
                for state in states
                if _identifier(state, channel) is not None and not state.erased
            }
            values = sorted({key for key in keys.values() if key is not None})
            if not values:
                continue
            profiles: dict[str, dict[str, Any]] = {}
            for row in self._read_all(
                target, "/api/profiles", field, values, client=client, subscriptions=True
            ):
                identifier = (row.get("attributes") or {}).get(field)
                if isinstance(identifier, str):
                    profiles[identifier.lower()] = row["attributes"]
            for list_id in sorted(list_ids):
                members = {
                    str((row.get("attributes") or {}).get(field) or "").lower()
                    for row in self._read_all(
                        target, f"/api/lists/{list_id}/profiles", field, values, client=client
                    )
                }
                for contact_ref, identifier in keys.items():
                    assert identifier is not None
                    read[contact_ref][f"list:{list_id}:{channel}"] = _slot_read(
                        profiles.get(identifier), identifier in members, list_id=list_id, channel=channel
                    )
        return read

    def _read_all(
        self,
        target: Target,
        path: str,
        field: str,
        values: list[str],
        *,
        client: httpx.Client,
        subscriptions: bool = False,
    ) -> list[dict[str, Any]]:
        """Every profile a filtered read returns, 100 values a filter and 100 rows a page."""
        rows: list[dict[str, Any]] = []
        for start in range(0, len(values), READ_MAX):
            chunk = values[start : start + READ_MAX]
            params = {"filter": f"any({field},{json.dumps(chunk)})", "page[size]": str(READ_MAX)}
            if subscriptions:
                params["additional-fields[profile]"] = "subscriptions"
            url: str | None = f"{target.base_url}{path}"
            for _ in range(100):
                if url is None:
                    break
                try:
                    response = client.get(url, params=params, headers=self._headers(target))
                except httpx.HTTPError as exc:
                    raise VendorError(f"Klaviyo could not be reached: {type(exc).__name__}.") from exc
                if response.status_code != 200:
                    raise VendorError(
                        f"Klaviyo answered {response.status_code}: {_error_detail(response, target)}",
                        status_code=response.status_code,
                        retry_after=_retry_after(response.headers.get("retry-after")),
                    )
                body = response.json()
                rows += body.get("data") or []
                url = (body.get("links") or {}).get("next")
                params = {}  # the next link carries them
                if url and not url.startswith(target.base_url + "/"):
                    raise VendorError("Klaviyo's next page points at another host; not followed.")
        return rows

    def slot_signal(
        self, mapping: dict[str, Any], slot: str, state: ContactState, *, event_id: str
    ) -> VendorSignal:
        _, list_id, channel = slot.split(":", 2)
        entries = [
            entry
            for entry in mapping.get("lists", [])
            if entry["list"] == list_id and channel in entry.get("channels", ["email"])
        ]
        return VendorSignal(
            event_id=event_id,
            kind="unsubscribed",
            channel=channel,
            email=state.email if channel == "email" else None,
            phone=state.phone if channel == "sms" else None,
            external_id=state.external_id,
            topics=tuple(sorted({entry["topic"] for entry in entries if entry.get("topic")})),
            purposes=tuple(sorted({entry["purpose"] for entry in entries if entry.get("purpose")})),
            detail={"list": list_id, "found_by": "reconciler"},
        )

    def slots_turn_off(
        self, target: Target, offs: Sequence[tuple[ContactState, str]], *, client: httpx.Client
    ) -> list[PushResult]:
        """One unsubscribe job per list (100 profiles a job); each slot's outcome is its job's."""
        by_list: dict[str, dict[int, dict[str, Any]]] = {}
        for state, slot in offs:
            _, list_id, channel = slot.split(":", 2)
            profile = by_list.setdefault(list_id, {}).setdefault(
                state.contact_ref, {"state": state, "channels": {}}
            )
            profile["channels"][channel] = None
        outcome: dict[tuple[str, int], PushResult] = {}
        for list_id, profiles in sorted(by_list.items()):
            refs = sorted(profiles)
            for start in range(0, len(refs), UNSUBSCRIBE_MAX):
                chunk = refs[start : start + UNSUBSCRIBE_MAX]
                body = self.job_body(
                    kind="unsubscribe", list_id=list_id, profiles=[profiles[r] for r in chunk]
                )
                result = self._post_job(target, kind="unsubscribe", body=body, client=client)
                for ref in chunk:
                    outcome[(list_id, ref)] = result
        return [outcome[(slot.split(":", 2)[1], state.contact_ref)] for state, slot in offs]

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


def _identifier(state: ContactState, channel: str) -> str | None:
    value = state.email if channel == "email" else state.phone
    return value.lower() if value else None


def _slot_read(profile: dict[str, Any] | None, member: bool, *, list_id: str, channel: str) -> SlotState:
    """What Klaviyo holds for one list and channel of one profile (None: no such profile)."""
    if profile is None:
        return "unknown"
    marketing = ((profile.get("subscriptions") or {}).get(channel) or {}).get("marketing") or {}
    suppressed_here = channel == "email" and any(
        row.get("list_id") == list_id for row in marketing.get("list_suppressions") or []
    )
    if marketing.get("consent") == "UNSUBSCRIBED" or suppressed_here:
        return "unsubscribed"
    return "subscribed" if member else "unknown"


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
