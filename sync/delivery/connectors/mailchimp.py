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

A changed address: the member Candor pushed under a contact's former address is moved to the new
one (`PATCH …/members/{old hash}` with `email_address`) before the push, or unsubscribed where
the list already has the new address (`mailchimp_moves`).

Live deliveries use the synchronous batch members call above: their outcome must be known
within the claim's lease. A backfill's large batches (over 500 contacts, `BULK_BATCH` at a time)
go through batch operations instead (`mailchimp_batches`: `POST /batches`, polled, results read
from the archive), which Mailchimp queues and runs without holding one of the key's ten
connections per call. `max_batch` is 500 (one call per mapped list).

Modules: this one (configuration, push, erasure), `mailchimp_api` (host, auth, reads, outcomes),
`mailchimp_rule` (the member rule), `mailchimp_batches` (backfills), `mailchimp_inbound`
(webhooks), `mailchimp_reconcile` (the reconciler's slots), `mailchimp_moves` (changed
addresses).

httpx rather than `mailchimp-marketing`: the connector needs the webhooks' pooled client with
its SSRF guard and timeouts; the generated client brings its own HTTP stack and a retry policy
that would hide 429s from the delivery's retry schedule, and four plain REST calls need neither.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from sync.delivery.connectors import mailchimp_reconcile
from sync.delivery.connectors.mailchimp_api import (
    BATCH_MAX,
    BULK_BATCH,
    DEFAULT_BASE_URL,
    NOTHING,
    api_auth,
    api_paged,
    api_read,
    api_root,
    api_write,
    data_centre,
    member_outcome,
    not_tried,
    outcome_merged,
    refused,
    subscriber_hash,
)
from sync.delivery.connectors.mailchimp_batches import bulk_push
from sync.delivery.connectors.mailchimp_inbound import mailchimp_inbound
from sync.delivery.connectors.mailchimp_moves import member_of, members_move, moves_needed
from sync.delivery.connectors.mailchimp_rule import (
    MemberPlan,
    mapped_lists,
    member_body,
    member_plans,
)
from sync.delivery.connectors.vendor_contacts import (
    vendor_contacts_all,
    vendor_contacts_drop,
    vendor_contacts_keep,
)
from sync.delivery.connectors.vendors import (
    AccountView,
    InboundAnswer,
    InboundRequest,
    Item,
    PushResult,
    SlotState,
    Target,
    VendorSignal,
)
from sync.outbox.contact_state import ContactState

ENTRY_KEYS = {"list", "topic", "purpose", "interest", "marketing_permission", "channels"}


# --- The adapter ----------------------------------------------------------------------------------


