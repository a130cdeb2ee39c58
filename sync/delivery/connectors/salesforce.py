"""Salesforce: Candor purposes onto the consent data model, and channel opt-outs onto the flags.

Read from the REST API Developer Guide (sObject Collections create, update and delete, query,
describe), the Object Reference (Contact, Lead, Individual, ContactPointTypeConsent, ContactPointEmail,
ContactPointPhone, ContactPointConsent, DataUsePurpose) and Salesforce Help on the OAuth
server-to-server flows (salesforce_auth has the details and the token cache).
API version v62.0 on the org's My Domain (`api_base_url`).

The mapping:

    {"object": "Contact" | "Lead",
     "match_field": "Candor_Id__c" | "Email",
     "purposes": [{"purpose": "<slug>", "topic"?: "<slug>", "data_use_purpose": "<DataUsePurpose id>",
                   "channels"?: ["email", "phone" | "sms"]}],
     "flags"?: {"HasOptedOutOfEmail": "email", "DoNotCall": "phone", "HasOptedOutOfFax": "…"}}

- A Candor contact is the org's records (of `object`) whose `match_field` holds its
  external_id (an External ID field, checked with a describe call on save) or, with "Email",
  its email address. Candor never creates Contacts or Leads: the CRM owns them (a Contact
  needs a LastName and an account, which Candor does not hold); a contact the org does not have
  succeeds with nothing written, and the reconciler reports it as unknown in the vendor.
  Matching by Email, the records a contact was found in are kept (`Contact/<id>`, `Lead/<id>`):
  after its address changes in Candor, the CRM still has the old one until its own processes
  catch up, so a contact no record has by Email is found in those records by id, unless
  another live contact of the brand gives their address now (`_records_find`).
- Each purpose entry and channel is one ContactPointTypeConsent on the record's Individual
  (created, with the record's name, and linked when the record has none): DataUsePurposeId,
  ContactPointType Email (email) or Phone (phone or sms), PrivacyConsentStatus OptIn or OptOut,
  CaptureDate and EffectiveFrom (when Candor got the consent), CaptureSource "Candor" and
  CaptureContactPointType Web (Candor captured it on its pages or API). The DataUsePurpose ids
  are checked against the org's (a query) on save.
- Each purpose entry and channel is also one ContactPointConsent on the contact's address: the
  ContactPointEmail (EmailAddress, the Candor contact's email) or ContactPointPhone
  (TelephoneNumber, its phone) under the Individual, matched by address and created when missing,
  and on it a ContactPointConsent (ContactPointId, DataUsePurposeId) with the same status, dates,
  CaptureSource and CaptureContactPointType (the rule has no opinion on a channel whose address
  Candor lacks, so there is always one). Read back (poll, reconciler), an OptOut on any of the
  Individual's contact points of the slot's type is the org's "no", as on any of its records.
  Addresses are matched as Salesforce compares text (ignoring case), not normalised: a number
  the org holds formatted otherwise than Candor's E.164 gets a second ContactPointPhone.
- Each kept flag is the channel-wide "no" of the Candor channel it names: true when the channel
  is unsubscribed from all (or, for email, the address is suppressed), false otherwise.

The rule (`slot_wants`, used by push, `expected` and so the reconciler): per entry and channel,
OptOut when anything says "no" (rule.mapped_action: channel opted out, address suppressed,
topic unsubscribed, purpose withdrawn or expired), OptIn when the topic is subscribed and the
purpose granted, else nothing. An opt-out always wins, also over time: Candor writes a "yes" over
a "no" the org holds (OptIn over OptOut, a flag cleared) only when Candor's "yes" is later than
the org's record was last changed (its SystemModstamp). Otherwise the org's "no" stays and comes
back to Candor through the poll or the reconciler.

Push, for a batch of up to 200 contacts, makes a number of calls bounded by the mapping, not by
the data: one query for the records (by match field, IN), one create of the missing
Individuals, one query of their ContactPointTypeConsents, one of their contact points per mapped
type and one of those points' ContactPointConsents, one create of the missing contact points,
then the writes: the records' flags and links and the changed consents in one PATCH, the new
consents in one create, each sObject Collections call carrying at most 200 records (so one more
call per further 200; records grouped by type, as Salesforce saves at most ten runs of one
type a call). A call with nothing to carry is not made. allOrNone is false: a record's own
error fails only its contact's delivery (permanent, but for a locked row).
Only what differs from the org's state is written, so a retried batch writes nothing twice.
An address changed in Candor: before the contact points are created, the one Candor created
under the former address is moved to the new one (its EmailAddress or TelephoneNumber updated,
its ContactPointConsent with it), or Candor's records for the former address are deleted where
it cannot be (salesforce_moves: why, and when). One PATCH, and at most two DELETEs, per 200, made
only when a contact point under a contact's Individual is at another address than the contact's.
An Individual created for a record whose linking PATCH then fails (a validation rule, a locked
row) is kept for the contact; the retry links it rather than create another, if it still exists
and no record links to it (_individuals_unlinked).

Erasure. When a contact is erased in Candor, its delivery (the state read at send time says
erased) is pushed as Salesforce's consent data model asks for a data subject who is to be
forgotten, limited to what Candor created or found:
- the Individual of each record Candor pushed to (created by Candor or the org's own) gets
  ShouldForget = true ("Forget this Individual" in the Object Reference): the org's own
  deletion process (a Right to Be Forgotten policy of Privacy Center, a flow, a data steward)
  acts on it; the Individual itself stays, so the request stays visible to the org;
- the ContactPointTypeConsents, ContactPointConsents and ContactPointEmail/Phone records Candor
  created are deleted (sObject Collections DELETE `?ids=…&allOrNone=false`, at most 200 ids a
  call; the consents first, then the contact points they hang on). Records the org made, and
  those Candor only wrote over, are the org's and stay;
- the Contact or Lead is the brand's CRM record: nothing on it is changed or cleared.
After the erasure Candor holds neither the address nor the external id (it is replaced by a
pseudonym), so nothing is matched: the ids are those kept when pushing (sync.models.VendorContact,
`<sObject>/<id>`: the records' Individuals, found or created, and every record Candor created;
the CRM's records matched by Email are left alone, and Candor's note of them goes).
Each id done, or gone already (ENTITY_IS_DELETED, INVALID_CROSS_REFERENCE_KEY), is dropped at
once, so a second push of the same erasure calls nothing and a retry after an outage does only
what is left; a record Salesforce refuses keeps its id and fails the delivery (permanent, but for
a locked row), which the delivery log shows. A contact Candor never pushed (or pushed before ids
were kept: a backfill keeps its Individual's id) has nothing kept, and nothing is called. Not
done: the Contact/Lead or the Individual deleted (the CRM's own), and the Individual's other
records (the org's own consents and contact points). Matching by Email, records another live
contact of the brand gives the address of are that contact's too: that contact's state is pushed
onto them first (what was last written there may have been the erased contact's word; the
erasure suppresses the address, so it is a "no" now), nothing of them is marked or deleted, and
their ids go to that contact (`_shared_heirs`, `_heirs_push`, `_hand_over`). Known gap: an id is kept for one
contact (sync.models.VendorContact is unique per connector and id), so an Individual the org
links to the records of two contacts matched by an external id is marked by the erasure of the
first one pushed, and not by the second's.

Inbound by polling (`poll`): salesforce_inbound. OAuth and the REST calls: salesforce_auth.

Libraries: httpx through the webhooks' pooled client rather than simple-salesforce, which brings
its own requests session (no SSRF guard, no shared pool; timeouts only if passed on every call)
and has no sObject Collections helper; the few calls here are short to make directly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import httpx
from django.db import transaction
from django.utils import timezone

from sync.delivery.connectors.rule import mapped_action
from sync.delivery.connectors.salesforce_auth import (
    CHANNELS,
    CONSENT_FIELDS,
    DATA,
    POINT_OBJECTS,
    SalesforceRefused,
    api_call,
    credentials_problems,
    parse_time,
    query_all,
    sf_time,
    soql,
    soql_in,
)
from sync.delivery.connectors.salesforce_inbound import (
    channel_signal,
    contact_points_read,
    mapped_point_types,
    person_fields,
    point_consents_read,
    salesforce_poll,
)
from sync.delivery.connectors.salesforce_moves import Person, follow_plan, stale_points
from sync.delivery.connectors.vendor_contacts import (
    address_holders_now,
    contact_states_now,
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
    VendorError,
    VendorSignal,
)
from sync.outbox.contact_state import ContactState

COLLECTION_MAX = 200
OBJECTS = ("Contact", "Lead")
FLAGS = ("HasOptedOutOfEmail", "DoNotCall", "HasOptedOutOfFax")
SALESFORCE_ID = re.compile(r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
# A record's own errors worth retrying (another transaction held it); others are permanent.
TRANSIENT = {"UNABLE_TO_LOCK_ROW", "ALL_OR_NONE_OPERATION_ROLLED_BACK", "REQUEST_RUNNING_TOO_LONG"}
NOTHING = PushResult(succeeded=True, excerpt="Nothing to change in Salesforce for this contact's state.")
NOT_IN_ORG = PushResult(succeeded=True, excerpt="Not in Salesforce: no record has this contact's match key.")
NOTHING_KEPT = PushResult(
    succeeded=True, excerpt="Nothing to erase in Salesforce: Candor has no record of this contact there."
)
HANDED_OVER = PushResult(
    succeeded=True,
    excerpt=(
        "Not erased in Salesforce: another contact gives the address of the record(s) this contact "
        "was matched to; they now hold that contact's state and are theirs."
    ),
)
# What an erasure writes over and deletes, by sObject type (the kept ids say which).
CONSENT_OBJECTS = ("ContactPointTypeConsent", "ContactPointConsent")
POINT_TYPES = tuple(sobject for sobject, _ in POINT_OBJECTS.values())
# A record's own errors that mean it is gone already (deleted, or purged from the Recycle Bin):
# for an erasure, done.
GONE = {"ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"}


def _deleted(result: dict[str, Any]) -> bool:
    """A DeleteResult that leaves the record gone: deleted now, or already (GONE)."""
    codes = {str(e.get("statusCode", "")) for e in result.get("errors") or []}
    return bool(result.get("success")) or bool(codes & GONE)


@dataclass(frozen=True)
class Want:
    """What one slot should hold, and since when Candor says so (None: not known)."""

    value: SlotState
    at: datetime | None = None


def consent_slot(entry: dict[str, Any], channel: str) -> str:
    return f"consent:{entry['data_use_purpose']}:{CHANNELS[channel]}"


def flag_slot(flag: str) -> str:
    return f"flag:{flag}"


def _channel_yes_at(mapping: dict[str, Any], state: ContactState, channel: str) -> datetime | None:
    """When Candor last said "yes" on the channel (a mapped purpose granted, a topic subscribed)."""
    times = [
        state.consented_at.get(entry["purpose"])
        for entry in mapping.get("purposes", [])
        if channel in entry.get("channels", ["email"]) and state.consents.get(entry["purpose"]) == "granted"
    ]
    times += [at for (_topic, ch), at in state.subscribed_at.items() if ch == channel]
    known = [t for t in times if t is not None]
    return max(known) if known else None


def slot_wants(mapping: dict[str, Any], state: ContactState) -> dict[str, Want | None]:
    """Per slot, what Candor holds for this contact (None: no opinion). The one rule push,
    `expected` and the reconciler share."""
    wants: dict[str, Want | None] = {}
    for entry in mapping.get("purposes", []):
        for channel in entry.get("channels", ["email"]):
            action = mapped_action(state, entry, channel)
            slot = consent_slot(entry, channel)
            if action is None:
                wants[slot] = None
            elif action[0] == "unsubscribe":
                wants[slot] = Want("unsubscribed")
            else:
                wants[slot] = Want("subscribed", action[1])
    for flag, channel in sorted((mapping.get("flags") or {}).items()):
        identifier = state.email if channel == "email" else state.phone
        if state.erased or not identifier:
            wants[flag_slot(flag)] = None
        elif state.unsubscribed_all.get(channel, False) or (channel == "email" and state.suppressed):
            wants[flag_slot(flag)] = Want("unsubscribed")
        else:
            wants[flag_slot(flag)] = Want("subscribed", _channel_yes_at(mapping, state, channel))
    return wants


def _match_value(mapping: dict[str, Any], state: ContactState) -> str | None:
    if state.erased:
        return None
    return state.email if mapping.get("match_field") == "Email" else state.external_id


def _chunks(rows: list[Any], size: int = COLLECTION_MAX) -> list[list[Any]]:
    return [rows[start : start + size] for start in range(0, len(rows), size)]


@dataclass
class _Contact:
    """One contact of a push: its wants, the org's records for it, and the outcome so far."""

    key: int
    state: ContactState
    wants: dict[str, Want]
    records: list[dict[str, Any]] = field(default_factory=list)
    written: int = 0
    failure: PushResult | None = None
    # `<sObject>/<id>` of the records Candor created for it, and of its records' Individuals:
    # kept (sync.models.VendorContact) for its erasure.
    kept: set[str] = field(default_factory=set)

    def address(self, point_type: str) -> str | None:
        """The contact's address for a ContactPointType (Email: its email, Phone: its phone)."""
        return self.state.email if point_type == "Email" else self.state.phone


