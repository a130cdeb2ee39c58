"""Mailchimp: Candor topics and purposes onto audience members, their interests (groups) and GDPR
marketing permissions.

Read from the Marketing API 3.0 reference (mailchimp.com/developer/marketing/api/: list-members,
lists "Batch subscribe or unsubscribe", interest-categories, interests, list-webhooks, errors)
and the request and response types of the published client github.com/mailchimp/
mailchimp-marketing-python-sdk (src/mailchimp_marketing/lists/types/batch_subscribe_or_
unsubscribe_lists_*: `status_if_new`, `update_existing`, `errors[].error_code`):

- the host is `https://<dc>.api.mailchimp.com/3.0`, the data centre being the key's suffix
  (`…-us21`); `api_base_url` replaces the host (a fake). HTTP Basic auth, any user name and the
  key as password. Errors are problem documents `{"type", "title", "status", "detail",
  "instance"}` (+ `errors: [{"field", "message"}]` for a body that does not validate);
- `POST /lists/{list_id}` upserts up to 500 members in one call, `update_existing` true; each
  member has `email_address`, `status_if_new` (applied when the member is new) and `status`
  (applied to an existing one), `interests` `{interest id: bool}` and `marketing_permissions`
  `[{"marketing_permission_id", "enabled"}]`; the answer is 200 with per-member `errors`;
- `GET /lists/{list_id}/members/{subscriber_hash}` (MD5 of the lower-cased address) and `GET
  /lists/{list_id}/members?count=1000&offset=…` read members; `GET /lists`,
  `…/interest-categories` and `…/interest-categories/{id}/interests` list what the mapping may
  name. No endpoint lists a list's GDPR marketing permissions: they are read from a member
  (every member carries all of the list's permissions), so an audience without members cannot
  have its permission ids checked on save;
- at most 10 simultaneous connections per key, then 429 (Mailchimp documents no Retry-After;
  one given is honoured, otherwise the batch is retried after THROTTLED_DELAY seconds). The
  adapter itself holds one connection at a time per worker process.

The mapping, `{"lists": [entry, …]}`, each entry one of:
- `{"list", "topic"?, "purpose"?}`: the audience membership itself carries the topic and/or
  purpose (status subscribed / unsubscribed);
- the same with `"interest": "<interest id>"` and/or `"marketing_permission": "<id>"`: that
  group interest or GDPR permission carries it (the membership is subscribed while any of the
  list's entries says yes);
- `{"list"}` alone: the audience stands for Candor's whole email channel: Candor's "unsubscribe
  from all" (or a suppressed address) unsubscribes the member, and an unsubscribe in Mailchimp
  is an "unsubscribe from all email" in Candor. Candor has no channel-wide "yes", so this entry
  never subscribes anyone.
`"channels": ["email"]` may be given; Mailchimp audiences are email only.

What a delivery pushes is the contact's state now (`member_plan`, the one rule push and the
reconciler's `expected` share): per list, "no" wins: a channel-wide no, a no on an entry that
maps the membership, or a no on every entry of the list that has an opinion, is status
`unsubscribed` with every mapped interest and permission off; otherwise any yes is status
`subscribed` with each interest and permission on or off as its entry says (one topic off while
another is on switches only its interest off). With no opinion at all (not set, pending double
opt-in) nothing is pushed.

Opt-out always wins, on both sides. Candor never sends `subscribed` for a contact whose state is
a "no". Mailchimp itself refuses to subscribe again, through the API, a member who unsubscribed
themselves, complained or was cleaned (400 "Member In Compliance State" for that member): the
adapter then keeps Mailchimp's "no" (the delivery succeeds, noted in the log; the webhook or the
reconciler brings that "no" into Candor), never retries it as `pending` (which would mail the
person a confirmation they did not ask for). A member Candor itself unsubscribed through the API
is resubscribed when Candor's state says yes again: that yes is newer, since every vendor "no"
Candor heard is already in the state pushed.

Erasure: a contact erased in Candor is deleted permanently in every audience Candor pushed them
to (`POST /lists/{id}/members/{subscriber_hash}/actions/delete-permanent`, 204). Candor no
longer holds the address then, so each push first keeps `<list>:<subscriber hash>` for the
contact (sync.models.VendorContact; kept before the call, since a call whose answer is lost may
still have made the member); the delete goes by it and the id is forgotten once Mailchimp took it
(a 404, a member Mailchimp no longer has, is done too). A contact Candor never pushed is left
alone. Mailchimp will not import a permanently deleted address again, whatever the status
("Forgotten Email Not Subscribed"): such a push succeeds with a note, as a compliance state does.

Live deliveries use the synchronous batch members call above: their outcome must be known
within the claim's lease. A backfill's large batches (over 500 contacts, `BULK_BATCH` at a time)
go through batch operations instead (`mailchimp_batches`: `POST /batches`, polled, results read
from the archive), which Mailchimp queues and runs without holding one of the key's ten
connections per call. `max_batch` is 500 (one call per mapped list).

httpx rather than `mailchimp-marketing`: the connector needs the webhooks' pooled client with
its SSRF guard and timeouts; the generated client brings its own HTTP stack and a retry policy
that would hide 429s from the delivery's retry schedule, and four plain REST calls need neither.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx

from sync.delivery.connectors.rule import mapped_action
from sync.delivery.connectors.vendor_contacts import (
    vendor_contacts_drop,
    vendor_contacts_ids,
    vendor_contacts_keep,
)
from sync.delivery.connectors.vendors import (
    AccountView,
    InboundAnswer,
    InboundRequest,
    Item,
    PushResult,
    SignalKind,
    SlotState,
    Target,
    VendorError,
    VendorSignal,
    redact,
)
from sync.outbox.contact_state import ContactState

DEFAULT_BASE_URL = "https://api.mailchimp.com"  # replaced by https://<dc>.api.mailchimp.com
API_KEY = re.compile(r"^[0-9a-f]{32}-([a-z]{2,4}[0-9]{1,3})$")
BATCH_MAX = 500
BULK_BATCH = 5000  # a backfill's batch through batch operations: up to 5000 x lists operations
PAGE = 1000  # Mailchimp's largest `count`
THROTTLED_DELAY = 2.0  # seconds: a connection slot frees in about one call's time
EXCERPT = 1024
COMPLIANCE = "compliance state"
FORGOTTEN = "permanently deleted"
ENTRY_KEYS = {"list", "topic", "purpose", "interest", "marketing_permission", "channels"}
NOTHING = PushResult(succeeded=True, excerpt="Nothing to push for this contact's current state.")


def subscriber_hash(email: str) -> str:
    """Mailchimp's id of a member in a list: the MD5 of the lower-cased address."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def data_centre(api_key: str) -> str | None:
    match = API_KEY.match(api_key) if isinstance(api_key, str) else None
    return match.group(1) if match else None


