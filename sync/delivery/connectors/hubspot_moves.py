"""A contact's address changed in Candor: the HubSpot contact Candor created or found under the old
address takes the new one, before the push writes the statuses for it.

HubSpot keeps subscription statuses by email address, not by contact record (developers.hubspot.
com, "Update email subscription status": "The subscription status is tied to the email address,
and not a specific contact record"). The push writes statuses for the contact's address now, so
after a change they would land on an address no HubSpot contact has, while the contact Candor
pushed keeps the old address with its old statuses, subscribed perhaps, out of reach of a later
"no". So, first:

- `POST /crm/v3/objects/contacts/batch/update` (100 inputs a call), `{"inputs": [{"id": <the
  HubSpot id kept>, "properties": {"email": <the address now>}}]}`: the record takes the new
  address and keeps its history; the statuses the push writes next reach it. The old address's
  statuses stay with that address in HubSpot: no contact holds it any more, but a contact made
  later with it (a colleague's form) would inherit them ("If the status is updated for an email
  address that isn't currently associated with a contact and a contact is later created, the
  status update will apply to the new contact", the same page). So they are turned off, below.
- Another HubSpot contact has the new address already: HubSpot refuses the change (409
  CONFLICT, "Contact already exists. Existing ID: …", for the whole batch: each contact is then
  tried alone to find which). The two records cannot become one, so no "yes" is left behind:
  the old record is read by its id (`GET /crm/v3/objects/contacts/{id}?properties=email`, the
  one read, only in this rare case: Candor no longer holds the old address) and each mapped
  subscription type is written UNSUBSCRIBED for its address. Its id stays kept, so an erasure
  still deletes it, and the mark of the new address is kept: the pair is settled, later pushes
  make no move. The push then writes the statuses for the new address, which are the other
  contact's (and, as after any move, the old address's "no" once more, after which its notice
  goes). What remains: the old record, under the old address, unsubscribed from the mapped
  types (an unmapped type, and an unsubscribe-all, are left as they were); the other record's
  id is not kept, so a "no" given there reaches Candor by webhook only if HubSpot names a
  contact Candor knows (the reconciler, which reads by address, still finds it), and an erasure
  does not delete that record (Candor neither created nor found it by id).
- A record gone from HubSpot (404, or OBJECT_NOT_FOUND in a 207) has nothing to move: its id is
  forgotten and the push upserts the new address as for a new contact (the old address's
  statuses outlive the record: they are turned off as after a move).
- A record another Candor contact shares: HubSpot has one contact per address, so two Candor
  contacts of the brand giving one address (a duplicate, a household) are one record there, its
  id kept for the first one pushed only (VendorContact is unique per id). Before the moves, the
  record's address is found without a call: the address of the contact's `moved` notice whose
  mark is the one kept. Where a live contact of the brand gives it now, the record is that
  contact's and is not moved: this contact's id, marks and left marks for it go, the id is kept
  for the other contact at once (the one whose mark shows it gave HubSpot that address, else the
  first; not one with a HubSpot record of its own), the push upserts this contact's new address
  as a record of its own (as for a record gone), and the old address is not turned off (its
  statuses are the other's). The same goes for an erasure: the record is read by id first, and
  one whose address another live contact gives is handed to them, not deleted and its address
  not blocklisted (`erasures_unshared`). With no notice (no CONNECTOR_KEYS at the
  change, purged) or no matching mark (pushed before marks), the address is not known: moved.

The address left: each mapped type is written UNSUBSCRIBED there, in the push's own
statuses/batch/write (no extra call), once the move is made. Candor no longer holds that address:
the change sealed it in a `moved` notice (erasure_notices, as for Klaviyo: the adapter's
`keeps_consent_by_address`), read only for a contact that moves or that HubSpot had under an
address it left (below): once per batch, before the moves, with which of its addresses a live
contact of the brand gives now (moved_notices_held: one query each), which serves both the moves
(above) and this write, which leaves out a held address (another contact's, or this one back on
it). Why UNSUBSCRIBED: v4's statusState is NOT_SPECIFIED, SUBSCRIBED or
UNSUBSCRIBED (subscriptions.json, PublicStatusRequest; v3's NOT_SUBSCRIBED is a read-only status
of v3, refused by v4). NOT_SPECIFIED would still be mailed where GDPR tools are off ("emails can
be sent to contacts with an Opted in or a Not opted in or out status", knowledge base, "How do
subscription preferences and types work"), so it does not send nothing. UNSUBSCRIBED does not
lock the address either: v4, unlike v1 ("NO UNDO") and v3 ("will not allow you to resubscribe
contacts who have opted out"), writes SUBSCRIBED over it (the v3 guide's note on v4, and v4's
setStatusSuccessReason RESUBSCRIBE_OCCURRED), with the legal basis the push sends with every
SUBSCRIBED: a person back on that address is subscribed again by the next push. The notice goes
once HubSpot took the write (or at once where nothing was owed: a phone, an address HubSpot never
had), and with a pushed erasure (the record is deleted by id).

Which addresses HubSpot had: a move keeps, for each address mark it replaces, a `left:<mark>`
(`left:any:<contact_ref>` for a contact moved before marks were kept: every address of its
notice), also where the record was gone (its statuses are not), until that write is taken. So a
retry after the move (no move then: its mark matches) still writes them, and an address left
before anything reached HubSpot is not written (nothing Candor pushed is there).

What remains: an unmapped type, and an unsubscribe-all, are left as they were under the address
left; the UNSUBSCRIBED rows (the address, with Candor's "no") stay in HubSpot after the notice,
and after a later erasure of the contact (HubSpot's GDPR delete removes the record by id, not
the address left); an address left that another live contact gives now keeps what HubSpot holds
until that contact's own state is pushed (none if it has no mapped consent). A shared record
left to contacts that all have a HubSpot record of their own has its id kept for no one (a
webhook "no" on it reaches no Candor contact, though the reconciler, by address, still sees
it). Where the shared record's address cannot be known (no notice, no mark), it is moved as
before, away from the other contact (whose next push upserts its address again); on a 409 there,
the read of the old record shows its address, and where another contact gives it the record is
let go as above, not turned off.

Knowing that the address changed without a read per push: with the HubSpot id, every upsert and
every move keeps a mark of the address it gave HubSpot, `address:<first 40 hex of an HMAC-SHA256
of "<contact_ref>:<address>" under SECRET_KEY>` (sync.models.VendorContact, beside the id: the
address itself is not kept, and the key keeps guessed addresses from being tested against it;
the contact_ref in it keeps two contacts sharing an address apart; a new SECRET_KEY makes each
contact's next push set its unchanged address once more, which is harmless). Comparing it
with the mark of the address now costs one database read per batch (the kept ids) and no call:
an unchanged contact makes no extra call whatever its deliveries' types (a phone change is a
`contact.updated` too), and a change is seen even if its own delivery was lost or came before
the connector was paused. A contact pushed before marks were kept has none: it is moved when a
delivery of the batch is a `contact.updated` (setting an unchanged address is harmless), and
marked from then on.

A throttled, failing or unreachable call stops the batch, which is retried whole: the statuses
are never written ahead of the move they need, and a move already made is not made again (its
mark matches). The read by id needs the `crm.objects.contacts.read` scope: without it the 403 is
retried (not given up), so granting the scope lets the held-back contact through.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from django.db import transaction
from django.utils.crypto import salted_hmac

from sync.delivery.connectors.erasure_notices import moved_notices_free, moved_notices_held
from sync.delivery.connectors.hubspot_auth import HubSpotAuthRefused
from sync.delivery.connectors.hubspot_limits import EXCERPT, rate_wait
from sync.delivery.connectors.vendor_contacts import (
    address_holders_now,
    vendor_contacts_all,
    vendor_contacts_drop,
    vendor_contacts_forget,
    vendor_contacts_keep,
)
from sync.delivery.connectors.vendors import Item, PushResult, Target, redact


class HubSpotCalls(Protocol):
    """What a move needs of HubSpot's adapter (sync.delivery.connectors.hubspot, which calls this
    module): its authenticated calls, with their rate-limit and error handling."""

    def _send(
        self,
        target: Target,
        method: str,
        path: str,
        *,
        client: httpx.Client,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> tuple[httpx.Response, dict[str, Any]]: ...

    def _post(
        self, target: Target, path: str, body: dict[str, Any], *, client: httpx.Client, query: dict[str, str]
    ) -> tuple[PushResult, httpx.Response | None]: ...


UPDATE = "/crm/v3/objects/contacts/batch/update"
CONTACT = "/crm/v3/objects/contacts/{id}"
WRITE = "/communication-preferences/v4/statuses/batch/write"
MARK = "address:"
LEFT = "left:"
MARK_SALT = "candor.hubspot-address-mark"
BATCH = 100


def address_mark(*, contact_ref: int, email: str) -> str:
    """The kept mark of the address HubSpot was given for this contact (not the address): keyed
    (SECRET_KEY), so no one holding the table can test guessed addresses against it."""
    digest = salted_hmac(MARK_SALT, f"{contact_ref}:{email.strip().lower()}", algorithm="sha256")
    return f"{MARK}{digest.hexdigest()[:40]}"


def left_mark(*, mark: str) -> str:
    """The mark of an address HubSpot had for the contact before a move, kept until the "no"
    under it is written (`former_addresses`): Candor's statuses are there, and a retry after the
    move no longer sees the move."""
    return f"{LEFT}{mark.removeprefix(MARK)}"


def _left_unknown(contact_ref: int) -> str:
    # A contact pushed before marks were kept: which address it left is not known, so every
    # address of its notice is Candor's to turn off.
    return f"{LEFT}any:{contact_ref}"


def hubspot_ids(*, kept: dict[int, list[str]]) -> dict[int, str]:
    """contact_ref -> the HubSpot contact id among the ids kept for it (marks left out)."""
    out: dict[int, str] = {}
    for contact_ref, vendor_ids in kept.items():
        ids = [v for v in vendor_ids if not v.startswith((MARK, LEFT))]
        if ids:
            out[contact_ref] = ids[0]
    return out


@dataclass(frozen=True)
class Move:
    contact_ref: int
    hubspot_id: str
    email: str  # the contact's address now
    marks: tuple[str, ...] = field(default=())  # the marks of addresses given before


def moves_needed(*, items: Sequence[Item], kept: dict[int, list[str]]) -> list[Move]:
    """The HubSpot contacts to give their Candor contact's address now, before the push (`kept`:
    the ids kept for the batch's contacts, read once for the move and the plan)."""
    states = {
        item.state.contact_ref: item.state
        for item in items
        if item.state is not None and not item.state.erased and item.state.email
    }
    if not states:
        return []
    updated = {item.contact_ref for item in items if item.type == "contact.updated"}
    moves = []
    ids = hubspot_ids(kept={ref: kept[ref] for ref in states if ref in kept})
    for contact_ref, hubspot_id in sorted(ids.items()):
        email = states[contact_ref].email or ""
        marks = tuple(v for v in kept[contact_ref] if v.startswith(MARK))
        if address_mark(contact_ref=contact_ref, email=email) in marks:
            continue
        if marks or contact_ref in updated:
            moves.append(Move(contact_ref=contact_ref, hubspot_id=hubspot_id, email=email, marks=marks))
    return moves