@dataclass
class _Erasure:
    """One erased contact's kept ids (`<sObject>/<id>`), what is done of them, and the outcome."""

    ids: list[str]
    done: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    failure: PushResult | None = None


# The org's contact points by (Individual, ContactPointType, casefolded address): their ids.
Points = dict[tuple[str, str, str], str]


class SalesforceAdapter:
    vendor = "salesforce"
    default_base_url = "https://login.salesforce.com"
    max_batch = COLLECTION_MAX
    # A batch is several short calls, each waiting on the org; Salesforce limits only
    # long-running requests (25 at once), so two batches overlap their latency safely.
    backfill_in_flight = 2
    erases_by_address = False
    keeps_consent_by_address = False
    polled = True

    # --- configuration -----------------------------------------------------------------------

    def credentials_errors(self, credentials: Any) -> list[str]:
        return credentials_problems(credentials)

    def mapping_errors(
        self, mapping: Any, *, topics: dict[str, list[str]], purposes: set[str]
    ) -> dict[str, list[str]]:
        shape = (
            '{"object": "Contact"|"Lead", "match_field": "<External ID field>"|"Email", '
            '"purposes": [{"purpose", "topic"?, "data_use_purpose", "channels"?}], "flags"?: {…}}'
        )
        if not isinstance(mapping, dict) or not set(mapping) <= {
            "object",
            "match_field",
            "purposes",
            "flags",
        }:
            return {"mapping": [f"The mapping is {shape}."]}
        errors: dict[str, list[str]] = {}
        if mapping.get("object") not in OBJECTS:
            errors["mapping.object"] = ["object is Contact or Lead."]
        match_field = mapping.get("match_field")
        if not isinstance(match_field, str) or not FIELD_NAME.match(match_field):
            errors["mapping.match_field"] = ["match_field is an External ID field's API name, or Email."]
        entries = mapping.get("purposes", [])
        flags = mapping.get("flags", {})
        if not isinstance(entries, list):
            errors["mapping.purposes"] = ["purposes is a list."]
            entries = []
        if not isinstance(flags, dict):
            errors["mapping.flags"] = ["flags is an object of flag -> Candor channel."]
            flags = {}
        if not entries and not flags:
            errors["mapping"] = ["Map at least one purpose or one flag."]
        seen: set[str] = set()
        for index, entry in enumerate(entries):
            problems = self._entry_problems(entry, topics=topics, purposes=purposes, seen=seen)
            if problems:
                errors[f"mapping.purposes.{index}"] = problems
        for flag, channel in flags.items():
            if flag not in FLAGS:
                errors.setdefault("mapping.flags", []).append(
                    f"Unknown flag {flag!r} (one of {', '.join(FLAGS)})."
                )
            elif not isinstance(channel, str) or channel not in CHANNELS:
                errors.setdefault("mapping.flags", []).append(
                    f"{flag} names a Candor channel: email, phone or sms."
                )
        return errors

    @staticmethod
    def _entry_problems(
        entry: Any, *, topics: dict[str, list[str]], purposes: set[str], seen: set[str]
    ) -> list[str]:
        if not isinstance(entry, dict):
            return ["Each entry is an object."]
        problems = []
        unknown = sorted(set(entry) - {"purpose", "topic", "data_use_purpose", "channels"})
        if unknown:
            problems.append(f"Unknown key(s): {', '.join(unknown)}.")
        purpose, topic = entry.get("purpose"), entry.get("topic")
        if not isinstance(purpose, str) or purpose not in purposes:
            problems.append(f"Unknown purpose {purpose!r}." if purpose else "purpose is required.")
        if topic is not None and (not isinstance(topic, str) or topic not in topics):
            problems.append(f"Unknown topic {topic!r}.")
        dup = entry.get("data_use_purpose")
        if not isinstance(dup, str) or not SALESFORCE_ID.match(dup):
            problems.append("data_use_purpose is a DataUsePurpose record id (15 or 18 characters).")
        channels = entry.get("channels", ["email"])
        if (
            not isinstance(channels, list)
            or not channels
            or any(not isinstance(channel, str) or channel not in CHANNELS for channel in channels)
            or len({CHANNELS[c] for c in channels}) != len(channels)
        ):
            problems.append(
                "channels is a list of email and phone or sms (phone and sms share Salesforce's Phone)."
            )
        elif isinstance(topic, str) and topic in topics:
            missing = [channel for channel in channels if channel not in topics[topic]]
            if missing:
                problems.append(f"Topic {topic!r} is not offered on {', '.join(missing)}.")
        if not problems:
            for channel in channels:
                slot = consent_slot(entry, channel)
                if slot in seen:
                    problems.append(f"{dup} on {CHANNELS[channel]} is mapped twice.")
                seen.add(slot)
        return problems

    def mapping_lists(self, mapping: dict[str, Any]) -> set[str]:
        """The DataUsePurpose ids and the match field, as `account_view` lists them."""
        names = {entry["data_use_purpose"] for entry in mapping.get("purposes", [])}
        return names | {f"{mapping.get('object', 'Contact')}.{mapping.get('match_field')}"}

    def account_view(self, target: Target, *, client: httpx.Client) -> AccountView:
        """The org's DataUsePurposes and the fields of the mapped object that can match a contact
        (External ID fields, and Email)."""
        sobject = target.mapping.get("object", "Contact") if isinstance(target.mapping, dict) else "Contact"
        sobject = sobject if sobject in OBJECTS else "Contact"
        try:
            purposes = query_all(target, "SELECT Id, Name FROM DataUsePurpose ORDER BY Name", client=client)
            described = api_call(target, "GET", f"{DATA}/sobjects/{sobject}/describe", client=client).body
        except SalesforceRefused as exc:
            raise VendorError(str(exc), status_code=exc.status_code) from exc
        lists = [{"id": row["Id"], "name": f"DataUsePurpose {row['Name']}"} for row in purposes]
        lists += [
            {"id": f"{sobject}.{f['name']}", "name": f"{sobject} field {f['name']} ({f['type']})"}
            for f in described.get("fields", [])
            if f.get("externalId") or f.get("name") == "Email"
        ]
        return AccountView(
            ok=True,
            detail=f"The credentials work; {len(purposes)} data use purpose(s) visible.",
            lists=lists,
        )

    # --- push --------------------------------------------------------------------------------

    def push(self, target: Target, items: Sequence[Item], *, client: httpx.Client) -> list[PushResult]:
        contacts: dict[int, _Contact] = {}
        erased: dict[int, list[int]] = {}  # contact_ref -> its deliveries
        for item in items:
            if item.state is None:
                continue
            if item.state.erased:
                erased.setdefault(item.state.contact_ref, []).append(item.delivery_id)
                continue
            wants = {
                slot: want
                for slot, want in slot_wants(target.mapping, item.state).items()
                if want is not None
            }
            if wants:
                contacts[item.delivery_id] = _Contact(key=item.delivery_id, state=item.state, wants=wants)
        done = self._apply(target, contacts, client=client)
        if erased:
            done.update(self._erase(target, erased, client=client))
        return [done.get(item.delivery_id, NOTHING) for item in items]

    def _apply(
        self, target: Target, contacts: dict[int, _Contact], *, client: httpx.Client
    ) -> dict[int, PushResult]:
        """Bring the org's records to each contact's wants, writing only what differs; one
        result per contact key."""
        mapping = target.mapping
        results: dict[int, PushResult] = {}
        by_value: dict[str, list[_Contact]] = {}
        for contact in contacts.values():
            value = _match_value(mapping, contact.state)
            if value is None:
                results[contact.key] = NOTHING
            else:
                by_value.setdefault(value.casefold(), []).append(contact)
        if not by_value:
            return results
        try:
            return self._apply_found(target, by_value, results, client=client)
        finally:
            # What Candor created or found, for the erasure (also when a call failed half-way:
            # what was created exists).
            ids = {
                kept: contact.state.contact_ref
                for group in by_value.values()
                for contact in group
                for kept in contact.kept
                | {f"Individual/{r['IndividualId']}" for r in contact.records if r.get("IndividualId")}
                | _records_to_keep(mapping, contact.records)
            }
            vendor_contacts_keep(connector_public_id=target.public_id, ids=ids)

    def _apply_found(
        self,
        target: Target,
        by_value: dict[str, list[_Contact]],
        results: dict[int, PushResult],
        *,
        client: httpx.Client,
    ) -> dict[int, PushResult]:
        mapping = target.mapping
        match_field = mapping["match_field"]
        flags = sorted((mapping.get("flags") or {}).keys())
        try:
            fields = ["Id", "LastName", "FirstName", "IndividualId", "SystemModstamp", match_field, *flags]
            _records_find(target, by_value, fields=fields, client=client)
            live = [c for group in by_value.values() for c in group if c.records]
            for group in by_value.values():
                for contact in group:
                    if not contact.records:
                        results[contact.key] = NOT_IN_ORG
            self._individuals_ensure(target, live, client=client)
            consents = self._consents_read(target, live, client=client)
            points, point_consents, rows = self._points_read(target, live, client=client)
            self._points_follow(target, live, points, point_consents, rows, client=client)
            self._points_ensure(target, live, points, client=client)
            updates, creates = self._writes(target, live, consents, points, point_consents)
            # Grouped by type: Salesforce saves a call's records in runs of one type, ten at most.
            for chunk in _chunks(sorted(updates, key=_type_of)):
                self._save(target, "PATCH", chunk, client=client)
            for chunk in _chunks(sorted(creates, key=_type_of)):
                self._save(target, "POST", chunk, client=client)
        except SalesforceRefused as exc:
            failed = _refused(exc)
            for group in by_value.values():
                for contact in group:
                    results.setdefault(contact.key, contact.failure or failed)
            return results
        for group in by_value.values():
            for contact in group:
                if contact.key in results:
                    continue
                results[contact.key] = contact.failure or (
                    PushResult(
                        succeeded=True, status_code=200, excerpt=f"{contact.written} record(s) written."
                    )
                    if contact.written
                    else NOTHING
                )
        return results

    # --- erasure -----------------------------------------------------------------------------

    def _erase(
        self, target: Target, erased: dict[int, list[int]], *, client: httpx.Client
    ) -> dict[int, PushResult]:
        """Erased contacts (contact_ref -> their deliveries), by the ids kept when they were
        pushed: ShouldForget on their Individuals (one PATCH per 200), then the consent records
        Candor created deleted, then the contact points it created (children first; one DELETE
        per 200 ids each). Each id done (or gone already) is dropped at once, so a retry after an
        outage does only what is left; an id Salesforce refuses stays, and fails its delivery."""
        kept = vendor_contacts_all(connector_public_id=target.public_id, contact_refs=erased)
        try:
            heirs = _shared_heirs(target, kept, client=client)
        except SalesforceRefused as exc:
            return {delivery: _refused(exc) for deliveries in erased.values() for delivery in deliveries}
        refused = self._heirs_push(target, heirs, client=client)
        _hand_over(target, kept, {ref: heir for ref, heir in heirs.items() if ref not in refused})
        results = {delivery: refused.get(ref, HANDED_OVER) for ref in heirs for delivery in erased[ref]}
        erased = {ref: deliveries for ref, deliveries in erased.items() if ref not in heirs}
        kept = {ref: ids for ref, ids in kept.items() if ref not in heirs}
        steps = [
            ("Individual", ("Individual",)),
            ("consents", CONSENT_OBJECTS),
            ("points", POINT_TYPES),
        ]
        acted_on = {sobject for _, types in steps for sobject in types}
        jobs = {
            ref: _Erasure(ids=[v for v in kept.get(ref, []) if v.split("/")[0] in acted_on]) for ref in erased
        }
        # The CRM's own records the contact was matched to (_records_to_keep): nothing is done to
        # them, and Candor's note of them goes with the erasure.
        vendor_contacts_drop(
            connector_public_id=target.public_id,
            vendor_ids=[v for ids in kept.values() for v in ids if v.split("/")[0] in OBJECTS],
        )
        try:
            for step, types in steps:
                todo = [(job, vid) for job in jobs.values() for vid in job.ids if vid.split("/")[0] in types]
                for chunk in _chunks(todo):
                    ids = [vid.split("/", 1)[1] for _, vid in chunk]
                    if step == "Individual":
                        rows = [
                            {"attributes": {"type": "Individual"}, "id": i, "ShouldForget": True} for i in ids
                        ]
                        saved = self._call_collection(target, "PATCH", rows, client=client)
                    else:
                        saved = self._call_delete(target, ids, client=client)
                    self._erased(target, step, chunk, saved)
        except SalesforceRefused as exc:
            failed = _refused(exc)
            for job in jobs.values():
                if job.failure is None and len(job.done) < len(job.ids):
                    job.failure = failed
        for ref, deliveries in erased.items():
            job = jobs[ref]
            result = (
                NOTHING_KEPT
                if not job.ids
                else job.failure
                or PushResult(
                    succeeded=True,
                    status_code=200,
                    excerpt=(
                        f"Erased in Salesforce: {job.counts.get('Individual', 0)} Individual(s) marked "
                        f"Forget this Individual; {job.counts.get('consents', 0)} consent record(s) and "
                        f"{job.counts.get('points', 0)} contact point(s) Candor created deleted."
                    ),
                )
            )
            results.update(dict.fromkeys(deliveries, result))
        return results

    def _heirs_push(
        self, target: Target, heirs: dict[int, int], *, client: httpx.Client
    ) -> dict[int, PushResult]:
        """The heirs' own state pushed onto the records they share with the erased contacts,
        before those are handed to them: what was last written there may have been the erased
        contact's word (a "yes" after the heir's "no"), which no longer counts. Only what
        differs is written, as any push. The erased contacts whose heir's push failed, with
        that failure: their deliveries fail and are retried whole, nothing handed over or erased
        for them until it succeeds."""
        if not heirs:
            return {}
        states = contact_states_now(connector_public_id=target.public_id, contact_refs=heirs.values())
        contacts: dict[int, _Contact] = {}
        for key, state in enumerate(states.values()):
            wants = {s: w for s, w in slot_wants(target.mapping, state).items() if w is not None}
            if wants and not state.erased:
                contacts[key] = _Contact(key=key, state=state, wants=wants)
        applied = self._apply(target, contacts, client=client) if contacts else {}
        pushed = {contact.state.contact_ref: applied[contact.key] for contact in contacts.values()}
        return {
            ref: pushed[heir] for ref, heir in heirs.items() if heir in pushed and not pushed[heir].succeeded
        }

    @staticmethod
    def _erased(
        target: Target, step: str, chunk: list[tuple[_Erasure, str]], saved: list[dict[str, Any]]
    ) -> None:
        done = []
        for (job, vid), result in zip(chunk, saved, strict=True):
            if _deleted(result):
                job.done.append(vid)
                job.counts[step] = job.counts.get(step, 0) + 1
                done.append(vid)
            else:
                job.failure = job.failure or _record_failure(result)
        vendor_contacts_drop(connector_public_id=target.public_id, vendor_ids=done)

    @staticmethod
    def _call_delete(target: Target, ids: list[str], *, client: httpx.Client) -> list[dict[str, Any]]:
        answer = api_call(
            target,
            "DELETE",
            f"{DATA}/composite/sobjects",
            client=client,
            params={"ids": ",".join(ids), "allOrNone": "false"},
        )
        if not isinstance(answer.body, list) or len(answer.body) != len(ids):
            raise SalesforceRefused(
                "Salesforce's answer did not have one result per record.", status_code=200
            )
        return answer.body

    def _individuals_ensure(self, target: Target, contacts: list[_Contact], *, client: httpx.Client) -> None:
        """An Individual for each record without one that has a consent to hold (the link is
        written with the record's flags): the one Candor created for the contact before where
        its link was refused (_individuals_unlinked), else a new one."""
        pending: dict[str, tuple[_Contact, dict[str, Any]]] = {}  # by record: contacts may share one
        for contact in contacts:
            if any(slot.startswith("consent:") for slot in contact.wants):
                for record in contact.records:
                    if not record.get("IndividualId"):
                        pending.setdefault(str(record["Id"]), (contact, record))
        if not pending:
            return
        unlinked = _individuals_unlinked(target, [contact for contact, _ in pending.values()], client=client)
        new = []
        for contact, record in pending.values():
            left = unlinked.get(contact.key)
            if left:
                record["IndividualId"] = left.pop(0)
                record["_link"] = True  # the record's own PATCH links it
            else:
                new.append((contact, record))
        for chunk in _chunks(new):
            rows = [
                {
                    "attributes": {"type": "Individual"},
                    "LastName": record.get("LastName") or "Unknown",
                    "FirstName": record.get("FirstName"),
                }
                for _, record in chunk
            ]
            saved = self._call_collection(target, "POST", rows, client=client)
            for (contact, record), result in zip(chunk, saved, strict=True):
                if result.get("success"):
                    record["IndividualId"] = result["id"]
                    record["_link"] = True
                    record["_new"] = True  # nothing under it yet: nothing to read
                    contact.written += 1
                    contact.kept.add(f"Individual/{result['id']}")
                else:
                    contact.failure = contact.failure or _record_failure(result)

    def _consents_read(
        self, target: Target, contacts: list[_Contact], *, client: httpx.Client
    ) -> dict[tuple[str, str, str], dict[str, Any]]:
        """The org's ContactPointTypeConsents of these Individuals and the mapped purposes, by
        (PartyId, DataUsePurposeId, ContactPointType)."""
        parties = {
            record["IndividualId"]
            for contact in contacts
            for record in contact.records
            if record.get("IndividualId") and not record.get("_new")
        }
        purposes = {entry["data_use_purpose"] for entry in target.mapping.get("purposes", [])}
        if not parties or not purposes:
            return {}
        query = soql(
            fields=CONSENT_FIELDS,
            sobject="ContactPointTypeConsent",
            where=f"PartyId IN {soql_in(parties)} AND DataUsePurposeId IN {soql_in(purposes)}",
            order="SystemModstamp",
        )
        rows = query_all(target, query, client=client)
        # The latest record per slot is the one in force (a later one, made elsewhere, wins).
        return {(row["PartyId"], row["DataUsePurposeId"], row["ContactPointType"]): row for row in rows}

    def _points_read(
        self, target: Target, contacts: list[_Contact], *, client: httpx.Client
    ) -> tuple[Points, dict[tuple[str, str], dict[str, Any]], list[dict[str, Any]]]:
        """The contact points of these records' Individuals (one query per mapped type) and
        those points' ContactPointConsents of the mapped purposes (one query); and the points
        as read (salesforce_moves looks for those left under a former address)."""
        parties = {
            record["IndividualId"]
            for contact in contacts
            if any(slot.startswith("consent:") for slot in contact.wants)
            for record in contact.records
            if record.get("IndividualId") and not record.get("_new")
        }
        rows = contact_points_read(target, parties=parties, client=client)
        points: Points = {}
        for row in rows:
            points.setdefault((row["ParentId"], row["_type"], row["_address"]), row["Id"])
        ids = {row["Id"] for row in rows}
        return points, point_consents_read(target, ids, client=client), rows

    def _points_follow(
        self,
        target: Target,
        contacts: list[_Contact],
        points: Points,
        point_consents: dict[tuple[str, str], dict[str, Any]],
        rows: list[dict[str, Any]],
        *,
        client: httpx.Client,
    ) -> None:
        """The contact points Candor made under a contact's former address follow it (their
        address updated, one PATCH per 200), or Candor's records on them are deleted where they
        cannot (salesforce_moves). `points` then names the moved points at their new address."""
        types = mapped_point_types(target.mapping)
        people = [
            (
                contact,
                frozenset(
                    r["IndividualId"] for r in contact.records if r.get("IndividualId") and not r.get("_new")
                ),
                {point_type: contact.address(point_type) for point_type in types},
            )
            for contact in contacts
            if contact.failure is None
        ]
        if not stale_points(people=[(parties, addresses) for _, parties, addresses in people], rows=rows):
            return  # every point read is at its contact's address: nothing to follow
        kept = vendor_contacts_all(
            connector_public_id=target.public_id, contact_refs={c.state.contact_ref for c, _, _ in people}
        )
        plan = follow_plan(
            people=[
                Person(
                    key=contact.key,
                    parties=parties,
                    addresses=addresses,
                    kept=frozenset(kept.get(contact.state.contact_ref, [])),
                )
                for contact, parties, addresses in people
            ],
            rows=rows,
            points=points,
            point_consents=point_consents,
        )
        by_key = {contact.key: contact for contact in contacts}
        for chunk in _chunks(sorted(plan.moves, key=lambda move: (move.point_type, move.point_id))):
            saved = self._call_collection(target, "PATCH", [move.row() for move in chunk], client=client)
            for move, result in zip(chunk, saved, strict=True):
                involved = [by_key[key] for key in plan.who[move.point_id]]
                if result.get("success"):
                    old = (move.party, move.point_type, move.old)
                    if points.get(old) == move.point_id:
                        del points[old]
                    points[(move.party, move.point_type, move.address.casefold())] = move.point_id
                    for contact in involved:
                        contact.written += 1
                    continue
                failure = _record_failure(result)
                if failure.permanent:
                    plan.drop(move)  # refused for good: Candor's records there go instead
                    continue
                for contact in involved:  # a locked row: retried, nothing made beside it meanwhile
                    contact.failure = contact.failure or failure
        consents = [(point, consent) for point in sorted(plan.drops) for consent in plan.consents[point]]
        blocked: set[str] = set()  # points still holding a consent of Candor's
        for consent_chunk in _chunks(consents):
            saved = self._call_delete(target, [consent for _, consent in consent_chunk], client=client)
            done = []
            for (point, consent), result in zip(consent_chunk, saved, strict=True):
                if _deleted(result):
                    done.append(f"ContactPointConsent/{consent}")
                    for contact in (by_key[key] for key in plan.who[point]):
                        contact.written += 1
                else:
                    blocked.add(point)
                    for contact in (by_key[key] for key in plan.who[point]):
                        contact.failure = contact.failure or _record_failure(result)
            vendor_contacts_drop(connector_public_id=target.public_id, vendor_ids=done)
        ours = [
            (point, sobject)
            for point, (sobject, created) in sorted(plan.drops.items())
            if created and point not in blocked
        ]
        for point_chunk in _chunks(ours):
            saved = self._call_delete(target, [point for point, _ in point_chunk], client=client)
            done = []
            for (point, sobject), result in zip(point_chunk, saved, strict=True):
                if _deleted(result):
                    done.append(f"{sobject}/{point}")
                    for contact in (by_key[key] for key in plan.who[point]):
                        contact.written += 1
                # Refused (the org's records hang on it): it holds no consent of Candor's any
                # more; its id stays kept for the erasure.
            vendor_contacts_drop(connector_public_id=target.public_id, vendor_ids=done)

    def _points_ensure(
        self, target: Target, contacts: list[_Contact], points: Points, *, client: httpx.Client
    ) -> None:
        """Create the contact points the consents need and the org does not hold (one create
        call per 200); each new id goes into `points`."""
        types = {
            slot: CHANNELS[channel]
            for entry in target.mapping.get("purposes", [])
            for channel in entry.get("channels", ["email"])
            for slot in [consent_slot(entry, channel)]
        }
        pending: dict[tuple[str, str, str], tuple[_Contact, dict[str, Any]]] = {}
        for contact in contacts:
            if contact.failure is not None:
                continue
            wanted = {types[slot] for slot in contact.wants if slot in types}
            for record in contact.records:
                party = record.get("IndividualId")
                for point_type in sorted(wanted):
                    address = contact.address(point_type)
                    key = (party or "", point_type, (address or "").casefold())
                    if not party or not address or key in points or key in pending:
                        continue
                    sobject, field_name = POINT_OBJECTS[point_type]
                    row = {"attributes": {"type": sobject}, "ParentId": party, field_name: address}
                    pending[key] = (contact, row)
        keys = sorted(pending, key=lambda key: key[1])  # one run per type (see _apply)
        for start in range(0, len(keys), COLLECTION_MAX):
            chunk = keys[start : start + COLLECTION_MAX]
            saved = self._call_collection(target, "POST", [pending[key][1] for key in chunk], client=client)
            for key, result in zip(chunk, saved, strict=True):
                contact, row = pending[key]
                if result.get("success"):
                    points[key] = result["id"]
                    contact.written += 1
                    contact.kept.add(f"{row['attributes']['type']}/{result['id']}")
                else:
                    contact.failure = contact.failure or _record_failure(result)

    def _writes(
        self,
        target: Target,
        contacts: list[_Contact],
        consents: dict[tuple[str, str, str], dict[str, Any]],
        points: Points,
        point_consents: dict[tuple[str, str], dict[str, Any]],
    ) -> tuple[list[tuple[_Contact, dict[str, Any]]], list[tuple[_Contact, dict[str, Any]]]]:
        mapping = target.mapping
        sobject = mapping["object"]
        entries = {
            consent_slot(entry, channel): (entry, channel)
            for entry in mapping.get("purposes", [])
            for channel in entry.get("channels", ["email"])
        }
        now = timezone.now()
        updates: list[tuple[_Contact, dict[str, Any]]] = []
        creates: list[tuple[_Contact, dict[str, Any]]] = []
        seen: set[tuple[str, ...]] = set()  # records sharing an Individual write its consents once
        for contact in contacts:
            if contact.failure is not None:
                continue
            for record in contact.records:
                changes: dict[str, Any] = {}
                record.pop("_new", None)
                if record.pop("_link", False):
                    changes["IndividualId"] = record["IndividualId"]
                stamp = parse_time(record.get("SystemModstamp"))
                for slot, want in contact.wants.items():
                    if not slot.startswith("flag:"):
                        continue
                    flag = slot.removeprefix("flag:")
                    now_set = bool(record.get(flag))
                    if want.value == "unsubscribed" and not now_set:
                        changes[flag] = True
                    elif want.value == "subscribed" and now_set and _later(want.at, stamp):
                        changes[flag] = False  # Candor's "yes" is newer than the org's "no"
                if changes:
                    updates.append(
                        (contact, {"attributes": {"type": sobject}, "id": record["Id"], **changes})
                    )
                party = record.get("IndividualId")
                if not party:
                    continue
                for slot, want in contact.wants.items():
                    if not slot.startswith("consent:"):
                        continue
                    entry, channel = entries[slot]
                    dup, point_type = entry["data_use_purpose"], CHANNELS[channel]
                    captured = sf_time(want.at or now)
                    if ("type", party, dup, point_type) not in seen:
                        seen.add(("type", party, dup, point_type))
                        new = {
                            "attributes": {"type": "ContactPointTypeConsent"},
                            "Name": f"Candor {entry['purpose']} {point_type}"[:80],
                            "PartyId": party,
                            "DataUsePurposeId": dup,
                            "ContactPointType": point_type,
                        }
                        existing = consents.get((party, dup, point_type))
                        _consent_write(
                            contact=contact,
                            want=want,
                            captured=captured,
                            existing=existing,
                            new=new,
                            updates=updates,
                            creates=creates,
                        )
                    address = contact.address(point_type)
                    point = points.get((party, point_type, (address or "").casefold())) if address else None
                    if point is not None and ("point", point, dup) not in seen:
                        seen.add(("point", point, dup))
                        new = {
                            "attributes": {"type": "ContactPointConsent"},
                            "Name": f"Candor {entry['purpose']} {point_type} address"[:80],
                            "ContactPointId": point,
                            "DataUsePurposeId": dup,
                        }
                        existing = point_consents.get((point, dup))
                        _consent_write(
                            contact=contact,
                            want=want,
                            captured=captured,
                            existing=existing,
                            new=new,
                            updates=updates,
                            creates=creates,
                        )
        return updates, creates

    def _save(
        self,
        target: Target,
        method: str,
        chunk: list[tuple[_Contact, dict[str, Any]]],
        *,
        client: httpx.Client,
    ) -> None:
        saved = self._call_collection(target, method, [row for _, row in chunk], client=client)
        for (contact, row), result in zip(chunk, saved, strict=True):
            if result.get("success"):
                contact.written += 1
                if method == "POST":
                    contact.kept.add(f"{row['attributes']['type']}/{result['id']}")
            else:
                contact.failure = contact.failure or _record_failure(result)

    @staticmethod
    def _call_collection(
        target: Target, method: str, rows: list[dict[str, Any]], *, client: httpx.Client
    ) -> list[dict[str, Any]]:
        answer = api_call(
            target,
            method,
            f"{DATA}/composite/sobjects",
            client=client,
            body={"allOrNone": False, "records": rows},
        )
        if not isinstance(answer.body, list) or len(answer.body) != len(rows):
            raise SalesforceRefused(
                "Salesforce's answer did not have one result per record.", status_code=200
            )
        return answer.body

    # --- inbound (salesforce_inbound) --------------------------------------------------------

    def inbound(self, target: Target, request: InboundRequest) -> InboundAnswer:
        # Salesforce is polled; nothing is configured to call /hooks/salesforce/….
        return InboundAnswer(status=404, body="Salesforce connectors are polled, not called.")

    def poll(
        self, target: Target, watermark: str | None, *, client: httpx.Client
    ) -> tuple[list[VendorSignal], str | None]:
        return salesforce_poll(target, watermark, client=client)

    # --- reconcile ---------------------------------------------------------------------------

    def expected(self, mapping: dict[str, Any], state: ContactState) -> dict[str, SlotState | None]:
        return {slot: (want.value if want else None) for slot, want in slot_wants(mapping, state).items()}

    def vendor_read(
        self, target: Target, states: Sequence[ContactState], *, client: httpx.Client
    ) -> dict[int, dict[str, SlotState]]:
        """A few queries for the batch: the records by match key (IN), their Individuals'
        ContactPointTypeConsents, their contact points (one query per mapped type) and those
        points' ContactPointConsents. A contact with no record reads "unknown" on every slot;
        where several records or contact points match, a "no" on any of them is the org's
        answer."""
        mapping = target.mapping
        slots = list(slot_wants(mapping, ContactState(contact_ref=0, external_id="", email=None, phone=None)))
        contacts = {
            state.contact_ref: _Contact(key=state.contact_ref, state=state, wants={}) for state in states
        }
        by_value: dict[str, list[_Contact]] = {}
        for contact in contacts.values():
            value = _match_value(mapping, contact.state)
            if value:
                by_value.setdefault(value.casefold(), []).append(contact)
        try:
            if by_value:
                _records_find(target, by_value, fields=person_fields(mapping), client=client)
            consents = self._consents_read(target, [c for c in contacts.values() if c.records], client=client)
            parties = {
                r["IndividualId"] for c in contacts.values() for r in c.records if r.get("IndividualId")
            }
            points: dict[tuple[str, str], list[str]] = {}  # (Individual, ContactPointType) -> ids
            for point in contact_points_read(target, parties=parties, client=client):
                points.setdefault((point["ParentId"], point["_type"]), []).append(point["Id"])
            point_consents = point_consents_read(
                target, {i for ids in points.values() for i in ids}, client=client
            )
        except SalesforceRefused as exc:
            raise VendorError(str(exc), status_code=exc.status_code) from exc
        entries = {
            consent_slot(entry, channel): (entry["data_use_purpose"], CHANNELS[channel])
            for entry in mapping.get("purposes", [])
            for channel in entry.get("channels", ["email"])
        }
        read: dict[int, dict[str, SlotState]] = {}
        for ref, contact in contacts.items():
            held: dict[str, SlotState] = {}
            for slot in slots:
                values: list[SlotState] = []
                for record in contact.records:
                    if slot.startswith("flag:"):
                        flag = record.get(slot.removeprefix("flag:"))
                        values.append("unsubscribed" if flag else "subscribed")
                    else:
                        purpose, point_type = entries[slot]
                        party = record.get("IndividualId") or ""
                        rows = [consents.get((party, purpose, point_type))]
                        rows += [
                            point_consents.get((i, purpose)) for i in points.get((party, point_type), [])
                        ]
                        for row in rows:
                            status = row.get("PrivacyConsentStatus") if row else None
                            values.append(
                                "subscribed"
                                if status == "OptIn"
                                else "unsubscribed"
                                if status == "OptOut"
                                else "unknown"
                            )
                held[slot] = (
                    "unsubscribed"
                    if "unsubscribed" in values
                    else "subscribed"
                    if "subscribed" in values
                    else "unknown"
                )
            read[ref] = held
        return read

    def slot_signal(
        self, mapping: dict[str, Any], slot: str, state: ContactState, *, event_id: str
    ) -> VendorSignal:
        identity: dict[str, Any] = (
            {"email": state.email}
            if mapping.get("match_field") == "Email"
            else {"external_id": state.external_id}
        )
        if slot.startswith("flag:"):
            flag = slot.removeprefix("flag:")
            channel = mapping["flags"][flag]
            signal = channel_signal(mapping, channel, identity, {"Id": ""}, flag, None)
            detail = {"object": mapping["object"], "flag": flag, "found_by": "reconciler"}
            return replace(signal, event_id=event_id, detail=detail)
        _, purpose_id, point = slot.split(":", 2)
        for entry in mapping.get("purposes", []):
            for channel in entry.get("channels", ["email"]):
                if entry["data_use_purpose"] == purpose_id and CHANNELS[channel] == point:
                    return VendorSignal(
                        event_id=event_id,
                        kind="unsubscribed",
                        channel=channel,
                        topics=(entry["topic"],) if entry.get("topic") else (),
                        purposes=(entry["purpose"],),
                        detail={"object": "ContactPointTypeConsent", "found_by": "reconciler"},
                        **identity,
                    )
        raise ValueError(f"No such slot in the mapping: {slot}")

    def slots_turn_off(
        self, target: Target, offs: Sequence[tuple[ContactState, str]], *, client: httpx.Client
    ) -> list[PushResult]:
        """OptOut on each consent slot, true on each flag slot: the same writes as a push of a
        "no", so only what differs is written."""
        contacts: dict[int, _Contact] = {}
        for state, slot in offs:
            contact = contacts.setdefault(
                state.contact_ref, _Contact(key=state.contact_ref, state=state, wants={})
            )
            contact.wants[slot] = Want("unsubscribed")
        done = self._apply(target, contacts, client=client)
        return [done.get(state.contact_ref, NOTHING) for state, _slot in offs]


