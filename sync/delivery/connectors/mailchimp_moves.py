"""A contact's address changed in Candor: the Mailchimp member Candor pushed under the old address
follows it, before the push that carries the new one.

Mailchimp keys a member by the hash of its address, so pushing the new address alone would make
a second member and leave the first as it was, subscribed perhaps, out of reach of a later "no".
Every push keeps `<list>:<subscriber hash>` per contact (sync.models.VendorContact), so a kept
hash for a mapped list that is not the hash of the contact's address now names a member to move:

- `PATCH /lists/{id}/members/{old hash}` with the new `email_address`: Mailchimp changes the
  member's address and keeps its history; the push that follows updates it as any other. A 404
  (the member is gone) leaves nothing to move. Either way the old id is forgotten.
- When the list cannot take the new address ("Member Exists": it already has a member there; or
  the address was deleted permanently), the two cannot become one: the old member is
  unsubscribed instead, so no "yes" is left under the address the person moved from. Its id is
  then kept as `<list>!<hash>` (RETIRED): no longer the contact's member, so never moved again,
  but an erasure still deletes it. A member Mailchimp will not unsubscribe either (cleaned, say)
  receives nothing already.

Before a move, the member is read (`GET …/members/{old hash}?fields=email_address`: Candor keeps
only the hash): where a live contact of the brand gives that address now (a shared household
address, a duplicate record), the member is that contact's and stays as it is; this contact's
claim on it goes and the push makes it a member of its own under the new address. One read per
move, and a move is rare (an address changed since the last push).

A throttled, failing or unreachable call stops the batch (retried whole, as an erasure's), so the
push never runs ahead of a move it needs. A contact whose address did not change costs nothing
beyond the read of its kept ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from sync.delivery.connectors.mailchimp_api import api_get, api_write, refused, subscriber_hash
from sync.delivery.connectors.vendor_contacts import (
    address_holders_now,
    vendor_contacts_all,
    vendor_contacts_drop,
    vendor_contacts_keep,
)
from sync.delivery.connectors.vendors import Item, PushResult, Target, VendorError

RETIRED = "!"  # `<list>!<hash>`: a former member of the contact's, kept only for an erasure


def member_of(vendor_id: str) -> tuple[str, str]:
    """(list id, subscriber hash) of a kept id, the contact's member or a retired one."""
    list_id, _, member_hash = vendor_id.replace(RETIRED, ":", 1).partition(":")
    return list_id, member_hash


@dataclass(frozen=True)
class Move:
    list_id: str
    old_hash: str
    email: str  # the contact's address now
    contact_ref: int

    @property
    def vendor_id(self) -> str:
        return f"{self.list_id}:{self.old_hash}"


def moves_needed(target: Target, items: Sequence[Item], plans: dict[str, dict[str, Any]]) -> list[Move]:
    """The members to move before `plans` (mailchimp_rule.member_plans) are pushed: per list, each
    hash kept for a contact in the plan other than that of the address the plan pushes."""
    refs = {item.delivery_id: item.contact_ref for item in items if item.contact_ref is not None}
    if not refs:
        return []
    kept = vendor_contacts_all(connector_public_id=target.public_id, contact_refs=refs.values())
    if not kept:
        return []
    moves = []
    for list_id, members in sorted(plans.items()):
        for key, (email, _, delivery_ids) in sorted(members.items()):
            now = subscriber_hash(key)
            contacts = {refs[d] for d in delivery_ids if d in refs}
            for contact_ref in sorted(contacts):
                for vendor_id in kept.get(contact_ref, []):
                    if RETIRED in vendor_id:
                        continue
                    kept_list, kept_hash = member_of(vendor_id)
                    if kept_list == list_id and kept_hash != now:
                        moves.append(
                            Move(list_id=list_id, old_hash=kept_hash, email=email, contact_ref=contact_ref)
                        )
    return moves


def members_move(target: Target, moves: Sequence[Move], *, client: httpx.Client) -> PushResult | None:
    """Make each move; the failure that stopped them (the batch is retried), or None. A refusal
    for good leaves that member as it is: nothing better can be done for it."""
    for move in moves:
        address = _member_address(target, move, client=client)
        if isinstance(address, PushResult):
            return address
        if address is None or address_holders_now(connector_public_id=target.public_id, emails=[address]):
            # Gone; or another contact of the brand gives that address (a shared or duplicate
            # record): the member is theirs, to stay as it is. Only this contact's claim goes.
            vendor_contacts_drop(connector_public_id=target.public_id, vendor_ids=[move.vendor_id])
            continue
        answer = _patch(target, move, {"email_address": move.email}, client=client)
        if isinstance(answer, PushResult):
            return answer
        if _stops(answer):
            return refused(answer, target, what=f"the change of a member's address in list {move.list_id}")
        if answer.status_code in (200, 404):
            vendor_contacts_drop(connector_public_id=target.public_id, vendor_ids=[move.vendor_id])
            continue
        # The list cannot take the new address: the old member says "no" instead.
        answer = _patch(target, move, {"status": "unsubscribed"}, client=client)
        if isinstance(answer, PushResult):
            return answer
        if _stops(answer):
            return refused(answer, target, what=f"the unsubscribe of a former address in list {move.list_id}")
        if answer.status_code != 404:  # unsubscribed, or left as Mailchimp holds it: erasure only
            vendor_contacts_keep(
                connector_public_id=target.public_id,
                ids={f"{move.list_id}{RETIRED}{move.old_hash}": move.contact_ref},
            )
        vendor_contacts_drop(connector_public_id=target.public_id, vendor_ids=[move.vendor_id])
    return None


def _member_address(target: Target, move: Move, *, client: httpx.Client) -> str | PushResult | None:
    """The member's address now (lower-cased), None if the list no longer has it, or the failure
    that stops the batch."""
    path = f"/lists/{move.list_id}/members/{move.old_hash}"
    try:
        response = api_get(target, path, client=client, params={"fields": "email_address"})
    except VendorError as exc:
        return PushResult(succeeded=False, error=str(exc))
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        return refused(response, target, what=f"the read of a member in list {move.list_id}")
    try:
        address = response.json().get("email_address")
    except (ValueError, AttributeError):
        address = None
    if not isinstance(address, str) or not address:
        return PushResult(succeeded=False, status_code=200, error="Mailchimp's member had no address.")
    return address.strip().lower()


def _stops(response: httpx.Response) -> bool:
    """Throttled, down or not let in: worth trying the whole batch again later."""
    status = response.status_code
    return status in (401, 403, 408, 429) or status >= 500


def _patch(
    target: Target, move: Move, body: dict[str, str], *, client: httpx.Client
) -> httpx.Response | PushResult:
    path = f"/lists/{move.list_id}/members/{move.old_hash}"
    return api_write(target, "PATCH", path, client=client, body=body)