def left_marks(*, kept: dict[int, list[str]], items: Sequence[Item]) -> dict[int, list[str]]:
    """contact_ref -> its left marks, for the contacts of the batch (not erased, with an email)
    that HubSpot had under an address they have left since: from the ids read for the push
    anyway, so an unchanged contact costs nothing more."""
    refs = {
        item.state.contact_ref
        for item in items
        if item.state is not None and not item.state.erased and item.state.email
    }
    out: dict[int, list[str]] = {}
    for contact_ref in sorted(refs & set(kept)):
        marks = [v for v in kept[contact_ref] if v.startswith(LEFT)]
        if marks:
            out[contact_ref] = marks
    return out


@dataclass(frozen=True)
class Notices:
    """The `moved` notices of a batch's moving contacts and of those with left marks (every
    address, held or not), and which of their addresses a live contact of the brand gives now:
    read once per batch, before the moves, for the moves and for the push's "no"."""

    addresses: dict[int, dict[str, list[str]]] = field(default_factory=dict)
    holders: dict[str, list[int]] = field(default_factory=dict)  # emails lowercased -> contact ids

    @property
    def held(self) -> set[str]:
        return set(self.holders)


def notices_read(
    *, target: Target, kept: dict[int, list[str]], items: Sequence[Item], moves: Sequence[Move]
) -> Notices:
    """Two queries (the notices, the addresses held), only where a contact moves or has left
    marks: the contacts with left marks after the moves are among these."""
    refs = {move.contact_ref for move in moves} | set(left_marks(kept=kept, items=items))
    if not refs:
        return Notices()
    addresses, holders = moved_notices_held(connector_public_id=target.public_id, contact_refs=refs)
    return Notices(addresses=addresses, holders=holders)