def _records_find(
    target: Target, by_value: dict[str, list[_Contact]], *, fields: list[str], client: httpx.Client
) -> None:
    """Each contact's records (of the mapped object), with `fields`: those whose match field
    holds its key (casefolded in `by_value`). Matching by Email, a contact that no record has
    (the CRM still holds the address the contact left: Candor never writes it) keeps the records
    it was matched to before, by the ids kept when pushed (`_records_to_keep`), but for one whose
    address another live contact of the brand gives now (the record is theirs). So a "no" given
    in Candor after an address change reaches the org before the CRM has the new address. One
    query, and where a contact is not found by Email two more reads (the ids kept, the addresses
    held) and one more query."""
    mapping = target.mapping
    sobject, match_field = mapping["object"], mapping["match_field"]
    where = f"{match_field} IN {soql_in(by_value)}"
    for record in query_all(target, soql(fields=fields, sobject=sobject, where=where), client=client):
        for contact in by_value.get(str(record.get(match_field) or "").casefold(), []):
            contact.records.append(record)
    if match_field != "Email":
        return
    missing: dict[int, list[_Contact]] = {}
    for group in by_value.values():
        for contact in group:
            if not contact.records:
                missing.setdefault(contact.state.contact_ref, []).append(contact)
    if not missing:
        return
    kept = vendor_contacts_all(connector_public_id=target.public_id, contact_refs=missing)
    owners = {
        vendor_id.split("/", 1)[1]: ref
        for ref, vendor_ids in kept.items()
        for vendor_id in vendor_ids
        if vendor_id.split("/", 1)[0] == sobject
    }
    if not owners:
        return
    where = f"Id IN {soql_in(owners)}"
    records = query_all(target, soql(fields=fields, sobject=sobject, where=where), client=client)
    holders = address_holders_now(
        connector_public_id=target.public_id,
        emails=[str(r.get("Email") or "") for r in records if r.get("Email")],
    )
    for record in records:
        ref = owners.get(str(record.get("Id")))
        others = [h for h in holders.get(str(record.get("Email") or "").strip().lower(), []) if h != ref]
        if ref is not None and not others:
            for contact in missing[ref]:
                contact.records.append(record)