class MailchimpAdapter:
    vendor = "mailchimp"
    default_base_url = DEFAULT_BASE_URL
    max_batch = BATCH_MAX
    backfill_in_flight = 1  # Mailchimp runs one batch operation at a time anyway
    bulk_batch = BULK_BATCH
    erases_by_address = False  # by the subscriber hash kept at push time
    keeps_consent_by_address = False
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
        names = set(mapped_lists(mapping))
        for entry in mapping.get("lists", []):
            if entry.get("interest"):
                names.add(f"{entry['list']}:interest:{entry['interest']}")
            if entry.get("marketing_permission"):
                names.add(f"{entry['list']}:permission:{entry['marketing_permission']}")
        return names

    # --- calls -------------------------------------------------------------------------------

    def root(self, target: Target) -> str:
        return api_root(target)

    def _auth(self, target: Target) -> httpx.BasicAuth:
        return api_auth(target)

    def account_view(self, target: Target, *, client: httpx.Client) -> AccountView:
        """Every audience, and for the ones the mapping names their interests
        (`<list>:interest:<id>`) and GDPR marketing permissions (`<list>:permission:<id>`)."""
        lists = api_paged(
            target,
            "/lists",
            "lists",
            client=client,
            fields="lists.id,lists.name,lists.marketing_permissions,total_items",
        )
        seen: list[dict[str, str]] = [{"id": row["id"], "name": row.get("name") or ""} for row in lists]
        gdpr = {row["id"]: bool(row.get("marketing_permissions")) for row in lists}
        wanted = self.mapping_lists(target.mapping or {})
        for list_id in sorted(set(mapped_lists(target.mapping or {})) & set(gdpr)):
            name = next(row["name"] for row in seen if row["id"] == list_id)
            categories = api_paged(
                target, f"/lists/{list_id}/interest-categories", "categories", client=client
            )
            for category in categories:
                interests = api_paged(
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
                body = api_read(
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
            return [erased.get(item.delivery_id) or not_tried(stopped) for item in items]
        plans = member_plans(target.mapping, items)
        stopped = self.move_members(target, items, plans, client=client)
        if stopped is not None:
            return [erased.get(item.delivery_id) or not_tried(stopped) for item in items]
        self.keep_members(target, items, plans)
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
        kept = vendor_contacts_all(connector_public_id=target.public_id, contact_refs=erased.values())
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
                list_id, member_hash = member_of(vendor_id)
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
        response = api_write(target, "POST", path, client=client)
        if isinstance(response, PushResult):
            return response
        if response.status_code in (204, 404):
            return PushResult(succeeded=True, status_code=response.status_code)
        return refused(response, target, what=f"the permanent delete in list {list_id}")

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
                    else not_tried(outcome)
                    if pending[item.delivery_id]
                    else results.get(item.delivery_id, NOTHING)
                    for item in items
                ]
            for key, (_, _, ids) in rows:
                error = outcome.get(key)
                result = member_outcome(
                    target=target, list_id=list_id, status=200 if error is None else 400, error=error or ""
                )
                for delivery_id in ids:
                    pending[delivery_id] -= 1
                    results[delivery_id] = outcome_merged(results.get(delivery_id), result)
        return [results.get(item.delivery_id, NOTHING) for item in items]

    def _post_batch(
        self, target: Target, *, list_id: str, body: dict[str, Any], client: httpx.Client
    ) -> PushResult | dict[str, str]:
        """The per-member errors by lower-cased address, or the call's failure."""
        response = api_write(target, "POST", f"/lists/{list_id}", client=client, body=body)
        if isinstance(response, PushResult):
            return response
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
        return refused(response, target, what=f"the batch for list {list_id}")

    def move_members(
        self,
        target: Target,
        items: Sequence[Item],
        plans: dict[str, dict[str, tuple[str, MemberPlan, list[int]]]],
        *,
        client: httpx.Client,
    ) -> PushResult | None:
        """Members Candor pushed under an address a contact has since changed follow it
        (sync.delivery.connectors.mailchimp_moves); the failure that stopped that, or None."""
        return members_move(target, moves_needed(target, items, plans), client=client)

    def keep_members(
        self,
        target: Target,
        items: Sequence[Item],
        plans: dict[str, dict[str, tuple[str, MemberPlan, list[int]]]],
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

    # --- inbound -----------------------------------------------------------------------------

    def inbound(self, target: Target, request: InboundRequest) -> InboundAnswer:
        return mailchimp_inbound(target, request)

    def poll(
        self, target: Target, watermark: str | None, *, client: httpx.Client
    ) -> tuple[list[VendorSignal], str | None]:
        return [], watermark  # Mailchimp calls Candor: never polled

    # --- reconcile (mailchimp_reconcile) -----------------------------------------------------

    def expected(self, mapping: dict[str, Any], state: ContactState) -> dict[str, SlotState | None]:
        return mailchimp_reconcile.expected(mapping, state)

    def vendor_read(
        self, target: Target, states: Sequence[ContactState], *, client: httpx.Client
    ) -> dict[int, dict[str, SlotState]]:
        return mailchimp_reconcile.vendor_read(target, states, client=client)

    def slot_signal(
        self, mapping: dict[str, Any], slot: str, state: ContactState, *, event_id: str
    ) -> VendorSignal:
        return mailchimp_reconcile.slot_signal(mapping, slot, state, event_id=event_id)

    def slots_turn_off(
        self, target: Target, offs: Sequence[tuple[ContactState, str]], *, client: httpx.Client
    ) -> list[PushResult]:
        return mailchimp_reconcile.slots_turn_off(self, target, offs, client=client)