def moves_unshared(*, target: Target, moves: Sequence[Move], notices: Notices) -> list[Move]:
    """The moves to make. HubSpot has one record per address, so two Candor contacts giving one
    address (a duplicate, a household) share it, and its id is kept for one of them only: where
    the record's address (the notice's address whose mark is kept) is given now by another live
    contact of the brand, the record is theirs and is not moved. This contact's id and marks for
    it go to that contact (`_hand_over`), so the push upserts this contact's new address as a
    record of its own, and the old address is not turned off (its "no" would be the other's).
    No notice, or no address matching the mark: moved."""
    unshared: list[Move] = []
    shared: dict[Move, str] = {}
    for move in moves:
        emails = notices.addresses.get(move.contact_ref, {}).get("emails", [])
        record = [e for e in emails if address_mark(contact_ref=move.contact_ref, email=e) in move.marks]
        held = [e.lower() for e in record if e.lower() in notices.holders]
        if held:
            shared[move] = held[0]
        else:
            unshared.append(move)
    _hand_over(target=target, records={m: (e, notices.holders[e]) for m, e in shared.items()})
    return unshared


def _hand_over(*, target: Target, records: Mapping[Move, tuple[str, Sequence[int]]]) -> None:
    """Shared records that these moving contacts leave to the others giving their address
    (move -> (that address, the live contacts giving it)): each mover's id, marks and left marks
    for it go, and the record's id is kept for the one who gave HubSpot that address (their
    mark) or else the first of them, with the mark of the address: a "no" given in HubSpot on
    that record reaches them at once, an erasure of theirs deletes it, and their next push
    finds nothing to move. One who has a HubSpot record of their own already keeps that one
    only (a contact has one HubSpot id); where all of them have, the id is kept for no one."""
    if not records:
        return
    candidates = {ref for move, (_, refs) in records.items() for ref in refs if ref != move.contact_ref}
    kept = vendor_contacts_all(connector_public_id=target.public_id, contact_refs=candidates)
    heirs: dict[str, int] = {}
    for move, (email, refs) in records.items():
        free = [
            ref
            for ref in refs
            if ref != move.contact_ref
            and not hubspot_ids(kept={ref: kept.get(ref, [])})
            and ref not in heirs.values()
        ]
        marked = [ref for ref in free if address_mark(contact_ref=ref, email=email) in kept.get(ref, [])]
        if marked or free:
            heir = (marked or free)[0]
            heirs[move.hubspot_id] = heir
            heirs[address_mark(contact_ref=heir, email=email)] = heir
    with transaction.atomic():
        _let_go(target=target, moves=list(records))
        vendor_contacts_keep(connector_public_id=target.public_id, ids=heirs)