def _shared_heirs(target: Target, kept: dict[int, list[str]], *, client: httpx.Client) -> dict[int, int]:
    """Erased contacts (with their kept ids) whose records, matched by Email, another live contact
    of the brand gives the address of now (a household, a duplicate), each with the first such
    contact: the records, their Individuals and what Candor created under them are that
    contact's too. Candor no longer holds the erased contact's address, so the records kept for
    it are read (one query; none when no erased contact has any). A contact only some of whose
    records are shared is not in the answer (it is erased as before)."""
    mapping = target.mapping
    if mapping.get("match_field") != "Email":
        return {}  # an external id is one contact's: no record is shared
    sobject = mapping["object"]
    records = {
        ref: [v.split("/", 1)[1] for v in ids if v.split("/", 1)[0] == sobject] for ref, ids in kept.items()
    }
    wanted = sorted({record_id for ids in records.values() for record_id in ids})
    if not wanted:
        return {}
    where = f"Id IN {soql_in(wanted)}"
    addresses = {
        str(r["Id"]): str(r.get("Email") or "").strip().lower()
        for r in query_all(target, soql(fields=["Id", "Email"], sobject=sobject, where=where), client=client)
    }
    holders = address_holders_now(connector_public_id=target.public_id, emails=list(addresses.values()))
    heirs: dict[int, int] = {}
    for ref, ids in records.items():
        others = [[h for h in holders.get(addresses[i], []) if h != ref] for i in ids if i in addresses]
        if others and all(others):
            heirs[ref] = others[0][0]
    return heirs


