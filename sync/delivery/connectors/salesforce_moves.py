"""A contact's address changed in Candor: the contact point Candor created in Salesforce under the
former address follows it, before the push writes the contact's consent at the new one.

Without this, the push matches contact points by address, so it would create a second
ContactPointEmail (or ContactPointPhone) with its own ContactPointConsent for the new address and
leave the first as it was, OptIn perhaps, out of reach of a later "no" (which goes to the new one
only).

What the Object Reference says, and what follows from it:
- ContactPointEmail "represents a contact's email" of an Individual; its EmailAddress is
  Create/Update (required), as ContactPointPhone's TelephoneNumber; a contact point's changes are
  kept in its history (ContactPointEmailHistory, ContactPointPhoneHistory) where the org tracks the
  field.
- ContactPointConsent is "consent to be contacted via a specific contact point": it names the
  contact point record (ContactPointId), not an address, and carries when and how the consent was
  captured (CaptureDate, CaptureSource, EffectiveFrom).
So Candor updates the address of the contact point it created (`PATCH` of EmailAddress or
TelephoneNumber, one sObject Collections call for the batch) rather than making another: the
person's way of being reached changed, not their consent; the consent record stays the same record
with its capture date, the move is in the point's history, and there is never a second point with
a "yes" under an address the contact left. Candor's own rule writes the same consent at whichever
address the contact has (the capture date is that of the decision), so the moved consent says what
a new one would.

Setting the old point's consents to OptOut instead was rejected: an OptOut on any of an
Individual's contact points is the org's "no" as Candor reads it (the poll and the reconciler,
salesforce_inbound), so it would come back as a withdrawal the person never made.

Where the point cannot be moved, the records Candor created for the former address are deleted
instead, as the erasure deletes them (the ContactPointConsents first, then the contact point;
sObject Collections DELETE, ids kept at push time): when the Individual holds a point at the new
address already (the org's own, say), when the contact has no address of that type any more, when
the point under the former address is the org's (only Candor's consent on it goes; the org's point
is the org's), or when Salesforce refuses the move for good (a validation or duplicate rule). The
push then writes the consent on the point at the new address, made if missing, as for any contact.

Which points: those under the contact's records' Individuals at an address other than the
contact's current one for that type, that Candor created or that carry a ContactPointConsent
Candor created (sync.models.VendorContact, `<sObject>/<id>`). The reads are the push's own (the
Individuals' contact points and their consents); the kept ids are read (from Candor's database)
only when such a point exists, so a contact whose address did not change costs nothing more.

Safety: each move or delete is one record, complete on its own, so allOrNone stays false (one
contact's refused record must not hold up the batch). A contact whose move Salesforce refuses for
a passing reason (a locked row) is skipped for the rest of the push and retried, so no second
point is made beside one not yet moved. An outage stops the batch (retried whole); what was done
is found done on the retry (the point is at the new address; a deleted id is dropped from the kept
ids at once, and one deleted already counts as done). A contact point whose delete Salesforce
refuses (the org's own records hang on it) holds no consent of Candor's any more; its id stays
kept for the erasure, so each later push of the contact asks again (one call; rare).
The Contact or Lead is the CRM's record: Candor never writes its Email or Phone, so nothing
there follows (the org's own processes do).

Matching by Email, the Contact or Lead holds the address the CRM has, which Candor does not
write: until the CRM has the new one, the contact is found in the records it was found in before,
by their kept ids (salesforce._records_find), and its point moves as above.

Known gaps: a consent Candor created for a purpose no longer mapped is not read, so not deleted.
A consent Candor only wrote over (the org's record, OptIn by Candor's push) stays on the org's
point under the former address: it is the org's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sync.delivery.connectors.salesforce_auth import POINT_OBJECTS


@dataclass(frozen=True)
class Person:
    """One contact of the push as the plan needs it: its key, its Individuals, its address per
    ContactPointType (Email, Phone) now, and the ids kept for it."""

    key: int
    parties: frozenset[str]
    addresses: Mapping[str, str | None]
    kept: frozenset[str]


@dataclass(frozen=True)
class Move:
    point_id: str
    point_type: str
    party: str
    old: str  # the casefolded address it has
    address: str  # the contact's address now, as Candor holds it

    def row(self) -> dict[str, Any]:
        sobject, address_field = POINT_OBJECTS[self.point_type]
        return {"attributes": {"type": sobject}, "id": self.point_id, address_field: self.address}


@dataclass
class Plan:
    moves: list[Move] = field(default_factory=list)
    # Stale contact points to clear: point id -> (sObject, whether Candor created it).
    drops: dict[str, tuple[str, bool]] = field(default_factory=dict)
    # Candor's ContactPointConsents on each stale point (moved or cleared).
    consents: dict[str, list[str]] = field(default_factory=dict)
    # The contacts each stale point is done for (one point, several deliveries of a contact).
    who: dict[str, list[int]] = field(default_factory=dict)

    def drop(self, move: Move) -> None:
        """A move refused for good: clear the point instead."""
        self.drops[move.point_id] = (POINT_OBJECTS[move.point_type][0], True)


def stale_points(
    *, people: Iterable[tuple[frozenset[str], Mapping[str, str | None]]], rows: Iterable[dict[str, Any]]
) -> bool:
    """Whether any contact point read is under one of these Individuals at an address other than
    the contact's own: only then are the kept ids worth reading."""
    wanted: dict[tuple[str, str], set[str]] = {}
    for parties, addresses in people:
        for party in parties:
            for point_type, address in addresses.items():
                wanted.setdefault((party, point_type), set()).add((address or "").casefold())
    return any(
        row["_address"] not in wanted[(row["ParentId"], row["_type"])]
        for row in rows
        if (row["ParentId"], row["_type"]) in wanted
    )