def _let_go(*, target: Target, moves: Sequence[Move]) -> None:
    """These contacts' ids, marks and left marks for records that are another contact's go."""
    if moves:
        vendor_contacts_drop(
            connector_public_id=target.public_id,
            vendor_ids=[
                vendor_id
                for move in moves
                for vendor_id in (move.hubspot_id, *move.marks, *(left_mark(mark=m) for m in move.marks))
            ],
        )


def former_addresses(*, left: dict[int, list[str]], notices: Notices) -> dict[int, list[str]]:
    """contact_ref -> the addresses of its `moved` notice HubSpot had for it (its left marks),
    from the notices read before the moves. An address a live contact of the brand gives now is
    left out (it is that contact's to push); a contact whose notice is gone (no CONNECTOR_KEYS at
    the change, purged) has none."""
    if not left:
        return {}
    free = moved_notices_free(notices=notices.addresses, held=notices.held)
    out: dict[int, list[str]] = {}
    for contact_ref, marks in left.items():
        emails = free.get(contact_ref, {}).get("emails", [])
        anything = _left_unknown(contact_ref) in marks
        out[contact_ref] = [
            email
            for email in emails
            if anything or left_mark(mark=address_mark(contact_ref=contact_ref, email=email)) in marks
        ]
    return out


def former_rows(*, target: Target, emails: Sequence[str]) -> list[dict[str, Any]]:
    """Each mapped type written UNSUBSCRIBED at each address (see the module's docstring for why
    that state)."""
    return [
        {
            "subscriberIdString": email,
            "subscriptionId": int(entry["subscription_id"]),
            "channel": "EMAIL",
            "statusState": "UNSUBSCRIBED",
        }
        for email in emails
        for entry in target.mapping.get("subscriptions", [])
    ]