def _hand_over(target: Target, kept: dict[int, list[str]], heirs: dict[int, int]) -> None:
    """Every id kept for each erased contact is kept for its heir instead: the heir's own
    erasure acts on them, and nothing of them is marked or deleted now."""
    with transaction.atomic():
        vendor_contacts_drop(
            connector_public_id=target.public_id, vendor_ids=[v for ref in heirs for v in kept[ref]]
        )
        vendor_contacts_keep(
            connector_public_id=target.public_id,
            ids={v: heir for ref, heir in heirs.items() for v in kept[ref]},
        )


def _individuals_unlinked(
    target: Target, contacts: list[_Contact], *, client: httpx.Client
) -> dict[int, list[str]]:
    """contact key -> the Individuals Candor created for that contact that no record links to
    (the record's PATCH was refused after the Individual was made, and the delivery failed), so
    that its retry links one of them rather than create another. Their ids were kept when they
    were made; the org is asked which still exist and are not linked elsewhere meanwhile (two
    queries, made only when a contact has such an id: after a refused link)."""
    sobject = target.mapping["object"]
    kept = vendor_contacts_all(
        connector_public_id=target.public_id, contact_refs={c.state.contact_ref for c in contacts}
    )
    candidates: dict[int, list[str]] = {}
    for contact in contacts:
        linked = {r.get("IndividualId") for r in contact.records}
        ids = [
            v.split("/", 1)[1]
            for v in kept.get(contact.state.contact_ref, [])
            if v.split("/", 1)[0] == "Individual" and v.split("/", 1)[1] not in linked
        ]
        if ids:
            candidates[contact.key] = ids
    wanted = sorted({i for ids in candidates.values() for i in ids})
    if not wanted:
        return {}
    where = f"Id IN {soql_in(wanted)}"
    alive = {
        str(r["Id"])
        for r in query_all(target, soql(fields=["Id"], sobject="Individual", where=where), client=client)
    }
    where = f"IndividualId IN {soql_in(wanted)}"
    elsewhere = {
        str(r["IndividualId"])
        for r in query_all(
            target, soql(fields=["Id", "IndividualId"], sobject=sobject, where=where), client=client
        )
    }
    return {
        key: usable
        for key, ids in candidates.items()
        if (usable := [i for i in ids if i in alive and i not in elsewhere])
    }


