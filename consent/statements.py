"""Hand-written SQL for the statements of the consent write path that run on every request.

The ORM spends two to four times as long building a SELECT with joins as the database spends
answering it, and the write path is the product's busiest code, so its lookups, the projection's
upsert and the chain's advance are written out here, once, against the models' own table and
column names. Everything else, the inserts included, goes through the ORM.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from django.db import connection

from config.db import insert_parts, select_many, select_one, shape
from consent.models import (
    ConsentEvent,
    ConsentEvidence,
    ConsentState,
    Contact,
    Notice,
    NoticeVersion,
    Purpose,
    Suppression,
)
from sync.models import Event
from sync.outbox.listeners import events_announce

_contact = Contact._meta.db_table
_state = ConsentState._meta.db_table
_purpose = Purpose._meta.db_table
_notice = Notice._meta.db_table
_version = NoticeVersion._meta.db_table
_suppression = Suppression._meta.db_table

_CONTACT_FIELDS = [
    "id",
    "brand_id",
    "external_id",
    "jurisdiction",
    "ledger_sequence",
    "ledger_head",
    "event_sequence",
    "erased_at",
    "suppressed",
]  # in the models' field order, as Model.from_db expects them
_PURPOSE_FIELDS = [
    "id",
    "brand_id",
    "slug",
    "consent_type",
    "lifetime_days",
    "dpv_purpose",
    "sale_or_sharing",
]
_VERSION_FIELDS = ["id", "public_id", "content_hash"]


def chain_lock(
    *, brand_id: int, external_id: str, purpose_slug: str, notice_version_id: str | None
) -> tuple[Contact | None, Purpose | None, NoticeVersion | None]:
    """In one statement: the contact with its chain head, locked until the transaction ends,
    and the brand's notice version (when one is named) with its purpose, or else the brand's
    purpose with this slug. Missing parts come back as None. The contact's `suppressed` and
    `erased_at` and the purpose's marketing flags come along, so the suppression and erasure
    rules cost the write path nothing unless they apply.

    The contact's other fields are deferred: reading one loads it.
    """
    columns = [f"c.{n}" for n in _CONTACT_FIELDS] + [f"p.{n}" for n in _PURPOSE_FIELDS]
    if notice_version_id:
        columns += [f"nv.{n}" for n in _VERSION_FIELDS]
        joined = (
            f"LEFT JOIN ({_version} nv JOIN {_notice} n ON n.id = nv.notice_id "
            f"JOIN {_purpose} p ON p.id = n.purpose_id) ON nv.public_id = %s AND n.brand_id = c.brand_id"
        )
        lookup = notice_version_id
    else:
        joined = f"LEFT JOIN {_purpose} p ON p.brand_id = c.brand_id AND p.slug = %s"
        lookup = purpose_slug
    row = select_one(
        f"SELECT {', '.join(columns)} FROM {_contact} c {joined} "  # noqa: S608 (names from the models)
        "WHERE c.brand_id = %s AND c.external_id = %s FOR UPDATE OF c",
        [lookup, brand_id, external_id],
    )
    if row is None:
        return None, None, None
    contact = Contact.from_db(connection.alias, _CONTACT_FIELDS, row[: len(_CONTACT_FIELDS)])
    row = row[len(_CONTACT_FIELDS) :]
    purpose_row, version_row = row[: len(_PURPOSE_FIELDS)], row[len(_PURPOSE_FIELDS) :]
    if purpose_row[0] is None:
        return contact, None, None
    purpose = Purpose.from_db(connection.alias, _PURPOSE_FIELDS, purpose_row)
    version = NoticeVersion.from_db(connection.alias, _VERSION_FIELDS, version_row) if version_row else None
    return contact, purpose, version


# Columns an upsert never changes on an existing contact, whatever the caller gives.
_CONTACT_KEY = ("id", "brand_id", "external_id", "created_at")
# The contact's addresses (attnames): a change of one is announced downstream (contact.updated),
# so the one-statement upsert leaves an existing contact's address as it is unless told it may.
CONTACT_ADDRESSES = ("email_hmac", "phone")


Statement = tuple[str, list[Any]]


def contact_upsert(
    *,
    contact: Contact,
    given: tuple[str, ...],
    also: Sequence[Statement] = (),
    address_moves: bool = False,
) -> tuple[tuple[Contact, bool] | None, list[list[tuple[Any, ...]]]]:
    """Insert `contact`, or else change the fields named in `given` (attnames, as they are to be
    stored) on the brand's contact with that external id, in one statement; `updated_at` moves
    only when a value differs, and an erased contact is left as it is. Returns the contact as it
    now stands (every column), locked until the transaction ends, and whether it was created;
    None in the one race where the statement cannot see the row it conflicted with (another
    transaction inserted it after this statement began): read it again. Then the rows of the
    statements `also`, run after it in the same round trip.

    When `email_hmac` is given, `suppressed` is whether the brand's suppression list holds it,
    checked by a subquery, and changes only with the address.

    Unless `address_moves`, an existing contact whose address (CONTACT_ADDRESSES) would change is
    left entirely as it is and returned as it stands: the caller sees the difference and makes
    the change with its announcement (consent.services), under the contact's lock.
    """
    rows, *others = select_many([_contact_upsert_statement(contact, given, address_moves), *also])
    return _contact_upserted(rows), others


def contact_address_change(*, contact: Contact, given: tuple[str, ...]) -> tuple[tuple[Any, ...], Contact]:
    """Under the contact's lock, its addresses (CONTACT_ADDRESSES, in order), event sequence,
    email and phone as they were, then `contact_upsert` with `address_moves`, in one round trip. Inside a
    transaction, on a contact that exists and is not erased (the caller saw it so)."""
    names = [*CONTACT_ADDRESSES, "event_sequence", "email", "phone"]
    fields = {f.attname: f.column for f in Contact._meta.concrete_fields}
    quote = connection.ops.quote_name
    columns = ", ".join(quote(fields[name]) for name in names)
    lock = (
        f"SELECT {columns} FROM {_contact} WHERE brand_id = %s AND external_id = %s FOR UPDATE",  # noqa: S608
        [contact.brand_id, contact.external_id],
    )
    before, rows = select_many([lock, _contact_upsert_statement(contact, given, True)])
    upserted = _contact_upserted(rows)
    if not before or upserted is None:
        raise Contact.DoesNotExist(contact.external_id)
    return before[0], upserted[0]


def contact_event_append(*, event: Event) -> None:
    """Write the outbox `event` about its contact and move the contact's event sequence to the
    event's, in one statement. The caller holds the contact's lock and hands out the sequence."""
    into, params = insert_parts(event)
    row = select_one(
        f"WITH ob AS (INSERT INTO {into} RETURNING id) "  # noqa: S608 (names from the models)
        f"UPDATE {_contact} SET event_sequence = %s WHERE id = %s RETURNING (SELECT id FROM ob)",
        [*params, event.sequence, event.contact_ref],
    )
    assert row is not None  # the contact is locked: its UPDATE returns its row
    event.pk = row[0]
    event._state.adding = False
    events_announce(brand_id=event.brand_id)


def _contact_upsert_statement(contact: Contact, given: tuple[str, ...], address_moves: bool) -> Statement:
    suppression_check: dict[str, tuple[str, list[object]]] = {}
    if "email_hmac" in given and contact.email_hmac is not None:
        suppression_check["suppressed"] = (
            f"EXISTS (SELECT 1 FROM {_suppression} WHERE brand_id = %s AND email_hmac = %s)",  # noqa: S608
            [contact.brand_id, contact.email_hmac],
        )
    into, params = insert_parts(contact, given=suppression_check)
    sql = _contact_upsert_sql(into, given, address_moves)
    return sql, [*params, contact.brand_id, contact.external_id]


def _contact_upserted(rows: list[tuple[Any, ...]]) -> tuple[Contact, bool] | None:
    if not rows:
        return None
    contact_shape = shape(Contact)
    return contact_shape.build(rows[0]), bool(rows[0][contact_shape.width])


@cache
def _contact_upsert_sql(into: str, given: tuple[str, ...], address_moves: bool) -> str:
    quote = connection.ops.quote_name
    table = quote(_contact)
    fields = {f.attname: f for f in Contact._meta.concrete_fields}
    changing = [name for name in given if name not in _CONTACT_KEY and name in fields]
    sets = []
    for name in changing:
        column = quote(fields[name].column)
        sets.append(f"{column} = excluded.{column}")
    if "email_hmac" in changing:
        # Suppression follows the address: the list is consulted only when the address changes.
        hmac, suppressed = quote(fields["email_hmac"].column), quote(fields["suppressed"].column)
        sets.append(
            f"{suppressed} = CASE WHEN {table}.{hmac} IS DISTINCT FROM excluded.{hmac} "
            f"THEN excluded.{suppressed} ELSE {table}.{suppressed} END"
        )
    updated = quote(fields["updated_at"].column)
    sets.append(f"{updated} = excluded.{updated}")
    differs = " OR ".join(
        f"{table}.{quote(fields[n].column)} IS DISTINCT FROM excluded.{quote(fields[n].column)}"
        for n in changing
    )
    erased = quote(fields["erased_at"].column)
    kept = [
        f"{table}.{quote(fields[n].column)} IS NOT DISTINCT FROM excluded.{quote(fields[n].column)}"
        for n in changing
        if n in CONTACT_ADDRESSES and not address_moves
    ]
    contact_shape = shape(Contact)
    # An unchanged or erased contact is not written, but ON CONFLICT still locks it; `current`
    # then reads it FOR UPDATE, which yields its newest version even if it changed after this
    # statement's snapshot was taken.
    return (
        f"WITH up AS (INSERT INTO {into} ON CONFLICT (brand_id, external_id) DO UPDATE "  # noqa: S608
        f"SET {', '.join(sets)} WHERE {table}.{erased} IS NULL AND ({differs or 'false'}) "
        f"{''.join(f'AND {k} ' for k in kept)}"
        f"RETURNING {contact_shape.columns(table)}, ({table}.xmax = 0) AS created), "
        f"current AS (SELECT {contact_shape.columns('c')}, false AS created FROM {table} c "
        "WHERE c.brand_id = %s AND c.external_id = %s AND NOT EXISTS (SELECT 1 FROM up) FOR UPDATE OF c) "
        "SELECT * FROM up UNION ALL SELECT * FROM current"
    )


def decisions_lookup(
    *, brand_id: int, purpose_slugs: list[str], notice_version_ids: list[str]
) -> list[Statement]:
    """The statements that read the brand's purposes named by slug or by one of the notice
    versions, and those notice versions with their purpose's id; `decisions_found` reads their
    rows. For a pipeline (`contact_upsert`'s `also`)."""
    purpose_shape, version_shape = shape(Purpose), shape(NoticeVersion)
    versions_of_brand = (
        f"FROM {_version} nv JOIN {_notice} n ON n.id = nv.notice_id "
        "WHERE n.brand_id = %s AND nv.public_id = ANY(%s::varchar[])"
    )
    purposes_sql = (
        f"SELECT {purpose_shape.columns('p')} FROM {_purpose} p WHERE p.brand_id = %s "  # noqa: S608
        f"AND (p.slug = ANY(%s::varchar[]) OR p.id IN (SELECT n.purpose_id {versions_of_brand}))"
    )
    versions_sql = f"SELECT {version_shape.columns('nv')}, n.purpose_id {versions_of_brand}"
    return [
        (purposes_sql, [brand_id, purpose_slugs, brand_id, notice_version_ids]),
        (versions_sql, [brand_id, notice_version_ids]),
    ]


def decisions_found(
    purpose_rows: list[tuple[Any, ...]], version_rows: list[tuple[Any, ...]]
) -> tuple[dict[str, Purpose], dict[str, tuple[NoticeVersion, int]]]:
    """The purposes by slug, and the notice versions by public id with their purpose's id."""
    purpose_shape, version_shape = shape(Purpose), shape(NoticeVersion)
    purposes = {p.slug: p for p in map(purpose_shape.build, purpose_rows)}
    versions = {}
    for row in version_rows:
        version = version_shape.build(row)
        versions[version.public_id] = (version, row[version_shape.width])
    return purposes, versions


def purpose_exists(*, brand_id: int, slug: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT 1 FROM {_purpose} WHERE brand_id = %s AND slug = %s", [brand_id, slug])  # noqa: S608
        return cursor.fetchone() is not None


# The projection's key: an upsert keeps these and takes every other column from the new event.
_STATE_KEY = ("brand_id", "contact_id", "purpose_id")


def _rank(table: str) -> str:
    # consent.ledger.supersedes in SQL: latest occurred_at, then withdrawal over grant, then
    # the later event. Row values compare left to right.
    withdrawn = f"CASE WHEN {table}.decision = 'withdrawn' THEN 1 ELSE 0 END"
    return f"({table}.occurred_at, {withdrawn}, {table}.event_sequence)"


# The projection's columns the ledger row already carries, by the event field each comes from:
# the upsert selects them from the event's own INSERT … RETURNING, so each value travels once
# (which also keeps ledger_append's statement under psycopg's 50 parameters for caching its
# parsing). A ConsentState column the event lacks is sent as a parameter of its own.
_STATE_RENAMED = {"event_id": "id", "event_sequence": "sequence"}


@cache
def _state_from_event() -> dict[str, str]:
    event_columns = {f.attname: f.column for f in ConsentEvent._meta.concrete_fields}
    quote = connection.ops.quote_name
    return {
        f.attname: f"ev.{quote(event_columns[source])}"
        for f in ConsentState._meta.concrete_fields
        if (source := _STATE_RENAMED.get(f.attname, f.attname)) in event_columns and not f.primary_key
    }


def _state_row(event: ConsentEvent, now: datetime) -> tuple[str, list[Any]]:
    """The upsert that points ConsentState at `event` (inserted by the CTE `ev`, which RETURNs
    every column) if it supersedes the current one, RETURNING a row only when the state moved.
    Every column comes from the model."""
    state = ConsentState(brand_id=event.brand_id, updated_at=now)
    given: dict[str, tuple[str, list[object]]] = {
        name: (sql, []) for name, sql in _state_from_event().items()
    }
    into, params = insert_parts(state, given=given)
    return _upsert_sql(into), params


@cache
def _upsert_sql(into: str) -> str:
    quote = connection.ops.quote_name
    head, values = into.split(" VALUES ")
    updates = ", ".join(
        f"{quote(f.column)} = excluded.{quote(f.column)}"
        for f in ConsentState._meta.concrete_fields
        if not f.primary_key and f.attname not in _STATE_KEY
    )
    return (
        f"INSERT INTO {head} SELECT {values[1:-1]} FROM ev "  # noqa: S608 (names from the models)
        f"ON CONFLICT (contact_id, purpose_id) DO UPDATE SET {updates} "
        f"WHERE {_rank('excluded')} > {_rank(_state)} RETURNING id"
    )


def ledger_append(
    *,
    contact: Contact,
    event: ConsentEvent,
    evidence: ConsentEvidence,
    announcement: Event,
    now: datetime,
) -> bool:
    """Write the event and its evidence, move the projection if the event supersedes it,
    write the outbox `announcement` only if it moved, and advance the contact's chain head.
    True if the projection moved.

    That is one statement (data-modifying CTEs), so a write costs three round trips with the
    lock and COMMIT.
    """
    upsert, upsert_params = _state_row(event, now)
    event_into, event_params = insert_parts(event)
    evidence_into, evidence_params = insert_parts(evidence)
    outbox_into, outbox_params = insert_parts(announcement)
    outbox_into, outbox_values = outbox_into.split(" VALUES ")
    sql = (
        f"WITH ev AS (INSERT INTO {event_into} RETURNING *), "  # noqa: S608 (names from the models)
        f"evd AS (INSERT INTO {evidence_into}), "
        f"st AS ({upsert}), "
        f"ob AS (INSERT INTO {outbox_into} SELECT {outbox_values.strip('()')} "
        "WHERE EXISTS (SELECT 1 FROM st) RETURNING id) "
        f"UPDATE {_contact} SET ledger_sequence = %s, ledger_head = %s, "
        "event_sequence = event_sequence + (SELECT count(*) FROM ob) WHERE id = %s "
        "RETURNING (SELECT id FROM ob)"
    )
    params = [
        *event_params,
        *evidence_params,
        *upsert_params,
        *outbox_params,
        event.sequence,
        event.hash,
        contact.pk,
    ]
    # Prepared (select_one binds server-side): PostgreSQL parses and plans this statement once
    # per connection instead of on every write.
    row = select_one(sql, params)  # the contact is locked: its UPDATE returns one row
    outbox_id = row[0] if row is not None else None
    if outbox_id is not None:
        announcement.pk = outbox_id
        announcement._state.adding = False
        events_announce(brand_id=announcement.brand_id)
    return outbox_id is not None