def contacts_move(
    *, adapter: HubSpotCalls, target: Target, moves: Sequence[Move], client: httpx.Client
) -> PushResult | None:
    """Make the moves; the failure that stopped them (the batch is then retried whole), or None."""
    for start in range(0, len(moves), BATCH):
        stopped = _update(
            adapter=adapter, target=target, moves=list(moves[start : start + BATCH]), client=client
        )
        if stopped is not None:
            return stopped
    return None


def _update(
    *, adapter: HubSpotCalls, target: Target, moves: list[Move], client: httpx.Client
) -> PushResult | None:
    body = {"inputs": [{"id": m.hubspot_id, "properties": {"email": m.email}} for m in moves]}
    result, response = adapter._post(target, UPDATE, body, client=client, query={})
    if result.succeeded:
        _moved(target=target, moves=moves)
        return _window_spent(response=response)
    status = response.status_code if response is not None else None
    if status == 409:
        if len(moves) > 1:
            # HubSpot names the contact that has the address, not the input: try each alone.
            for move in moves:
                stopped = _update(adapter=adapter, target=target, moves=[move], client=client)
                if stopped is not None:
                    return stopped
            return None
        return _turn_off(adapter=adapter, target=target, move=moves[0], client=client)
    if status == 207 and response is not None:
        return _partly(target=target, moves=moves, response=response, result=result)
    return result


def _partly(
    *, target: Target, moves: list[Move], response: httpx.Response, result: PushResult
) -> PushResult | None:
    """A 207: the records HubSpot no longer has are forgotten (the push upserts them again)."""
    try:
        answer = response.json()
        done = {str(row.get("id")) for row in answer.get("results") or []}
        missing = {
            str(i)
            for error in answer.get("errors") or []
            if error.get("category") == "OBJECT_NOT_FOUND"
            for i in (error.get("context") or {}).get("ids") or []
        }
    except (ValueError, AttributeError):
        return result
    _moved(target=target, moves=[m for m in moves if m.hubspot_id in done])
    _gone(target=target, moves=[m for m in moves if m.hubspot_id in missing])
    if any(m.hubspot_id not in done | missing for m in moves):
        return result  # refused for another reason: not pushed ahead of it
    return None


def _moved(*, target: Target, moves: Sequence[Move]) -> None:
    vendor_contacts_drop(connector_public_id=target.public_id, vendor_ids=[k for m in moves for k in m.marks])
    vendor_contacts_keep(
        connector_public_id=target.public_id,
        ids={address_mark(contact_ref=m.contact_ref, email=m.email): m.contact_ref for m in moves}
        | _lefts(moves),
    )


def _gone(*, target: Target, moves: Sequence[Move]) -> None:
    """Records HubSpot no longer has: their ids go (the push upserts the new address), but the
    statuses stay with the addresses left (HubSpot keeps them by address), so their left marks
    are kept."""
    vendor_contacts_forget(connector_public_id=target.public_id, contact_refs=[m.contact_ref for m in moves])
    vendor_contacts_keep(connector_public_id=target.public_id, ids=_lefts(moves))


def _lefts(moves: Sequence[Move]) -> dict[str, int]:
    lefts: dict[str, int] = {}
    for move in moves:
        for mark in move.marks or (None,):
            lefts[left_mark(mark=mark) if mark else _left_unknown(move.contact_ref)] = move.contact_ref
    return lefts


def _record_address(
    *, adapter: HubSpotCalls, target: Target, hubspot_id: str, client: httpx.Client
) -> str | PushResult | None:
    """The address HubSpot has for a record ("" for none), None if the record is gone, or the
    failure of the read (`GET /crm/v3/objects/contacts/{id}?properties=email`)."""
    path = CONTACT.format(id=hubspot_id)
    try:
        response, secrets = adapter._send(target, "GET", path, client=client, params={"properties": "email"})
    except HubSpotAuthRefused as exc:
        return PushResult(succeeded=False, status_code=exc.status_code, excerpt=exc.excerpt, error=str(exc))
    except httpx.TimeoutException:
        return PushResult(succeeded=False, error="HubSpot did not answer in time.")
    except httpx.HTTPError as exc:
        return PushResult(
            succeeded=False, error=redact(f"{type(exc).__name__}: {exc}", target.credentials)[:300]
        )
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        return _failed(response=response, secrets=secrets)
    return str((response.json().get("properties") or {}).get("email") or "")