def _refused(exc: SalesforceRefused) -> PushResult:
    """The result of a call Salesforce refused, for each contact it stopped."""
    return PushResult(
        succeeded=False,
        status_code=exc.status_code,
        excerpt=exc.excerpt,
        error=str(exc),
        retry_after=exc.retry_after,
        permanent=exc.permanent,
    )


def _records_to_keep(mapping: dict[str, Any], records: list[dict[str, Any]]) -> set[str]:
    """`<sObject>/<id>` of the records a contact matched by Email was found in (`_records_find`
    goes back to them once the contact's address changed); matching by an external id, the key
    does not change, and nothing is kept."""
    if mapping.get("match_field") != "Email":
        return set()
    return {f"{mapping['object']}/{r['Id']}" for r in records if r.get("Id")}


def _type_of(write: tuple[_Contact, dict[str, Any]]) -> str:
    return str(write[1]["attributes"]["type"])


def _consent_write(
    *,
    contact: _Contact,
    want: Want,
    captured: str,
    existing: dict[str, Any] | None,
    new: dict[str, Any],
    updates: list[tuple[_Contact, dict[str, Any]]],
    creates: list[tuple[_Contact, dict[str, Any]]],
) -> None:
    """The write one consent record (ContactPointTypeConsent or ContactPointConsent) needs, if
    any: `new` (its type and keys) when the org has none, else its status and dates when they
    differ and an opt-out does not stand in the way."""
    status = "OptIn" if want.value == "subscribed" else "OptOut"
    dated = {
        "PrivacyConsentStatus": status,
        "CaptureDate": captured,
        "CaptureSource": "Candor",
        "EffectiveFrom": captured,
    }
    if existing is None:
        creates.append((contact, {**new, "CaptureContactPointType": "Web", **dated}))
        return
    held = existing.get("PrivacyConsentStatus")
    if held == status:
        return
    if (
        status == "OptIn"
        and held == "OptOut"
        and not _later(want.at, parse_time(existing.get("SystemModstamp")))
    ):
        return  # the org's "no" is as new as Candor's "yes" or newer: it stays
    updates.append((contact, {"attributes": new["attributes"], "id": existing["Id"], **dated}))


def _later(candor_at: datetime | None, org_at: datetime | None) -> bool:
    """Whether Candor's "yes" is later than the org's record was last changed."""
    return candor_at is not None and org_at is not None and candor_at > org_at


def _record_failure(result: dict[str, Any]) -> PushResult:
    errors = result.get("errors") or [{}]
    code = str(errors[0].get("statusCode", ""))
    message = str(errors[0].get("message", ""))[:200]
    return PushResult(
        succeeded=False,
        status_code=200,
        excerpt=json.dumps(errors)[:1024],
        error=f"Salesforce refused a record: {code}: {message}"[:300],
        permanent=code not in TRANSIENT,
    )