# --- The rule: one contact's member in one list ---------------------------------------------------


@dataclass
class MemberPlan:
    """What one list should hold for one contact: status None leaves the membership as it is."""

    status: str | None = None
    interests: dict[str, bool] = field(default_factory=dict)
    permissions: dict[str, bool] = field(default_factory=dict)

    def empty(self) -> bool:
        return self.status is None and not self.interests and not self.permissions


def _entries(mapping: dict[str, Any], list_id: str) -> list[dict[str, Any]]:
    return [entry for entry in mapping.get("lists", []) if entry.get("list") == list_id]


def _lists(mapping: dict[str, Any]) -> list[str]:
    return sorted({entry["list"] for entry in mapping.get("lists", [])})


def _channel_no(state: ContactState) -> bool:
    return bool(state.unsubscribed_all.get("email", False) or state.suppressed)


def _entry_action(state: ContactState, entry: dict[str, Any]) -> str | None:
    """ "subscribe" | "unsubscribe" | None for one entry (Klaviyo's list rule: a "no" anywhere
    wins); an entry naming neither topic nor purpose is the channel: only ever a "no"."""
    if not state.email or state.erased:
        return None
    if entry.get("topic") is None and entry.get("purpose") is None:
        return "unsubscribe" if _channel_no(state) else None
    action = mapped_action(state, entry, "email")
    return action[0] if action is not None else None


def member_plan(state: ContactState, entries: Sequence[dict[str, Any]]) -> MemberPlan:
    if not state.email or state.erased:
        return MemberPlan()
    actions = [(entry, _entry_action(state, entry)) for entry in entries]
    membership = [a for e, a in actions if not e.get("interest") and not e.get("marketing_permission")]
    plan = MemberPlan()
    said = [action for _, action in actions if action is not None]
    if _channel_no(state) or "unsubscribe" in membership or (said and "subscribe" not in said):
        plan.status = "unsubscribed"
    elif said:
        plan.status = "subscribed"
    for entry, action in actions:
        if action is None and plan.status != "unsubscribed":
            continue
        on = action == "subscribe" and plan.status != "unsubscribed"
        for key, flags in (("interest", plan.interests), ("marketing_permission", plan.permissions)):
            if entry.get(key):
                flags[entry[key]] = flags.get(entry[key], True) and on  # a "no" wins
    return plan


def _merged(first: MemberPlan, second: MemberPlan) -> MemberPlan:
    """Two contacts with one address (rare): the more restrictive of the two."""
    statuses = {first.status, second.status}
    status = (
        "unsubscribed" if "unsubscribed" in statuses else "subscribed" if "subscribed" in statuses else None
    )
    interests = dict(first.interests)
    for key, on in second.interests.items():
        interests[key] = interests.get(key, True) and on
    permissions = dict(first.permissions)
    for key, on in second.permissions.items():
        permissions[key] = permissions.get(key, True) and on
    return MemberPlan(status=status, interests=interests, permissions=permissions)