def erasures_unshared(
    *,
    adapter: HubSpotCalls,
    target: Target,
    items: Sequence[Item],
    kept: dict[int, list[str]],
    client: httpx.Client,
) -> PushResult | None:
    """Erased contacts whose HubSpot record another live contact of the brand still gives the
    address of (a household, a duplicate record): the record is that contact's too, so it is
    not deleted with the erased one's data (as Klaviyo's profile and Mailchimp's member are not:
    erasure_notices_read), but goes to them (`_hand_over`); the erased contact's ids go with its
    erasure. Candor no longer holds the erased contact's address, so each record it has an id
    for is read (one GET each; erasures are rare). The failure that stopped the reads (the batch
    is then retried whole), or None."""
    erased = {item.state.contact_ref for item in items if item.state is not None and item.state.erased}
    ids = hubspot_ids(kept={ref: kept[ref] for ref in sorted(erased) if ref in kept})
    addresses: dict[int, tuple[str, str]] = {}
    for contact_ref, hubspot_id in ids.items():
        read = _record_address(adapter=adapter, target=target, hubspot_id=hubspot_id, client=client)
        if isinstance(read, PushResult):
            return read
        if read:  # a record gone (None) or without an address is deleted as before
            addresses[contact_ref] = (hubspot_id, read.strip().lower())
    holders = address_holders_now(
        connector_public_id=target.public_id, emails=[email for _, email in addresses.values()]
    )
    shared = {
        Move(
            contact_ref=contact_ref,
            hubspot_id=hubspot_id,
            email="",
            marks=tuple(v for v in kept[contact_ref] if v.startswith(MARK)),
        ): (email, holders[email])
        for contact_ref, (hubspot_id, email) in addresses.items()
        if holders.get(email)
    }
    _hand_over(target=target, records=shared)
    return None


def _turn_off(
    *, adapter: HubSpotCalls, target: Target, move: Move, client: httpx.Client
) -> PushResult | None:
    """Another HubSpot contact has the new address: the old record's address says "no" to
    every mapped type instead."""
    read = _record_address(adapter=adapter, target=target, hubspot_id=move.hubspot_id, client=client)
    if isinstance(read, PushResult):
        return read
    if read is None:
        _gone(target=target, moves=[move])
        return None
    old = read
    if not old or old.lower() == move.email.lower():
        _moved(target=target, moves=[move])
        return None
    holders = address_holders_now(connector_public_id=target.public_id, emails=[old]).get(old.strip().lower())
    if holders:
        # A shared record, seen only now (no notice told its address): it is the other
        # contacts', "yes" and all, and goes to them. This contact's push upserts the new
        # address, which finds the HubSpot contact that has it.
        _hand_over(target=target, records={move: (old.strip().lower(), holders)})
        return None
    rows = former_rows(target=target, emails=[old])
    if rows:
        result, _ = adapter._post(target, WRITE, {"inputs": rows}, client=client, query={})
        if not result.succeeded:
            return result
    # Settled: the push writes the new address's statuses; later pushes need no move.
    _moved(target=target, moves=[move])
    return None


def _window_spent(*, response: httpx.Response | None) -> PushResult | None:
    """The move is made and kept; if it spent HubSpot's window, the writes wait for the next
    (as `HubSpotAdapter._run` does between its calls) rather than meet a 429."""
    wait = rate_wait(response) if response is not None else None
    if wait is None or response is None:
        return None
    return PushResult(
        succeeded=False,
        status_code=response.status_code,
        error="Not sent yet: HubSpot's rate-limit window is spent.",
        retry_after=wait,
    )


def _failed(*, response: httpx.Response, secrets: dict[str, Any]) -> PushResult:
    status = response.status_code
    return PushResult(
        succeeded=False,
        status_code=status,
        excerpt=redact(response.text[:EXCERPT], secrets),
        error=f"HubSpot answered {status} to the read of a contact's former address.",
        retry_after=rate_wait(response),
        permanent=status in (400, 405, 415, 422),
    )
