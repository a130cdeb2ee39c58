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
- `POST /api/profile-subscription-bulk-delete-jobs` unsubscribes up to 100 profiles; the list is
  optional, and without one, or for a profile not in the list, Klaviyo unsubscribes the channel
  globally (its warning: check membership first);
- `DELETE /api/lists/{id}/relationships/profiles` (remove_profiles_from_list.json) takes up to 1000
  profile ids out of a list without touching their consent (burst 10/s, steady 150/m);
- `GET /api/lists` pages by `page[cursor]` (at most 10 a page);
- rate limits: burst 75/s, steady 750/m for these endpoints; a 429 carries Retry-After, which the
  retry honours (the claim's batch waits, nothing is dropped).
- reads, for the reconciler (get_profiles.json, get_profiles_for_list.json): `GET /api/profiles`
  with `filter=any(email,[…])` (or phone_number) and `additional-fields[profile]=subscriptions`
  gives each profile's consent per channel and, for email, its `list_suppressions`; `GET
  /api/lists/{id}/profiles` with the same filter gives who is in the list; both page by
  `page[cursor]`, at most 100 a page, so a batch of 100 contacts is one call each.

What one delivery pushes is the contact's state now, for every list the mapping names (an event
about one topic still pushes all of them: it is cheap and repairs drift). Per list and channel,
push's and the reconciler's one view (`list_actions`, from `rule.mapped_action`; entries naming
one list combine, a "no" winning): subscribe when the mapped topic reads subscribed and the
mapped purpose is granted; a "no" when either is a "no" (unsubscribed, withdrawn, expired), the
channel is opted out or the address suppressed; otherwise (not set, pending double opt-in)
nothing. A "no" is sent as Klaviyo can hold it without saying more than Candor does:
- a "no" to the whole channel (everything off, the address suppressed) is one unsubscribe job
  without a list: Klaviyo's global unsubscribe on that channel;
- a "no" to one list reaches only the list's members (read first, `GET /api/lists/{id}/profiles`,
  100 a call): by email an unsubscribe job with the list (a list suppression, which the
  reconciler reads back); by SMS, whose consent Klaviyo keeps per account, a removal from the
  list. A profile not in the list is sent nothing: the list does not reach it, and an unsubscribe
  would turn off all its marketing on the channel. (Between the read and the job a profile could
  leave the list; it would then be unsubscribed globally: a "no" erring towards "no".)

Reconciling: a list slot is `list:<list id>:<channel>`, a channel slot `channel:<channel>`.
Candor's expectation is push's own view; a channel is expected "subscribed" when any list on it is.
When Klaviyo holds the channel UNSUBSCRIBED, its channel slot reads "unsubscribed" and its lists
are not read (nothing reaches the profile there): a "no" the reconciler records for the whole
channel, as the webhook does. Otherwise a list reads "unsubscribed" for an email list suppression,
"subscribed" for a member, else "unknown". A list "no" becomes a signal for its entries' topics
and purposes; turning a list off is the push's own "no" to a member.

A changed address: Klaviyo keeps consent by address, and Candor keeps only the new one. The
change seals the address(es) left in a `moved` notice (erasure_notices) for each Klaviyo
connector; the push of the contact.updated sends them one list-less unsubscribe job, Klaviyo's
global "no" on the channel, so no "yes" stays under an address the contact left, and the notice
goes once Klaviyo took it. An address a live contact of the brand gives now (another one sharing
it, or this one back again) is left out: the "yes" or "no" there is that contact's to push.

An erasure is a data privacy deletion job (`POST /api/data-privacy-deletion-jobs`, one identifier
a job, burst 3/s, steady 60/m) for each address the contact had. Candor no longer holds them, so
they come from the erasure's sealed notice (erasure_notices), which goes once Klaviyo took every
job (and per address left whose `moved` notice is still held); without a notice (erased before
the connector existed, or already told) nothing is sent. An address another live contact of the
brand gives is not deleted: Klaviyo's profile for it is that contact's too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import httpx
from django.utils import timezone

from sync.delivery.connectors.erasure_notices import (
    erasure_notices_done,
    erasure_notices_read,
    moved_notices_done,
    moved_notices_read,
)
from sync.delivery.connectors.klaviyo_inbound import klaviyo_inbound
from sync.delivery.connectors.rule import channel_refused, mapped_action
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
from sync.models import EventType
from sync.outbox.contact_state import ContactState

REVISION = "2026-07-15"
SUBSCRIBE_MAX = 1000
UNSUBSCRIBE_MAX = 100
REMOVE_MAX = 1000  # profiles a removal from a list
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
    backfill_in_flight = 1  # the steady limit, 750 calls a minute, binds first
    # Klaviyo deletes a profile by its address, which an erased contact no longer has in Candor.
    erases_by_address = True
    keeps_consent_by_address = True

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

    def list_actions(
        self, mapping: dict[str, Any], state: ContactState
    ) -> dict[tuple[str, str], tuple[str, datetime | None]]:
        """What each mapped list should hold for one contact, per (list, channel): push's and the
        reconciler's one view. Entries naming one list combine, a "no" winning over any "yes"
        (and a "yes" carrying the latest consent time)."""
        actions: dict[tuple[str, str], tuple[str, datetime | None]] = {}
        for entry in mapping.get("lists", []):
            for channel in entry.get("channels", ["email"]):
                action = mapped_action(state, entry, channel)
                key = (entry["list"], channel)
                before = actions.get(key)
                if action is None or (before is not None and before[0] == "unsubscribe"):
                    continue
                if before is not None and action[0] == "subscribe":
                    times = [t for t in (before[1], action[1]) if t is not None]
                    action = ("subscribe", max(times) if times else None)
                actions[key] = action
        return actions

    def push(self, target: Target, items: Sequence[Item], *, client: httpx.Client) -> list[PushResult]:
        """The batch's calls, fewest first: one subscribe job per list; one list-less unsubscribe
        job for every "no" to a whole channel; and for a "no" to one list, only its members are
        unsubscribed from it (email) or removed from it (SMS, whose consent Klaviyo keeps per
        account), because Klaviyo unsubscribes anyone else globally. Each delivery's outcome is
        that of the calls its contact was in (none: succeeded, nothing to push)."""
        subscribes: dict[str | None, dict[int, dict[str, Any]]] = {}
        channel_offs: dict[int, dict[str, Any]] = {}
        list_offs: dict[tuple[str, str], dict[int, ContactState]] = {}
        erased: dict[int, int] = {}  # delivery id -> contact_ref
        for item in items:
            state = item.state
            if state is None:
                continue
            if state.erased:
                erased[item.delivery_id] = state.contact_ref
                continue
            for (list_id, channel), (kind, at) in sorted(self.list_actions(target.mapping, state).items()):
                if kind == "subscribe":
                    _add(subscribes.setdefault(list_id, {}), item.delivery_id, state, channel, at)
                elif channel_refused(state, channel):
                    _add(channel_offs, item.delivery_id, state, channel, None)
                else:
                    list_offs.setdefault((list_id, channel), {})[item.delivery_id] = state
        unsubscribes: dict[str | None, dict[int, dict[str, Any]]] = (
            {None: channel_offs} if channel_offs else {}
        )
        removals: dict[str, dict[int, str]] = {}  # list -> delivery id -> Klaviyo profile id
        try:
            for (list_id, channel), states in sorted(list_offs.items()):
                members = self._members(target, list_id, channel, states.values(), client=client)
                for delivery_id, state in states.items():
                    profile_id = members.get(_identifier(state, channel) or "")
                    if profile_id is None:
                        continue  # not in the list: nothing of it reaches them already
                    if channel == "email":
                        _add(unsubscribes.setdefault(list_id, {}), delivery_id, state, channel, None)
                    else:
                        removals.setdefault(list_id, {})[delivery_id] = profile_id
        except VendorError as exc:
            failed = PushResult(
                succeeded=False, status_code=exc.status_code, error=str(exc), retry_after=exc.retry_after
            )
            return [
                failed if any(item.delivery_id in states for states in list_offs.values()) else NOTHING
                for item in items
            ]
        calls: list[tuple[str, str | None, list[int], dict[str, Any]]] = []
        for kind, jobs, size in (
            ("subscribe", subscribes, SUBSCRIBE_MAX),
            ("unsubscribe", unsubscribes, UNSUBSCRIBE_MAX),
        ):
            for job_list, profiles in sorted(jobs.items(), key=lambda pair: pair[0] or ""):
                ids = sorted(profiles)
                for start in range(0, len(ids), size):
                    chunk = ids[start : start + size]
                    body = self.job_body(kind=kind, list_id=job_list, profiles=[profiles[i] for i in chunk])
                    calls.append((kind, job_list, chunk, body))
        for list_id, profile_ids in sorted(removals.items()):
            ids = sorted(profile_ids)
            for start in range(0, len(ids), REMOVE_MAX):
                chunk = ids[start : start + REMOVE_MAX]
                body = {
                    "data": [
                        {"type": "profile", "id": pid} for pid in sorted({profile_ids[i] for i in chunk})
                    ]
                }
                calls.append(("remove", list_id, chunk, body))
        # A contact that left an address (its contact.updated): the "yes" Klaviyo may hold under
        # each former one is turned off, one list-less unsubscribe job for them all (Klaviyo
        # keeps consent by address; Candor holds the former ones only in the sealed notice).
        moving: dict[int, int] = {}  # contact_ref -> the delivery that carries the job
        for item in items:
            if (
                item.type == EventType.CONTACT_UPDATED
                and item.contact_ref is not None
                and item.delivery_id not in erased
            ):
                moving.setdefault(item.contact_ref, item.delivery_id)
        moved = (
            moved_notices_read(connector_public_id=target.public_id, contact_refs=[*moving, *erased.values()])
            if moving or erased
            else {}
        )
        for contact_ref, delivery_id in sorted(moving.items()):
            if any(moved.get(contact_ref, {}).values()):
                calls.insert(
                    0, ("unsubscribe", None, [delivery_id], _former_unsubscribe_body(moved[contact_ref]))
                )
        # An erasure: Klaviyo's deletion job, one per address the contact had (it takes one),
        # and per address it left whose notice is still held.
        notices = erasure_notices_read(connector_public_id=target.public_id, contact_refs=erased.values())
        for delivery_id, contact_ref in sorted(erased.items()):
            for field, value in sorted(notices.get(contact_ref, {}).items()):
                calls.append(("erase", None, [delivery_id], _deletion_body(field, value)))
            former = moved.get(contact_ref, {})
            for field, values in (("email", former.get("emails", [])), ("phone", former.get("phones", []))):
                for value in values:
                    calls.append(("erase", None, [delivery_id], _deletion_body(field, value)))
        pending = {item.delivery_id: 0 for item in items}
        for _kind, _list_id, chunk, _body in calls:
            for delivery_id in chunk:
                pending[delivery_id] += 1
        last: dict[int, PushResult] = {}
        try:
            for kind, call_list, chunk, body in calls:
                result = self._send(target, kind=kind, list_id=call_list, body=body, client=client)
                if not result.succeeded:
                    # Throttled, refused or down: call it no more in this batch. A delivery with a
                    # call still to make fails (and is retried whole: pushing current state is
                    # idempotent, and so is a deletion job).
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
        finally:
            # Each erasure Klaviyo took whole: its notices go (the addresses are not kept).
            told = [
                ref
                for delivery_id, ref in erased.items()
                if (ref in notices or ref in moved) and not pending[delivery_id]
            ]
            if told:
                erasure_notices_done(connector_public_id=target.public_id, contact_refs=told)
            # Each "no" under former addresses Klaviyo took: its notice goes.
            left = [ref for ref, delivery_id in moving.items() if ref in moved and not pending[delivery_id]]
            if left:
                moved_notices_done(connector_public_id=target.public_id, contact_refs=left)

    def _members(
        self, target: Target, list_id: str, channel: str, states: Any, *, client: httpx.Client
    ) -> dict[str, str]:
        """Identifier (lowercased) -> Klaviyo profile id, for those of `states` in the list."""
        field = "email" if channel == "email" else "phone_number"
        values = sorted({key for state in states if (key := _identifier(state, channel))})
        members: dict[str, str] = {}
        for row in self._read_all(target, f"/api/lists/{list_id}/profiles", field, values, client=client):
            identifier = (row.get("attributes") or {}).get(field)
            if isinstance(identifier, str) and isinstance(row.get("id"), str):
                members[identifier.lower()] = row["id"]
        return members

    @staticmethod
    def job_body(*, kind: str, list_id: str | None, profiles: list[dict[str, Any]]) -> dict[str, Any]:
        """The JSON:API body of a bulk subscribe ("subscribe") or unsubscribe job; an unsubscribe
        job without a list unsubscribes the whole channel."""
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
        if list_id is not None:
            data["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
        return {"data": data}

    # --- reconcile -----------------------------------------------------------------------------

    def expected(self, mapping: dict[str, Any], state: ContactState) -> dict[str, SlotState | None]:
        """Per mapped list and channel, push's own view (`list_actions`); per channel, "subscribed"
        when any list on it is, "unsubscribed" for a "no" to the whole channel."""
        slots: dict[str, SlotState | None] = {}
        for entry in mapping.get("lists", []):
            for channel in entry.get("channels", ["email"]):
                slots.setdefault(f"list:{entry['list']}:{channel}", None)
                refused = channel_refused(state, channel) and _identifier(state, channel) and not state.erased
                slots.setdefault(f"channel:{channel}", "unsubscribed" if refused else None)
        for (list_id, channel), (kind, _at) in self.list_actions(mapping, state).items():
            slots[f"list:{list_id}:{channel}"] = "subscribed" if kind == "subscribe" else "unsubscribed"
            if kind == "subscribe":
                slots[f"channel:{channel}"] = "subscribed"
        return slots

    def vendor_read(
        self, target: Target, states: Sequence[ContactState], *, client: httpx.Client
    ) -> dict[int, dict[str, SlotState]]:
        """A channel Klaviyo holds UNSUBSCRIBED reads "unsubscribed" as its `channel:` slot, and
        its lists are not read (nothing reaches the profile on that channel); otherwise each list
        reads "unsubscribed" (email: a list suppression), "subscribed" (a member) or "unknown"."""
        wanted: dict[str, set[str]] = {}  # channel -> list ids
        for entry in target.mapping.get("lists", []):
            for channel in entry.get("channels", ["email"]):
                wanted.setdefault(channel, set()).add(entry["list"])
        read: dict[int, dict[str, SlotState]] = {state.contact_ref: {} for state in states}
        for channel, list_ids in sorted(wanted.items()):
            field = "email" if channel == "email" else "phone_number"
            keys = {
                state.contact_ref: key
                for state in states
                if (key := _identifier(state, channel)) is not None and not state.erased
            }
            values = sorted(set(keys.values()))
            if not values:
                continue
            profiles: dict[str, dict[str, Any]] = {}
            for row in self._read_all(
                target, "/api/profiles", field, values, client=client, subscriptions=True
            ):
                identifier = (row.get("attributes") or {}).get(field)
                if isinstance(identifier, str):
                    profiles[identifier.lower()] = row["attributes"]
            for contact_ref, identifier in list(keys.items()):
                if _consent(profiles.get(identifier), channel) == "UNSUBSCRIBED":
                    read[contact_ref][f"channel:{channel}"] = "unsubscribed"
                    del keys[contact_ref]
            for list_id in sorted(list_ids):
                members = {
                    str((row.get("attributes") or {}).get(field) or "").lower()
                    for row in self._read_all(
                        target, f"/api/lists/{list_id}/profiles", field, values, client=client
                    )
                }
                for contact_ref, identifier in keys.items():
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
        """A list's "no" covers its entries; a channel's (`channel:email`) is Klaviyo's global
        unsubscribe, covering every list on it, as its webhook's is."""
        if slot.startswith("channel:"):
            list_id, channel = None, slot.split(":", 1)[1]
        else:
            _, list_id, channel = slot.split(":", 2)
        entries = [
            entry
            for entry in mapping.get("lists", [])
            if (list_id is None or entry["list"] == list_id) and channel in entry.get("channels", ["email"])
        ]
        detail: dict[str, Any] = {"found_by": "reconciler"}
        if list_id is not None:
            detail["list"] = list_id
        return VendorSignal(
            event_id=event_id,
            kind="unsubscribed",
            channel=channel,
            whole_channel=list_id is None,
            email=state.email if channel == "email" else None,
            phone=state.phone if channel == "sms" else None,
            external_id=state.external_id,
            topics=tuple(sorted({entry["topic"] for entry in entries if entry.get("topic")})),
            purposes=tuple(sorted({entry["purpose"] for entry in entries if entry.get("purpose")})),
            detail=detail,
        )

    def slots_turn_off(
        self, target: Target, offs: Sequence[tuple[ContactState, str]], *, client: httpx.Client
    ) -> list[PushResult]:
        """Turn off lists the profiles are in: one unsubscribe job per list (email; list-less for
        a "no" to the whole channel), a removal from the list for SMS; each slot's outcome is its
        call's."""
        unsubscribes: dict[str | None, dict[int, dict[str, Any]]] = {}
        sms: dict[str, dict[int, ContactState]] = {}
        for state, slot in offs:
            _, list_id, channel = slot.split(":", 2)
            if channel_refused(state, channel):
                _add(unsubscribes.setdefault(None, {}), state.contact_ref, state, channel, None)
            elif channel == "email":
                _add(unsubscribes.setdefault(list_id, {}), state.contact_ref, state, channel, None)
            else:
                sms.setdefault(list_id, {})[state.contact_ref] = state
        outcome: dict[tuple[str | None, int], PushResult] = {}
        for job_list, profiles in sorted(unsubscribes.items(), key=lambda pair: pair[0] or ""):
            refs = sorted(profiles)
            for start in range(0, len(refs), UNSUBSCRIBE_MAX):
                chunk = refs[start : start + UNSUBSCRIBE_MAX]
                body = self.job_body(
                    kind="unsubscribe", list_id=job_list, profiles=[profiles[r] for r in chunk]
                )
                result = self._send(target, kind="unsubscribe", list_id=job_list, body=body, client=client)
                outcome.update({(job_list, ref): result for ref in chunk})
        for list_id, states in sorted(sms.items()):
            members = self._members(target, list_id, "sms", states.values(), client=client)
            ids = {
                ref: members[phone]
                for ref, state in states.items()
                if (phone := _identifier(state, "sms") or "") in members
            }
            refs = sorted(ids)
            for start in range(0, len(refs), REMOVE_MAX):
                chunk = refs[start : start + REMOVE_MAX]
                body = {"data": [{"type": "profile", "id": pid} for pid in sorted({ids[r] for r in chunk})]}
                result = self._send(target, kind="remove", list_id=list_id, body=body, client=client)
                outcome.update({(list_id, ref): result for ref in chunk})
            gone = PushResult(succeeded=True, excerpt="Not in the list any more.")
            outcome.update({(list_id, ref): gone for ref in states if ref not in ids})
        results = []
        for state, slot in offs:
            _, list_id, channel = slot.split(":", 2)
            results.append(outcome[(None if channel_refused(state, channel) else list_id, state.contact_ref)])
        return results

    def _send(
        self, target: Target, *, kind: str, list_id: str | None, body: dict[str, Any], client: httpx.Client
    ) -> PushResult:
        # kind -> (method, path, Klaviyo's answer when it took the call, what the call is)
        method, path, ok, what = {
            "subscribe": ("POST", "/api/profile-subscription-bulk-create-jobs", 202, "the subscribe job"),
            "unsubscribe": ("POST", "/api/profile-subscription-bulk-delete-jobs", 202, "the unsubscribe job"),
            "erase": ("POST", "/api/data-privacy-deletion-jobs", 202, "the erase job"),
            "remove": (
                "DELETE",
                f"/api/lists/{list_id}/relationships/profiles",
                204,
                "the removal from the list",
            ),
        }[kind]
        try:
            response = client.request(
                method,
                f"{target.base_url}{path}",
                content=json.dumps(body, separators=(",", ":")).encode(),
                headers=self._headers(target),
            )
        except httpx.TimeoutException:
            return PushResult(succeeded=False, error="Klaviyo did not answer in time.")
        except httpx.HTTPError as exc:
            return PushResult(
                succeeded=False, error=redact(f"{type(exc).__name__}: {exc}", target.credentials)[:300]
            )
        if response.status_code == ok:
            return PushResult(succeeded=True, status_code=ok, excerpt=f"{what[4:]} accepted")
        return _refused(response, target, what=what)


def _identifier(state: ContactState, channel: str) -> str | None:
    value = state.email if channel == "email" else state.phone
    return value.lower() if value else None


def _former_unsubscribe_body(former: dict[str, list[str]]) -> dict[str, Any]:
    """A list-less unsubscribe job (Klaviyo's global "no" on the channel) for the addresses a
    contact left: its email ones from email marketing, its phone numbers from SMS."""
    rows = [
        {
            "type": "profile",
            "attributes": {
                "email": email,
                "subscriptions": {"email": {"marketing": {"consent": "UNSUBSCRIBED"}}},
            },
        }
        for email in former.get("emails", [])
    ] + [
        {
            "type": "profile",
            "attributes": {
                "phone_number": phone,
                "subscriptions": {"sms": {"marketing": {"consent": "UNSUBSCRIBED"}}},
            },
        }
        for phone in former.get("phones", [])
    ]
    return {
        "data": {
            "type": "profile-subscription-bulk-delete-job",
            "attributes": {"profiles": {"data": rows}},
        }
    }


def _deletion_body(field: str, value: str) -> dict[str, Any]:
    """A data privacy deletion job for the profile(s) with this address (`email` or `phone`)."""
    attribute = "email" if field == "email" else "phone_number"
    return {
        "data": {
            "type": "data-privacy-deletion-job",
            "attributes": {"profile": {"data": {"type": "profile", "attributes": {attribute: value}}}},
        }
    }


def _add(
    profiles: dict[int, dict[str, Any]], key: int, state: ContactState, channel: str, at: datetime | None
) -> None:
    """Put one channel of one contact into a job's profiles (keyed by delivery or contact)."""
    profiles.setdefault(key, {"state": state, "channels": {}})["channels"][channel] = at


def _marketing(profile: dict[str, Any] | None, channel: str) -> dict[str, Any]:
    return (((profile or {}).get("subscriptions") or {}).get(channel) or {}).get("marketing") or {}


def _consent(profile: dict[str, Any] | None, channel: str) -> str | None:
    return _marketing(profile, channel).get("consent")


def _slot_read(profile: dict[str, Any] | None, member: bool, *, list_id: str, channel: str) -> SlotState:
    """What Klaviyo holds for one list and channel of a profile whose channel is not unsubscribed
    (None: no such profile)."""
    if profile is None:
        return "unknown"
    suppressed_here = channel == "email" and any(
        row.get("list_id") == list_id for row in _marketing(profile, channel).get("list_suppressions") or []
    )
    if suppressed_here:
        return "unsubscribed"
    return "subscribed" if member else "unknown"


def _not_tried(result: PushResult) -> PushResult:
    return PushResult(
        succeeded=False,
        status_code=result.status_code,
        error="Not sent: an earlier call of the batch failed.",
        retry_after=result.retry_after,
    )


def _refused(response: httpx.Response, target: Target, *, what: str) -> PushResult:
    status = response.status_code
    # 400-class refusals other than auth and throttling are the request's own fault.
    permanent = 400 <= status < 500 and status not in (401, 403, 408, 409, 429)
    return PushResult(
        succeeded=False,
        status_code=status,
        excerpt=redact(response.text[:EXCERPT], target.credentials),
        error=f"Klaviyo answered {status} to {what}.",
        retry_after=_retry_after(response.headers.get("retry-after")),
        permanent=permanent,
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