def member_body(email: str, plan: MemberPlan) -> dict[str, Any]:
    """One member of a batch call. `status` is only sent when Candor has a status to say:
    without it an existing member keeps theirs, and a new one is recorded unsubscribed."""
    body: dict[str, Any] = {"email_address": email, "status_if_new": plan.status or "unsubscribed"}
    if plan.status is not None:
        body["status"] = plan.status
    if plan.interests:
        body["interests"] = dict(sorted(plan.interests.items()))
    if plan.permissions:
        body["marketing_permissions"] = [
            {"marketing_permission_id": key, "enabled": on} for key, on in sorted(plan.permissions.items())
        ]
    return body


# --- Slots ----------------------------------------------------------------------------------------


def _slots(mapping: dict[str, Any]) -> list[str]:
    slots = []
    for list_id in _lists(mapping):
        slots.append(f"list:{list_id}")
        entries = _entries(mapping, list_id)
        slots += sorted({f"list:{list_id}:interest:{e['interest']}" for e in entries if e.get("interest")})
        slots += sorted(
            {
                f"list:{list_id}:permission:{e['marketing_permission']}"
                for e in entries
                if e.get("marketing_permission")
            }
        )
    return slots


def _slot_parts(slot: str) -> tuple[str, str | None, str | None]:
    """(list id, "interest" | "permission" | None, id)."""
    parts = slot.split(":")
    if len(parts) == 2 and parts[0] == "list":
        return parts[1], None, None
    if len(parts) == 4 and parts[0] == "list" and parts[2] in ("interest", "permission"):
        return parts[1], parts[2], parts[3]
    raise ValueError(f"Not a Mailchimp slot: {slot!r}")


def _as_slot(value: bool) -> SlotState:
    return "subscribed" if value else "unsubscribed"


def _scope(entries: Sequence[dict[str, Any]]) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """The topics, purposes and whole channel a "no" on these entries covers."""
    topics = tuple(sorted({e["topic"] for e in entries if e.get("topic")}))
    purposes = tuple(sorted({e["purpose"] for e in entries if e.get("purpose")}))
    whole = any(e.get("topic") is None and e.get("purpose") is None for e in entries)
    return topics, purposes, whole


def _member_slots(
    mapping: dict[str, Any], list_id: str, member: dict[str, Any] | None
) -> dict[str, SlotState]:
    """What Mailchimp holds for one member, per slot of one list. Interests and permissions of a
    member who is not subscribed read as that member's "no"; pending, transactional or archived
    (no yes or no yet) and an absent member read unknown."""
    slots = [s for s in _slots(mapping) if s == f"list:{list_id}" or s.startswith(f"list:{list_id}:")]
    status = (member or {}).get("status")
    if status in ("unsubscribed", "cleaned"):
        return dict.fromkeys(slots, "unsubscribed")
    if status != "subscribed" or member is None:
        return dict.fromkeys(slots, "unknown")
    interests = member.get("interests") or {}
    permissions = {
        row.get("marketing_permission_id"): bool(row.get("enabled"))
        for row in member.get("marketing_permissions") or []
    }
    read: dict[str, SlotState] = {}
    for slot in slots:
        _, kind, key = _slot_parts(slot)
        if kind is None:
            read[slot] = "subscribed"
        elif kind == "interest":
            read[slot] = _as_slot(bool(interests.get(key))) if key in interests else "unknown"
        else:
            read[slot] = _as_slot(permissions[key]) if key in permissions else "unknown"
    return read


# --- Inbound --------------------------------------------------------------------------------------

# Mailchimp list webhook types that are a "no" (every other type is answered 200 and ignored).
NO_TYPES = ("unsubscribe", "cleaned")


