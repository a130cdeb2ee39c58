"""Mailchimp's rule: what one audience should hold for one contact now (`member_plan`), the
member body both endpoints send (`member_body`), and what a "no" on some entries covers in
Candor (`no_scope`). Push, the reconciler's `expected` and inbound share it; see sync.delivery.
connectors.mailchimp for the mapping."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sync.delivery.connectors.rule import mapped_action
from sync.delivery.connectors.vendors import Item
from sync.outbox.contact_state import ContactState


@dataclass
class MemberPlan:
    """What one list should hold for one contact: status None leaves the membership as it is."""

    status: str | None = None
    interests: dict[str, bool] = field(default_factory=dict)
    permissions: dict[str, bool] = field(default_factory=dict)

    def empty(self) -> bool:
        return self.status is None and not self.interests and not self.permissions


def mapped_entries(mapping: dict[str, Any], list_id: str) -> list[dict[str, Any]]:
    return [entry for entry in mapping.get("lists", []) if entry.get("list") == list_id]


def mapped_lists(mapping: dict[str, Any]) -> list[str]:
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


def plans_merged(first: MemberPlan, second: MemberPlan) -> MemberPlan:
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


def no_scope(entries: Sequence[dict[str, Any]]) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """The topics, purposes and whole channel a "no" on these entries covers."""
    topics = tuple(sorted({e["topic"] for e in entries if e.get("topic")}))
    purposes = tuple(sorted({e["purpose"] for e in entries if e.get("purpose")}))
    whole = any(e.get("topic") is None and e.get("purpose") is None for e in entries)
    return topics, purposes, whole


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
        for list_id in mapped_lists(mapping):
            plan = member_plan(item.state, mapped_entries(mapping, list_id))
            if plan.empty():
                continue
            members = plans.setdefault(list_id, {})
            key = item.state.email.strip().lower()
            if key in members:
                email, other, ids = members[key]
                members[key] = (email, plans_merged(other, plan), [*ids, item.delivery_id])
            else:
                members[key] = (item.state.email.strip(), plan, [item.delivery_id])
    return plans
