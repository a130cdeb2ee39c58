"""Salesforce inbound: the org has no webhooks to call Candor, so it is polled (the
connectors_poll beat task, sync.delivery.connectors.polling).

Each poll asks, since the connector's watermark (SystemModstamp; re-read with a minute's overlap,
since a record's stamp is set before its transaction commits), for
- the records of the mapped object whose kept flags (HasOptedOutOfEmail, DoNotCall,
  HasOptedOutOfFax) are true: each flag an "unsubscribe from all" on the Candor channel the
  mapping ties it to, withdrawing every purpose (and topic) mapped on that channel;
- the OptOut ContactPointTypeConsents of the mapped DataUsePurposes: a withdrawal of that
  purpose (and its topic) on that channel; their Individuals' records (a further query) say who;
- the OptOut ContactPointConsents of the mapped DataUsePurposes: the same withdrawal, on the
  channel of its contact point (a ContactPointEmail is email, a ContactPointPhone the mapped phone
  or sms); the contact points (one query per mapped type) say which Individual, whatever the
  address (a "no" on any of the Individual's addresses is a "no", as on any of its records).
The event id is the record id and its SystemModstamp (and the flag): a re-read is a duplicate and
changes nothing. A contact is named by the match field (external_id) or, matching by Email, its
address and the record (`Contact/<id>`): where no live contact gives that address now, the "no" is
the contact the push found in that record (one that left the address the CRM still has). The
watermark is JSON, one time per kind; the first poll only sets it (from now).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import httpx
from django.utils import timezone

from sync.delivery.connectors.salesforce_auth import (
    CHANNELS,
    CONSENT_FIELDS,
    POINT_CONSENT_FIELDS,
    POINT_OBJECTS,
    SalesforceRefused,
    parse_time,
    query_all,
    sf_time,
    soql,
    soql_in,
    soql_time,
)
from sync.delivery.connectors.vendors import Target, VendorError, VendorSignal

POLL_OVERLAP = timedelta(seconds=60)


def salesforce_poll(
    target: Target, watermark: str | None, *, client: httpx.Client
) -> tuple[list[VendorSignal], str | None]:
    """The org's "no"s changed since the watermark: kept flags true, OptOut consents of the
    mapped purposes. A first poll (no watermark) starts from now. VendorError if refused."""
    if watermark is None:
        start = sf_time(timezone.now())
        return [], json.dumps({"person": start, "consent": start, "point": start})
    try:
        marks = json.loads(watermark)
        person_mark, consent_mark = parse_time(marks["person"]), parse_time(marks["consent"])
        # A watermark from before ContactPointConsent was read starts it where the consents are.
        point_mark = parse_time(marks.get("point", marks["consent"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        person_mark = consent_mark = point_mark = None
    if person_mark is None or consent_mark is None or point_mark is None:
        raise VendorError("The Salesforce poll watermark is unreadable.")
    try:
        signals, person_next = _poll_flags(target, person_mark, client=client)
        more, consent_next, point_next = _poll_consents(target, consent_mark, point_mark, client=client)
    except SalesforceRefused as exc:
        raise VendorError(str(exc), status_code=exc.status_code) from exc
    marks = {"person": sf_time(person_next), "consent": sf_time(consent_next), "point": sf_time(point_next)}
    return signals + more, json.dumps(marks)


def person_fields(mapping: dict[str, Any]) -> list[str]:
    flags = sorted((mapping.get("flags") or {}).keys())
    return list(dict.fromkeys(["Id", "IndividualId", mapping["match_field"], "Email", "Phone", *flags]))


def identity_of(mapping: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """Who a record's "no" is for: its match key; matching by Email, also the record itself
    (`<object>/<id>`, as the push keeps it), for a contact that left the address the CRM still
    has (sync.delivery.connectors.inbound)."""
    value = record.get(mapping["match_field"])
    if mapping["match_field"] == "Email":
        if not value:
            return {}
        return {"email": value, "vendor_contact_id": f"{mapping['object']}/{record['Id']}"}
    return {"external_id": value} if value else {}


def _poll_flags(
    target: Target, mark: datetime, *, client: httpx.Client
) -> tuple[list[VendorSignal], datetime]:
    mapping = target.mapping
    flags = mapping.get("flags") or {}
    if not flags:
        return [], mark
    since = soql_time(mark - POLL_OVERLAP)
    either = " OR ".join(f"{flag} = true" for flag in sorted(flags))
    query = soql(
        fields=[*person_fields(mapping), "SystemModstamp"],
        sobject=mapping["object"],
        where=f"SystemModstamp >= {since} AND ({either})",
        order="SystemModstamp, Id",
    )
    records = query_all(target, query, client=client)
    signals = []
    latest = mark
    for record in records:
        stamp = parse_time(record.get("SystemModstamp")) or mark
        latest = max(latest, stamp)
        identity = identity_of(mapping, record)
        if not identity:
            continue
        for flag, channel in sorted(flags.items()):
            if record.get(flag) is True:
                signals.append(channel_signal(mapping, channel, identity, record, flag, stamp))
    return signals, latest


def channel_signal(
    mapping: dict[str, Any],
    channel: str,
    identity: dict[str, Any],
    record: dict[str, Any],
    flag: str,
    stamp: datetime | None,
) -> VendorSignal:
    entries = [e for e in mapping.get("purposes", []) if channel in e.get("channels", ["email"])]
    return VendorSignal(
        event_id=f"{record['Id']}:{flag}:{record.get('SystemModstamp')}",
        kind="unsubscribed",
        channel=channel,
        whole_channel=True,
        topics=tuple(sorted({e["topic"] for e in entries if e.get("topic")})),
        purposes=tuple(sorted({e["purpose"] for e in entries})),
        occurred_at=stamp,
        detail={"object": mapping["object"], "record": record["Id"], "flag": flag},
        **identity,
    )


def mapped_point_types(mapping: dict[str, Any]) -> list[str]:
    """The ContactPointTypes the mapping's purposes use (Email, Phone)."""
    return sorted(
        {
            CHANNELS[channel]
            for entry in mapping.get("purposes", [])
            for channel in entry.get("channels", ["email"])
        }
    )