def _fired_at(raw: str) -> datetime | None:
    """When the event happened, from Mailchimp's `fired_at` ("YYYY-MM-DD HH:MM:SS", GMT): whole
    seconds, so read as the end of that second. A "no" in the same second as a "yes" given in
    Candor is then the later one: opt-out wins a tie (the recorder caps it at receipt)."""
    try:
        at = datetime.strptime(raw.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return at + timedelta(seconds=1) - timedelta(microseconds=1)


def mailchimp_event_id(*, type: str, list_id: str, email: str, fired_at: str) -> str:
    """Mailchimp sends no event id: one derived from what identifies the event (a retry of the
    same call carries the same four)."""
    raw = f"{type}|{list_id}|{subscriber_hash(email)}|{fired_at.strip()}"
    return "mc_" + hashlib.sha256(raw.encode()).hexdigest()[:40]


def mailchimp_inbound(target: Target, request: InboundRequest) -> InboundAnswer:
    secret = target.credentials.get("webhook_secret")
    if not isinstance(secret, str) or not secret:
        return InboundAnswer(status=403, body="This connector has no webhook secret")
    given = request.query.get("secret", "")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        return InboundAnswer(status=403, body="Bad secret")
    if request.method in ("GET", "HEAD"):
        return InboundAnswer(status=200, body="ok")  # Mailchimp's check when the webhook is created
    if request.method != "POST":
        return InboundAnswer(status=405, body="GET or POST")
    try:
        form = {
            key: values[-1] for key, values in parse_qs(request.body.decode(), strict_parsing=False).items()
        }
    except (UnicodeDecodeError, ValueError):
        return InboundAnswer(status=400, body="Not a Mailchimp webhook body")
    kind, fired_at = form.get("type"), form.get("fired_at")
    if not kind or not fired_at:
        return InboundAnswer(status=400, body="Not a Mailchimp webhook body: type and fired_at are required")
    if kind not in NO_TYPES:
        return InboundAnswer(status=200, body="ok")
    email, list_id = form.get("data[email]", "").strip(), form.get("data[list_id]", "").strip()
    occurred_at = _fired_at(fired_at)
    if not email or not list_id or occurred_at is None:
        return InboundAnswer(
            status=400, body="Not a Mailchimp webhook body: data[email], data[list_id] and fired_at"
        )
    entries = _entries(target.mapping, list_id)
    if not entries:
        return InboundAnswer(status=200, body="ok: a list this connector does not map")
    reason = form.get("data[reason]", "").strip().lower()
    signal_kind: SignalKind
    if reason == "abuse":
        signal_kind = "complained"
    elif kind == "cleaned":
        signal_kind = "bounced"
    else:
        signal_kind = "unsubscribed"
    topics, purposes, whole = _scope(entries)
    detail = {"type": kind, "list": list_id, "fired_at": fired_at.strip()}
    for key in ("reason", "campaign_id", "action"):
        if form.get(f"data[{key}]"):
            detail[key] = form[f"data[{key}]"][:200]
    signal = VendorSignal(
        event_id=mailchimp_event_id(type=kind, list_id=list_id, email=email, fired_at=fired_at),
        kind=signal_kind,
        channel="email",
        email=email,
        topics=topics,
        purposes=purposes,
        # A bounce or complaint is about the address: the whole channel, as every vendor's.
        whole_channel=whole or signal_kind != "unsubscribed",
        occurred_at=occurred_at,
        detail=detail,
    )
    return InboundAnswer(status=200, body="ok", signals=[signal])


# --- The adapter ----------------------------------------------------------------------------------


class MailchimpAdapter:
    vendor = "mailchimp"
    default_base_url = DEFAULT_BASE_URL
    max_batch = BATCH_MAX
    bulk_batch = BULK_BATCH
    polled = False

    # --- configuration -----------------------------------------------------------------------

    def credentials_errors(self, credentials: Any) -> list[str]:
        if (
            not isinstance(credentials, dict)
            or "api_key" not in credentials
            or not set(credentials) <= {"api_key", "webhook_secret"}
        ):
            return ['Mailchimp takes {"api_key": "<key>-<dc>", "webhook_secret"?: "…"} and nothing else.']
        problems = []
        if data_centre(credentials["api_key"]) is None:
            problems.append(
                "api_key must be a Mailchimp API key: 32 hex characters, a dash and the data centre (…-us21)."
            )
        secret = credentials.get("webhook_secret")
        if secret is not None and (
            not isinstance(secret, str) or len(secret) < 16 or not re.fullmatch(r"[A-Za-z0-9_-]+", secret)
        ):
            # It travels in the webhook's URL: URL-safe characters only.
            problems.append(
                "webhook_secret is 16 or more letters, digits, - or _ (it goes in the webhook's URL)."
            )
        return problems

    def mapping_errors(
        self, mapping: Any, *, topics: dict[str, list[str]], purposes: set[str]
    ) -> dict[str, list[str]]:
        if (
            not isinstance(mapping, dict)
            or set(mapping) != {"lists"}
            or not isinstance(mapping["lists"], list)
        ):
            return {
                "mapping": [
                    'The mapping is {"lists": [{"list", "topic"?, "purpose"?, "interest"?, '
                    '"marketing_permission"?}, …]}.'
                ]
            }
        if not mapping["lists"]:
            return {"mapping.lists": ["Map at least one list."]}
        errors: dict[str, list[str]] = {}
        for index, entry in enumerate(mapping["lists"]):
            where = f"mapping.lists.{index}"
            if not isinstance(entry, dict):
                errors[where] = ["Each entry is an object."]
                continue
            problems: list[str] = []
            unknown_keys = sorted(set(entry) - ENTRY_KEYS)
            if unknown_keys:
                problems.append(f"Unknown key(s): {', '.join(unknown_keys)}.")
            # 31 at most: `<list>:<subscriber hash>` is kept per member (VendorContact, 64).
            if not isinstance(entry.get("list"), str) or not re.fullmatch(
                r"[A-Za-z0-9]{1,31}", entry["list"]
            ):
                problems.append("list must be a Mailchimp audience (list) id.")
            for key in ("interest", "marketing_permission"):
                value = entry.get(key)
                if value is not None and (
                    not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9]{1,64}", value)
                ):
                    problems.append(f"{key} must be a Mailchimp {key.replace('_', ' ')} id.")
            topic, purpose = entry.get("topic"), entry.get("purpose")
            if (
                topic is None
                and purpose is None
                and (entry.get("interest") or entry.get("marketing_permission"))
            ):
                problems.append("An interest or marketing permission carries a topic or purpose: name one.")
            if topic is not None and topic not in topics:
                problems.append(f"Unknown topic {topic!r}.")
            elif isinstance(topic, str) and "email" not in topics[topic]:
                problems.append(f"Topic {topic!r} is not offered on email.")
            if purpose is not None and purpose not in purposes:
                problems.append(f"Unknown purpose {purpose!r}.")
            if "channels" in entry and entry["channels"] != ["email"]:
                problems.append('channels is ["email"]: Mailchimp audiences are email only.')
            if problems:
                errors[where] = problems
        return errors

    def mapping_lists(self, mapping: dict[str, Any]) -> set[str]:
        """The lists, and the interests and permissions as `<list>:interest:<id>` /
        `<list>:permission:<id>`, all checked against `account_view` on save."""
        names = set(_lists(mapping))
        for entry in mapping.get("lists", []):
            if entry.get("interest"):
                names.add(f"{entry['list']}:interest:{entry['interest']}")
            if entry.get("marketing_permission"):
                names.add(f"{entry['list']}:permission:{entry['marketing_permission']}")
        return names

    # --- calls -------------------------------------------------------------------------------

    def root(self, target: Target) -> str:
        if target.base_url.rstrip("/") == DEFAULT_BASE_URL:
            dc = data_centre(target.credentials.get("api_key", ""))
            if dc is None:
                raise VendorError("The Mailchimp API key names no data centre.", status_code=401)
            return f"https://{dc}.api.mailchimp.com/3.0"
        return f"{target.base_url.rstrip('/')}/3.0"

    def _auth(self, target: Target) -> httpx.BasicAuth:
        return httpx.BasicAuth("candor", target.credentials["api_key"])

    def _get(
        self, target: Target, path: str, *, client: httpx.Client, params: dict[str, Any] | None = None
    ) -> httpx.Response:
        try:
            return client.get(f"{self.root(target)}{path}", params=params, auth=self._auth(target))
        except httpx.HTTPError as exc:
            raise VendorError(f"Mailchimp could not be reached: {type(exc).__name__}.") from exc

    def _read(
        self, target: Target, path: str, *, client: httpx.Client, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        response = self._get(target, path, client=client, params=params)
        if response.status_code != 200:
            raise VendorError(
                f"Mailchimp answered {response.status_code}: {_problem(response, target)}",
                status_code=response.status_code,
            )
        body = response.json()
        if not isinstance(body, dict):
            raise VendorError("Mailchimp answered something that is not a JSON object.")
        return body

    def _paged(
        self, target: Target, path: str, key: str, *, client: httpx.Client, fields: str | None = None
    ) -> list[dict[str, Any]]:
        """Every row, page by page, until Mailchimp's `total_items` (or an empty page)."""
        rows: list[dict[str, Any]] = []
        while True:
            params: dict[str, Any] = {"count": PAGE, "offset": len(rows)}
            if fields:
                params["fields"] = fields
            body = self._read(target, path, client=client, params=params)
            batch = body.get(key) or []
            rows += batch
            if len(rows) >= int(body.get("total_items") or 0) or not batch:
                return rows

    def account_view(self, target: Target, *, client: httpx.Client) -> AccountView:
        """Every audience, and for the ones the mapping names their interests
        (`<list>:interest:<id>`) and GDPR marketing permissions (`<list>:permission:<id>`)."""
        lists = self._paged(
            target,
            "/lists",
            "lists",
            client=client,
            fields="lists.id,lists.name,lists.marketing_permissions,total_items",
        )
        seen: list[dict[str, str]] = [{"id": row["id"], "name": row.get("name") or ""} for row in lists]
        gdpr = {row["id"]: bool(row.get("marketing_permissions")) for row in lists}
        wanted = self.mapping_lists(target.mapping or {})
        for list_id in sorted(set(_lists(target.mapping or {})) & set(gdpr)):
            name = next(row["name"] for row in seen if row["id"] == list_id)
            categories = self._paged(
                target, f"/lists/{list_id}/interest-categories", "categories", client=client
            )
            for category in categories:
                interests = self._paged(
                    target,
                    f"/lists/{list_id}/interest-categories/{category['id']}/interests",
                    "interests",
                    client=client,
                )
                seen += [
                    {
                        "id": f"{list_id}:interest:{row['id']}",
                        "name": f"{name} › {category.get('title', '')} › {row.get('name', '')}",
                    }
                    for row in interests
                ]
            asked = {w for w in wanted if w.startswith(f"{list_id}:permission:")}
            if asked and gdpr[list_id]:
                body = self._read(
                    target,
                    f"/lists/{list_id}/members",
                    client=client,
                    params={"count": 1, "fields": "members.marketing_permissions,total_items"},
                )
                members = body.get("members") or []
                if members:
                    seen += [
                        {
                            "id": f"{list_id}:permission:{row['marketing_permission_id']}",
                            "name": f"{name} › {row.get('text', '')}",
                        }
                        for row in members[0].get("marketing_permissions") or []
                    ]
                else:
                    # No member to read them from: Mailchimp offers no other way to check them.
                    seen += [
                        {"id": w, "name": f"{name} › (not checkable: the audience has no members yet)"}
                        for w in sorted(asked)
                    ]
        count = len(lists)
        return AccountView(ok=True, detail=f"The key works; {count} audience(s) visible.", lists=seen)

    # --- push --------------------------------------------------------------------------------

    def push(self, target: Target, items: Sequence[Item], *, client: httpx.Client) -> list[PushResult]:
        """Erasures first (`erase`), then one batch call per mapped list (500 members at most
        each) for the rest; each delivery's outcome is that of its contact's calls."""
        erased, stopped = self.erase(target, items, client=client)
        if stopped is not None:
            # Throttled or down: the rest of the batch is not sent either (retried whole).
            return [erased.get(item.delivery_id) or _not_tried(stopped) for item in items]
        plans = member_plans(target.mapping, items)
        keep_members(target, items, plans)
        calls = []
        for list_id, members in sorted(plans.items()):
            rows = sorted(members.items())
            calls += [(list_id, rows[start : start + BATCH_MAX]) for start in range(0, len(rows), BATCH_MAX)]
        results = self._run(target, items, calls, client=client)
        return [erased.get(item.delivery_id) or result for item, result in zip(items, results, strict=True)]

    def push_bulk(
        self,
        target: Target,
        items: Sequence[Item],
        *,
        client: httpx.Client,
        heartbeat: Callable[[], bool],
    ) -> list[PushResult]:
        """A backfill's batch through batch operations (sync.delivery.connectors.mailchimp_batches)."""
        from sync.delivery.connectors.mailchimp_batches import bulk_push

        return bulk_push(self, target, items, client=client, heartbeat=heartbeat)

    def erase(
        self, target: Target, items: Sequence[Item], *, client: httpx.Client
    ) -> tuple[dict[int, PushResult], PushResult | None]:
        """Mailchimp's permanent delete of each erased contact's member in every audience Candor
        pushed them to (by the `<list>:<hash>` kept at push time: Candor no longer holds the
        address). 204, or 404 (Mailchimp has no such member), is done: the id is forgotten. The
        outcomes by delivery, and the failure that stopped the calls (throttled, down), if any."""
        erased = {
            item.delivery_id: item.state.contact_ref
            for item in items
            if item.state is not None and item.state.erased
        }
        if not erased:
            return {}, None
        kept = vendor_contacts_ids(connector_public_id=target.public_id, contact_refs=erased.values())
        results: dict[int, PushResult] = {}
        for delivery_id, contact_ref in erased.items():
            members = kept.get(contact_ref, [])
            if not members:
                results[delivery_id] = PushResult(
                    succeeded=True,
                    excerpt="Erased: no Mailchimp member is kept for this contact (never pushed, or gone).",
                )
                continue
            for vendor_id in members:
                list_id, _, member_hash = vendor_id.partition(":")
                outcome = self._delete_permanent(
                    target, list_id=list_id, member_hash=member_hash, client=client
                )
                if not outcome.succeeded:
                    results[delivery_id] = outcome
                    if not outcome.permanent:
                        return results, outcome
                    break
                vendor_contacts_drop(connector_public_id=target.public_id, vendor_ids=[vendor_id])
            else:
                results[delivery_id] = PushResult(
                    succeeded=True,
                    status_code=204,
                    excerpt=f"Erased: the member deleted permanently in {len(members)} audience(s).",
                )
        return results, None

    def _delete_permanent(
        self, target: Target, *, list_id: str, member_hash: str, client: httpx.Client
    ) -> PushResult:
        path = f"/lists/{list_id}/members/{member_hash}/actions/delete-permanent"
        try:
            response = client.post(f"{self.root(target)}{path}", auth=self._auth(target))
        except VendorError as exc:
            return PushResult(succeeded=False, error=str(exc), status_code=exc.status_code)
        except httpx.TimeoutException:
            return PushResult(succeeded=False, error="Mailchimp did not answer in time.")
        except httpx.HTTPError as exc:
            return PushResult(
                succeeded=False, error=redact(f"{type(exc).__name__}: {exc}", target.credentials)[:300]
            )
        if response.status_code in (204, 404):
            return PushResult(succeeded=True, status_code=response.status_code)
        return _refused(response, target, what=f"the permanent delete in list {list_id}")

    def _run(
        self,
        target: Target,
        items: Sequence[Item],
        calls: list[tuple[str, list[tuple[str, tuple[str, MemberPlan, list[int]]]]]],
        *,
        client: httpx.Client,
    ) -> list[PushResult]:
        pending = {item.delivery_id: 0 for item in items}
        for _, rows in calls:
            for _, (_, _, ids) in rows:
                for delivery_id in ids:
                    pending[delivery_id] += 1
        results: dict[int, PushResult] = {}
        for list_id, rows in calls:
            body = {
                "members": [member_body(email, plan) for _, (email, plan, _) in rows],
                "update_existing": True,
            }
            outcome = self._post_batch(target, list_id=list_id, body=body, client=client)
            in_call = {delivery_id for _, (_, _, ids) in rows for delivery_id in ids}
            if isinstance(outcome, PushResult):
                # Throttled, refused or down: call no more in this batch. Pushing current state is
                # idempotent, so a delivery with a call still to make is retried whole.
                return [
                    outcome
                    if item.delivery_id in in_call
                    else _not_tried(outcome)
                    if pending[item.delivery_id]
                    else results.get(item.delivery_id, NOTHING)
                    for item in items
                ]
            for key, (_, _, ids) in rows:
                error = outcome.get(key)
                result = member_outcome(target, list_id, 200 if error is None else 400, error or "")
                for delivery_id in ids:
                    pending[delivery_id] -= 1
                    results[delivery_id] = outcome_merged(results.get(delivery_id), result)
        return [results.get(item.delivery_id, NOTHING) for item in items]

    def _post_batch(
        self, target: Target, *, list_id: str, body: dict[str, Any], client: httpx.Client
    ) -> PushResult | dict[str, str]:
        """The per-member errors by lower-cased address, or the call's failure."""
        try:
            response = client.post(
                f"{self.root(target)}/lists/{list_id}",
                content=json.dumps(body, separators=(",", ":")).encode(),
                headers={"content-type": "application/json"},
                auth=self._auth(target),
            )
        except VendorError as exc:
            return PushResult(succeeded=False, error=str(exc), status_code=exc.status_code)
        except httpx.TimeoutException:
            return PushResult(succeeded=False, error="Mailchimp did not answer in time.")
        except httpx.HTTPError as exc:
            return PushResult(
                succeeded=False, error=redact(f"{type(exc).__name__}: {exc}", target.credentials)[:300]
            )
        status = response.status_code
        if status == 200:
            try:
                errors = response.json().get("errors") or []
                return {
                    str(e.get("email_address", "")).strip().lower(): str(e.get("error", "")) for e in errors
                }
            except (ValueError, AttributeError):
                return PushResult(
                    succeeded=False, status_code=status, error="Mailchimp's answer was not JSON."
                )
        return _refused(response, target, what=f"the batch for list {list_id}")

    # --- inbound -----------------------------------------------------------------------------

    def inbound(self, target: Target, request: InboundRequest) -> InboundAnswer:
        return mailchimp_inbound(target, request)

    def poll(
        self, target: Target, watermark: str | None, *, client: httpx.Client
    ) -> tuple[list[VendorSignal], str | None]:
        return [], watermark  # Mailchimp calls Candor: never polled

    # --- reconcile ---------------------------------------------------------------------------

    def expected(self, mapping: dict[str, Any], state: ContactState) -> dict[str, SlotState | None]:
        expected: dict[str, SlotState | None] = {}
        for list_id in _lists(mapping):
            plan = member_plan(state, _entries(mapping, list_id))
            expected[f"list:{list_id}"] = plan.status  # type: ignore[assignment]
            for slot in _slots(mapping):
                parts = _slot_parts(slot)
                if parts[0] != list_id or parts[1] is None:
                    continue
                flags = plan.interests if parts[1] == "interest" else plan.permissions
                expected[slot] = _as_slot(flags[parts[2]]) if parts[2] in flags else None
        return expected

    def vendor_read(
        self, target: Target, states: Sequence[ContactState], *, client: httpx.Client
    ) -> dict[int, dict[str, SlotState]]:
        """Per list: one GET per member, or the list page by page (1000 a call) when that takes
        fewer calls (Mailchimp reads no several members by hash in one call)."""
        read: dict[int, dict[str, SlotState]] = {state.contact_ref: {} for state in states}
        with_email = [state for state in states if state.email]
        for list_id in _lists(target.mapping):
            members = self._members(target, list_id, with_email, client=client)
            for state in states:
                member = members.get(subscriber_hash(state.email)) if state.email else None
                read[state.contact_ref].update(_member_slots(target.mapping, list_id, member))
        return read

    def _members(
        self, target: Target, list_id: str, states: Sequence[ContactState], *, client: httpx.Client
    ) -> dict[str, dict[str, Any]]:
        if not states:
            return {}
        fields = "id,email_address,status,interests,marketing_permissions"
        stats = (
            self._read(target, f"/lists/{list_id}", client=client, params={"fields": "stats"}).get("stats")
            or {}
        )
        size = sum(int(stats.get(key) or 0) for key in ("member_count", "unsubscribe_count", "cleaned_count"))
        wanted = {subscriber_hash(state.email) for state in states if state.email}
        if math.ceil(size / PAGE) < len(wanted):
            rows = self._paged(
                target,
                f"/lists/{list_id}/members",
                "members",
                client=client,
                fields=",".join(f"members.{f}" for f in fields.split(",")) + ",total_items",
            )
            return {row["id"]: row for row in rows if row.get("id") in wanted}
        found = {}
        for member_id in sorted(wanted):
            response = self._get(
                target, f"/lists/{list_id}/members/{member_id}", client=client, params={"fields": fields}
            )
            if response.status_code == 404:
                continue
            if response.status_code != 200:
                raise VendorError(
                    f"Mailchimp answered {response.status_code}: {_problem(response, target)}",
                    status_code=response.status_code,
                )
            found[member_id] = response.json()
        return found

    def slot_signal(
        self, mapping: dict[str, Any], slot: str, state: ContactState, *, event_id: str
    ) -> VendorSignal:
        list_id, kind, key = _slot_parts(slot)
        entries = _entries(mapping, list_id)
        if kind == "interest":
            entries = [e for e in entries if e.get("interest") == key]
        elif kind == "permission":
            entries = [e for e in entries if e.get("marketing_permission") == key]
        topics, purposes, whole = _scope(entries)
        return VendorSignal(
            event_id=event_id,
            kind="unsubscribed",
            channel="email",
            email=state.email,
            external_id=state.external_id,
            topics=topics,
            purposes=purposes,
            whole_channel=whole,
            detail={"slot": slot, "list": list_id},
        )

    def slots_turn_off(
        self, target: Target, offs: Sequence[tuple[ContactState, str]], *, client: httpx.Client
    ) -> list[PushResult]:
        """One batch call per list: the membership slot unsubscribes the member; an interest or
        permission slot switches only that off (the membership stays as it is)."""
        plans: dict[str, dict[str, tuple[str, MemberPlan, list[int]]]] = {}
        items: list[Item] = []
        for index, (state, slot) in enumerate(offs):
            items.append(
                Item(delivery_id=index, type="reconcile", contact_ref=state.contact_ref, state=state)
            )
            if not state.email:
                continue
            list_id, kind, key = _slot_parts(slot)
            plan = MemberPlan()
            if kind is None:
                # Off as push turns a list off: the membership and everything mapped on it.
                entries = _entries(target.mapping, list_id)
                plan.status = "unsubscribed"
                plan.interests = {e["interest"]: False for e in entries if e.get("interest")}
                plan.permissions = {
                    e["marketing_permission"]: False for e in entries if e.get("marketing_permission")
                }
            elif kind == "interest":
                plan.interests[key] = False  # type: ignore[index]
            elif kind == "permission":
                plan.permissions[key] = False  # type: ignore[index]
            members = plans.setdefault(list_id, {})
            email_key = state.email.strip().lower()
            if email_key in members:
                email, other, ids = members[email_key]
                members[email_key] = (email, _merged(other, plan), [*ids, index])
            else:
                members[email_key] = (state.email.strip(), plan, [index])
        calls = []
        for list_id, members in sorted(plans.items()):
            rows = sorted(members.items())
            calls += [(list_id, rows[start : start + BATCH_MAX]) for start in range(0, len(rows), BATCH_MAX)]
        return self._run(target, items, calls, client=client)


def member_plans(
    mapping: dict[str, Any], items: Sequence[Item]
) -> dict[str, dict[str, tuple[str, MemberPlan, list[int]]]]:
    """Per list, per lower-cased address: (the address, what the member should be, the
    deliveries it answers), for every contact with something to push. Both endpoints (the batch
    members call and batch operations) send these, through the one `member_body`."""
    plans: dict[str, dict[str, tuple[str, MemberPlan, list[int]]]] = {}
    for item in items:
        if item.state is None or not item.state.email or item.state.erased:
            continue
        for list_id in _lists(mapping):
            plan = member_plan(item.state, _entries(mapping, list_id))
            if plan.empty():
                continue
            members = plans.setdefault(list_id, {})
            key = item.state.email.strip().lower()
            if key in members:
                email, other, ids = members[key]
                members[key] = (email, _merged(other, plan), [*ids, item.delivery_id])
            else:
                members[key] = (item.state.email.strip(), plan, [item.delivery_id])
    return plans


def keep_members(
    target: Target, items: Sequence[Item], plans: dict[str, dict[str, tuple[str, MemberPlan, list[int]]]]
) -> None:
    """Keep `<list>:<subscriber hash>` for each contact about to be pushed, before the call (a call
    whose answer is lost may still have made the member): an erasure deletes by it later."""
    refs = {item.delivery_id: item.contact_ref for item in items if item.contact_ref is not None}
    ids: dict[str, int] = {}
    for list_id, members in plans.items():
        for key, (_, _, delivery_ids) in members.items():
            contact_ref = next((refs[d] for d in delivery_ids if d in refs), None)
            if contact_ref is not None:
                ids[f"{list_id}:{subscriber_hash(key)}"] = contact_ref
    vendor_contacts_keep(connector_public_id=target.public_id, ids=ids)


def member_outcome(target: Target, list_id: str, status: int, error: str) -> PushResult:
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


def _refused(response: httpx.Response, target: Target, *, what: str) -> PushResult:
    """A call Mailchimp answered with an error: 400-class refusals other than auth and throttling
    are the request's own fault (for good); the rest are retried (429 after Retry-After, or
    THROTTLED_DELAY: Mailchimp sends none)."""
    status = response.status_code
    retry_after = _retry_after(response.headers.get("retry-after"))
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


def _problem(response: httpx.Response, target: Target) -> str:
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
