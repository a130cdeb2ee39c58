"""Mailchimp for the drift reconciler (sync.delivery.connectors.reconcile): a slot is an audience
membership (`list:<id>`), or an interest or GDPR permission on it (`list:<id>:interest:<id>`,
`list:<id>:permission:<id>`); what Candor expects is push's own rule (`member_plan`), what
Mailchimp holds is read per member or page by page, and a slot is turned off with the batch
members call push makes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

import httpx

from sync.delivery.connectors.mailchimp_api import (
    BATCH_MAX,
    PAGE,
    api_get,
    api_paged,
    api_read,
    problem_text,
    subscriber_hash,
)
from sync.delivery.connectors.mailchimp_rule import (
    MemberPlan,
    mapped_entries,
    mapped_lists,
    member_plan,
    no_scope,
    plans_merged,
)
from sync.delivery.connectors.vendors import Item, PushResult, SlotState, Target, VendorError, VendorSignal
from sync.outbox.contact_state import ContactState


class CallRunner(Protocol):
    """What turning slots off needs of Mailchimp's adapter (sync.delivery.connectors.mailchimp),
    which calls this module: its runner of member calls."""

    def _run(
        self,
        target: Target,
        items: Sequence[Item],
        calls: list[tuple[str, list[tuple[str, tuple[str, MemberPlan, list[int]]]]]],
        *,
        client: httpx.Client,
    ) -> list[PushResult]: ...


def _slots(mapping: dict[str, Any]) -> list[str]:
    slots = []
    for list_id in mapped_lists(mapping):
        slots.append(f"list:{list_id}")
        entries = mapped_entries(mapping, list_id)
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


def expected(mapping: dict[str, Any], state: ContactState) -> dict[str, SlotState | None]:
    expected: dict[str, SlotState | None] = {}
    for list_id in mapped_lists(mapping):
        plan = member_plan(state, mapped_entries(mapping, list_id))
        expected[f"list:{list_id}"] = plan.status  # type: ignore[assignment]
        for slot in _slots(mapping):
            parts = _slot_parts(slot)
            if parts[0] != list_id or parts[1] is None:
                continue
            flags = plan.interests if parts[1] == "interest" else plan.permissions
            expected[slot] = _as_slot(flags[parts[2]]) if parts[2] in flags else None
    return expected


def vendor_read(
    target: Target, states: Sequence[ContactState], *, client: httpx.Client
) -> dict[int, dict[str, SlotState]]:
    """Per list: one GET per member, or the list page by page (1000 a call) when that takes
    fewer calls (Mailchimp reads no several members by hash in one call)."""
    read: dict[int, dict[str, SlotState]] = {state.contact_ref: {} for state in states}
    with_email = [state for state in states if state.email]
    for list_id in mapped_lists(target.mapping):
        members = _members(target, list_id, with_email, client=client)
        for state in states:
            member = members.get(subscriber_hash(state.email)) if state.email else None
            read[state.contact_ref].update(_member_slots(target.mapping, list_id, member))
    return read


def _members(
    target: Target, list_id: str, states: Sequence[ContactState], *, client: httpx.Client
) -> dict[str, dict[str, Any]]:
    if not states:
        return {}
    fields = "id,email_address,status,interests,marketing_permissions"
    stats = (
        api_read(target, f"/lists/{list_id}", client=client, params={"fields": "stats"}).get("stats") or {}
    )
    size = sum(int(stats.get(key) or 0) for key in ("member_count", "unsubscribe_count", "cleaned_count"))
    wanted = {subscriber_hash(state.email) for state in states if state.email}
    if math.ceil(size / PAGE) < len(wanted):
        rows = api_paged(
            target,
            f"/lists/{list_id}/members",
            "members",
            client=client,
            fields=",".join(f"members.{f}" for f in fields.split(",")) + ",total_items",
        )
        return {row["id"]: row for row in rows if row.get("id") in wanted}
    found = {}
    for member_id in sorted(wanted):
        response = api_get(
            target, f"/lists/{list_id}/members/{member_id}", client=client, params={"fields": fields}
        )
        if response.status_code == 404:
            continue
        if response.status_code != 200:
            raise VendorError(
                f"Mailchimp answered {response.status_code}: {problem_text(response, target)}",
                status_code=response.status_code,
            )
        found[member_id] = response.json()
    return found


def slot_signal(mapping: dict[str, Any], slot: str, state: ContactState, *, event_id: str) -> VendorSignal:
    list_id, kind, key = _slot_parts(slot)
    entries = mapped_entries(mapping, list_id)
    if kind == "interest":
        entries = [e for e in entries if e.get("interest") == key]
    elif kind == "permission":
        entries = [e for e in entries if e.get("marketing_permission") == key]
    topics, purposes, whole = no_scope(entries)
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
    adapter: CallRunner,
    target: Target,
    offs: Sequence[tuple[ContactState, str]],
    *,
    client: httpx.Client,
) -> list[PushResult]:
    """One batch call per list: the membership slot unsubscribes the member; an interest or
    permission slot switches only that off (the membership stays as it is)."""
    plans: dict[str, dict[str, tuple[str, MemberPlan, list[int]]]] = {}
    items: list[Item] = []
    for index, (state, slot) in enumerate(offs):
        items.append(Item(delivery_id=index, type="reconcile", contact_ref=state.contact_ref, state=state))
        if not state.email:
            continue
        list_id, kind, key = _slot_parts(slot)
        plan = MemberPlan()
        if kind is None:
            # Off as push turns a list off: the membership and everything mapped on it.
            entries = mapped_entries(target.mapping, list_id)
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
            members[email_key] = (email, plans_merged(other, plan), [*ids, index])
        else:
            members[email_key] = (state.email.strip(), plan, [index])
    calls = []
    for list_id, members in sorted(plans.items()):
        rows = sorted(members.items())
        calls += [(list_id, rows[start : start + BATCH_MAX]) for start in range(0, len(rows), BATCH_MAX)]
    return adapter._run(target, items, calls, client=client)