def contact_points_read(
    target: Target, *, parties: set[str] | None = None, ids: set[str] | None = None, client: httpx.Client
) -> list[dict[str, Any]]:
    """The contact points of the mapped types under these Individuals (or with these ids), one
    query per type, each row with `_type` (Email or Phone) and `_address` (casefolded)."""
    if not parties and not ids:
        return []
    points = []
    for point_type in mapped_point_types(target.mapping):
        sobject, address = POINT_OBJECTS[point_type]
        where = f"ParentId IN {soql_in(parties)}" if parties else f"Id IN {soql_in(ids or set())}"
        query = soql(fields=["Id", "ParentId", address], sobject=sobject, where=where, order="Id")
        for row in query_all(target, query, client=client):
            points.append({**row, "_type": point_type, "_address": str(row.get(address) or "").casefold()})
    return points


def point_consents_read(
    target: Target, point_ids: set[str], *, client: httpx.Client
) -> dict[tuple[str, str], dict[str, Any]]:
    """The ContactPointConsents of these contact points and the mapped purposes, by
    (ContactPointId, DataUsePurposeId); the latest per pair is the one in force."""
    purposes = {entry["data_use_purpose"] for entry in target.mapping.get("purposes", [])}
    if not point_ids or not purposes:
        return {}
    query = soql(
        fields=POINT_CONSENT_FIELDS,
        sobject="ContactPointConsent",
        where=f"ContactPointId IN {soql_in(point_ids)} AND DataUsePurposeId IN {soql_in(purposes)}",
        order="SystemModstamp",
    )
    return {
        (row["ContactPointId"], row["DataUsePurposeId"]): row
        for row in query_all(target, query, client=client)
    }


def _poll_consents(
    target: Target, mark: datetime, point_mark: datetime, *, client: httpx.Client
) -> tuple[list[VendorSignal], datetime, datetime]:
    """OptOut ContactPointTypeConsents and ContactPointConsents since their watermarks, named by
    one query of the people of their Individuals."""
    mapping = target.mapping
    entries = mapping.get("purposes", [])
    if not entries:
        return [], mark, point_mark
    purposes = {entry["data_use_purpose"] for entry in entries}
    optouts = f"PrivacyConsentStatus = 'OptOut' AND DataUsePurposeId IN {soql_in(purposes)}"
    query = soql(
        fields=CONSENT_FIELDS,
        sobject="ContactPointTypeConsent",
        where=f"SystemModstamp >= {soql_time(mark - POLL_OVERLAP)} AND {optouts}",
        order="SystemModstamp, Id",
    )
    rows = query_all(target, query, client=client)
    latest = max([mark, *(parse_time(row.get("SystemModstamp")) or mark for row in rows)])
    query = soql(
        fields=POINT_CONSENT_FIELDS,
        sobject="ContactPointConsent",
        where=f"SystemModstamp >= {soql_time(point_mark - POLL_OVERLAP)} AND {optouts}",
        order="SystemModstamp, Id",
    )
    point_rows = query_all(target, query, client=client)
    point_latest = max(
        [point_mark, *(parse_time(row.get("SystemModstamp")) or point_mark for row in point_rows)]
    )
    points = {
        point["Id"]: point
        for point in contact_points_read(
            target,
            ids={row["ContactPointId"] for row in point_rows if row.get("ContactPointId")},
            client=client,
        )
    }
    # Each OptOut as (row, the Individual, the ContactPointType, the object it is on).
    found = [
        (row, row.get("PartyId"), row.get("ContactPointType"), "ContactPointTypeConsent") for row in rows
    ]
    for row in point_rows:
        point = points.get(row.get("ContactPointId") or "")
        if point is not None:
            found.append((row, point.get("ParentId"), point["_type"], "ContactPointConsent"))
    parties = {party for _, party, _, _ in found if party}
    if not parties:
        return [], latest, point_latest
    query = soql(
        fields=person_fields(mapping),
        sobject=mapping["object"],
        where=f"IndividualId IN {soql_in(parties)}",
        order="Id",
    )
    person_of: dict[str, dict[str, Any]] = {}
    for person in query_all(target, query, client=client):
        person_of.setdefault(person["IndividualId"], person)
    signals = []
    for row, party_id, point_type, sobject in found:
        party = person_of.get(party_id or "")
        identity = identity_of(mapping, party) if party is not None else {}
        if not identity:
            continue
        for entry in entries:
            for channel in entry.get("channels", ["email"]):
                if entry["data_use_purpose"] != row["DataUsePurposeId"] or CHANNELS[channel] != point_type:
                    continue
                signals.append(
                    VendorSignal(
                        event_id=f"{row['Id']}:{row['SystemModstamp']}",
                        kind="unsubscribed",
                        channel=channel,
                        topics=(entry["topic"],) if entry.get("topic") else (),
                        purposes=(entry["purpose"],),
                        occurred_at=parse_time(row.get("SystemModstamp")),
                        detail={"object": sobject, "record": row["Id"]},
                        **identity,
                    )
                )
    return signals, latest, point_latest