def follow_plan(
    *,
    people: Iterable[Person],
    rows: Iterable[dict[str, Any]],
    points: Mapping[tuple[str, str, str], str],
    point_consents: Mapping[tuple[str, str], dict[str, Any]],
) -> Plan:
    """What to move and what to clear, from the push's reads (`rows`: the Individuals' contact
    points, `points` by (Individual, type, casefolded address), `point_consents` by (point,
    DataUsePurpose))."""
    rows = sorted(rows, key=lambda row: row["Id"])
    consents_of: dict[str, list[str]] = {}
    for (point_id, _purpose), consent in sorted(point_consents.items()):
        consents_of.setdefault(point_id, []).append(consent["Id"])
    plan = Plan()
    claimed: set[tuple[str, str, str]] = set()  # addresses a move in this plan goes to
    for person in people:
        for party in sorted(person.parties):
            for point_type, address in sorted(person.addresses.items()):
                now = (address or "").casefold()
                sobject = POINT_OBJECTS[point_type][0]
                stale = [
                    row
                    for row in rows
                    if row["ParentId"] == party and row["_type"] == point_type and row["_address"] != now
                ]
                # Candor's own points first: one of them is the one to move.
                stale.sort(key=lambda row: f"{sobject}/{row['Id']}" not in person.kept)
                for row in stale:
                    point_id = row["Id"]
                    ours = f"{sobject}/{point_id}" in person.kept
                    consents = [
                        c for c in consents_of.get(point_id, []) if f"ContactPointConsent/{c}" in person.kept
                    ]
                    if not ours and not consents:
                        continue  # the org's point and consents: the org's
                    plan.who.setdefault(point_id, [])
                    if person.key not in plan.who[point_id]:
                        plan.who[point_id].append(person.key)
                    if point_id in plan.consents:
                        continue  # planned for another delivery of the same contact
                    plan.consents[point_id] = consents
                    new = (party, point_type, now)
                    if ours and address and new not in points and new not in claimed:
                        claimed.add(new)
                        plan.moves.append(
                            Move(
                                point_id=point_id,
                                point_type=point_type,
                                party=party,
                                old=row["_address"],
                                address=address,
                            )
                        )
                    else:
                        plan.drops[point_id] = (sobject, ours)
    return plan
