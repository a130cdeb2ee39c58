"""Seeding the bench database. Runs in-process with bench.settings already set up."""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.db import connection, models, transaction
from django.utils import timezone

from bench.ceiling.models import Row
from brands.audit import Actor
from brands.models import Brand, Scope
from brands.services import api_key_create, brand_create
from consent.identifiers import email_hmac, normalise_email
from consent.ledger import event_hash, evidence_digest, iso_utc
from consent.models import (
    GENESIS_HASH,
    ConsentEvent,
    ConsentEvidence,
    ConsentState,
    Contact,
    Decision,
    Method,
    Purpose,
)
from consent.services import notice_version_publish, purpose_create
from consent.verification import ledger_verify
from preferences.models import Channel, Subscription, SubscriptionStatus, Topic
from preferences.session import cookie_name, session_start, session_write
from preferences.tokens import LinkKind, link_path, token_issue
from preferences.topics import topic_create
from sync.models import Event, EventType

BRAND_SLUG = "bench"
PURPOSE_SLUG = "newsletter"
TOPIC_SLUG = "news"
TOPIC_CHANNEL = Channel.EMAIL.value


@dataclass(frozen=True)
class Seeded:
    brand_id: int
    raw_key: str
    purpose_id: int
    purpose_slug: str
    notice_version_id: int
    notice_version_public_id: str
    contacts: int
    ceiling_rows: int
    seconds: float


def external_id(number: int) -> str:
    return f"c{number}"


def seed_base(*, contacts: int, ceiling_rows: int, log: Callable[[str], None]) -> Seeded:
    """A brand, an API key, a purpose with a notice version (through the real services), then
    `contacts` contacts each with one granted consent, and `ceiling_rows` rows for the read
    ceiling.

    The consents are written in bulk (10,000 trips through consent_record would take about
    a minute) but exactly as consent_record writes them: a genuine chain of one event per
    contact with its evidence row, the ConsentState, the outbox Event and the contact's head.
    ledger_verify checks them before the load starts.
    """
    started = time.monotonic()
    brand, _ = brand_create(
        actor=Actor.system("bench"), slug=BRAND_SLUG, name="Bench brand", jurisdiction="DE"
    )
    issued = api_key_create(
        actor=Actor.system("bench"),
        brand=brand,
        scopes=[Scope.CONSENT_READ, Scope.CONSENT_WRITE],
        name="bench",
    )
    purpose = purpose_create(
        actor=Actor.system("bench"),
        brand=brand,
        slug=PURPOSE_SLUG,
        name="Newsletter",
        description="News about our products, weekly.",
    )
    notice = notice_version_publish(
        actor=Actor.system("bench"),
        purpose=purpose,
        language="en",
        title="Our newsletter",
        text="We would like to email you our weekly newsletter. You can unsubscribe at any time.",
    )
    with transaction.atomic():
        people = []
        for number in range(1, contacts + 1):
            email = normalise_email(f"person{number}@example.com")
            people.append(
                Contact(
                    brand=brand, external_id=external_id(number), email=email, email_hmac=email_hmac(email)
                )
            )
        people = Contact.objects.bulk_create(people, batch_size=2000)
        now = timezone.now()
        events, evidences, states, outbox = [], [], [], []
        for contact in people:
            evidence = ConsentEvidence(salt=secrets.token_hex(16), ip="203.0.113.0", user_agent="bench seed")
            event = ConsentEvent(
                brand=brand,
                contact=contact,
                sequence=1,
                purpose=purpose,
                decision=Decision.GRANTED,
                notice_version=notice,
                consent_type=purpose.consent_type,
                method=Method.IMPORT,
                actor="subject",
                recorded_by=f"api_key:{issued.api_key.prefix}",
                jurisdiction=contact.jurisdiction or brand.jurisdiction,
                occurred_at=now,
                recorded_at=now,
                expires_at=None,  # express consent, no lifetime: does not expire
                evidence_digest=evidence_digest(evidence),
                prev_hash=GENESIS_HASH,
            )
            event.hash = event_hash(event, notice_hash=notice.content_hash, purpose_slug=purpose.slug)
            evidence.event = event
            events.append(event)
            evidences.append(evidence)
            states.append(
                ConsentState(
                    brand=brand,
                    contact=contact,
                    purpose=purpose,
                    decision=event.decision,
                    event=event,
                    event_sequence=event.sequence,
                    notice_version=notice,
                    occurred_at=now,
                    expires_at=None,
                    updated_at=now,
                )
            )
            data = {
                "purpose": purpose.slug,
                "state": event.decision,
                "valid_for_processing": True,
                "event_id": str(event.id),
                "notice_version": notice.public_id,
                "occurred_at": iso_utc(now),
                "expires_at": None,
            }
            outbox.append(
                Event(
                    brand=brand,
                    type=EventType.CONSENT_GRANTED,
                    contact_ref=contact.pk,
                    subject=contact.external_id,
                    sequence=1,
                    data={"contact": contact.external_id, "sequence": 1, **data},
                    occurred_at=now,
                )
            )
        ConsentEvent.objects.bulk_create(events, batch_size=2000)
        ConsentEvidence.objects.bulk_create(evidences, batch_size=2000)
        ConsentState.objects.bulk_create(states, batch_size=2000)
        Event.objects.bulk_create(outbox, batch_size=2000)
        with connection.cursor() as cursor:
            cursor.execute(
                """UPDATE consent_contact AS c
                   SET ledger_sequence = e.sequence, ledger_head = e.hash, event_sequence = 1
                   FROM consent_consentevent AS e WHERE e.contact_id = c.id AND c.brand_id = %s""",
                [brand.pk],
            )
    log(f"  {contacts:,} contacts with one granted consent each")
    report = ledger_verify(brand=brand)
    if not report.ok:
        raise RuntimeError(f"the seeded ledger does not verify: {report.problems[0]}")
    Row.objects.bulk_create([Row(value=f"row {n}") for n in range(1, ceiling_rows + 1)], batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return Seeded(
        brand_id=brand.pk,
        raw_key=issued.raw_key,
        purpose_id=purpose.pk,
        purpose_slug=purpose.slug,
        notice_version_id=notice.pk,
        notice_version_public_id=notice.public_id,
        contacts=contacts,
        ceiling_rows=ceiling_rows,
        seconds=round(time.monotonic() - started, 1),
    )


# --- The hosted pages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SeededPages:
    topic_id: int
    topic_slug: str
    subscriptions: int
    seconds: float


def seed_pages(seeded: Seeded) -> SeededPages:
    """A topic bound to the bench purpose (email and SMS, weekly or monthly), created through
    the real service, and every contact subscribed to it by email.

    The subscriptions are written in bulk, but exactly as `preferences_update` writes a
    subscribe while the purpose is already granted (as it is for every seeded contact): the
    Subscription row (default cadence, no notice version, no double opt-in request), one
    `preferences.updated` outbox Event naming the one topic and channel that changed, and the
    contact's next outbox sequence.
    """
    started = time.monotonic()
    brand = Brand.objects.get(pk=seeded.brand_id)
    topic = topic_create(
        actor=Actor.system("bench"),
        brand=brand,
        slug=TOPIC_SLUG,
        name="News",
        description="What is new, by email or text message.",
        purpose=Purpose.objects.get(pk=seeded.purpose_id),
        channels=[Channel.EMAIL, Channel.SMS],
        cadence_options=["weekly", "monthly"],
    )
    with transaction.atomic():
        contacts = list(
            Contact.objects.select_for_update()
            .filter(brand=brand, erased_at__isnull=True)
            .only("id", "brand_id", "external_id", "event_sequence")
            .order_by("id")
        )
        now = timezone.now()
        rows, outbox = [], []
        for contact in contacts:
            rows.append(
                Subscription(
                    brand=brand,
                    contact=contact,
                    topic=topic,
                    channel=TOPIC_CHANNEL,
                    status=SubscriptionStatus.SUBSCRIBED,
                    cadence=topic.default_cadence,
                    occurred_at=now,
                    notice_version=None,
                    confirmation_requested_at=None,
                )
            )
            sequence = contact.event_sequence + 1
            outbox.append(
                Event(
                    brand=brand,
                    type=EventType.PREFERENCES_UPDATED,
                    contact_ref=contact.pk,
                    subject=contact.external_id,
                    sequence=sequence,
                    data={
                        "contact": contact.external_id,
                        "sequence": sequence,
                        "subscriptions": [
                            {
                                "topic": topic.slug,
                                "channel": TOPIC_CHANNEL,
                                "status": SubscriptionStatus.SUBSCRIBED.value,
                                "cadence": topic.default_cadence,
                            }
                        ],
                        "unsubscribed_all": {},
                        "occurred_at": iso_utc(now),
                    },
                    occurred_at=now,
                )
            )
        Subscription.objects.bulk_create(rows, batch_size=2000)
        Event.objects.bulk_create(outbox, batch_size=2000)
        Contact.objects.filter(pk__in=[contact.pk for contact in contacts]).update(
            event_sequence=models.F("event_sequence") + 1
        )
    with connection.cursor() as cursor:
        tables = (Subscription._meta.db_table, Event._meta.db_table, Contact._meta.db_table)
        cursor.execute(f"VACUUM ANALYZE {', '.join(tables)}")
    return SeededPages(
        topic_id=topic.pk,
        topic_slug=topic.slug,
        subscriptions=len(rows),
        seconds=round(time.monotonic() - started, 1),
    )


def _contacts(seeded: Seeded, numbers: list[int]) -> list[Contact]:
    by_external_id = {
        contact.external_id: contact
        for contact in Contact.objects.filter(
            brand_id=seeded.brand_id, external_id__in=[external_id(number) for number in numbers]
        ).only("id", "brand_id", "external_id")
    }
    return [by_external_id[external_id(number)] for number in numbers]


def unsubscribe_paths(seeded: Seeded, pages: SeededPages, numbers: list[int]) -> list[str]:
    """The one-click unsubscribe path (`/p/<brand>/u/<token>`) of the bench topic by email for
    each contact, with tokens issued by the project's own code (so signed with SECRET_KEY)."""
    brand = Brand.objects.get(pk=seeded.brand_id)
    topic = Topic.objects.get(pk=pages.topic_id)
    return [
        link_path(
            kind=LinkKind.UNSUBSCRIBE,
            brand=brand,
            token=token_issue(
                kind=LinkKind.UNSUBSCRIBE, brand=brand, contact=contact, topic=topic, channel=TOPIC_CHANNEL
            ),
        )
        for contact in _contacts(seeded, numbers)
    ]


def session_cookies(seeded: Seeded, numbers: list[int]) -> list[str]:
    """`name=value` of the preference centre's session cookie for each contact, as the swap of
    a manage link issues it (preferences.session)."""
    from django.http import HttpResponse

    brand = Brand.objects.get(pk=seeded.brand_id)
    cookies = []
    for contact in _contacts(seeded, numbers):
        response = HttpResponse()
        session_write(response, session_start(brand=brand, contact=contact))
        cookies.append(f"{cookie_name()}={response.cookies[cookie_name()].value}")
    return cookies


def one_click_drain() -> int:
    """Apply every accepted one-click unsubscribe, as the worker would; how many there were."""
    from preferences.one_click import one_click_apply_pending

    total = 0
    while handled := one_click_apply_pending(limit=1000):
        total += handled
    return total


def one_click_writes(seeded: Seeded, *, exclude: list[int]) -> int:
    """Withdrawals recorded by one-click unsubscribes (one per request that did the real write),
    except those of the contacts numbered in `exclude`."""
    return (
        ConsentEvent.objects.filter(brand_id=seeded.brand_id, method=Method.ONE_CLICK)
        .exclude(contact__external_id__in=[external_id(number) for number in exclude])
        .count()
    )


def ledger_check(seeded: Seeded) -> dict[str, Any]:
    """Run the project's own ledger verification over the bench brand."""
    started = time.monotonic()
    report = ledger_verify(brand=Brand.objects.get(pk=seeded.brand_id))
    return {
        "ok": report.ok,
        "events": report.events,
        "contacts": report.contacts,
        "problems": report.problems[:5],
        "seconds": round(time.monotonic() - started, 1),
    }


def ledger_rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM consent_consentevent")
        return int(cursor.fetchone()[0])


FILL_SQL = """
WITH c AS (
    SELECT id, ledger_sequence, ledger_head, row_number() OVER (ORDER BY id) - 1 AS idx
    FROM consent_contact WHERE brand_id = %(brand)s
),
numbered AS (
    SELECT c.id AS contact_id, c.ledger_sequence + 1 + g / %(contacts)s AS seq, c.ledger_head, g
    FROM generate_series(%(first)s, %(last)s) AS g JOIN c ON c.idx = g %% %(contacts)s
),
events AS (
    INSERT INTO consent_consentevent (
        id, brand_id, contact_id, sequence, purpose_id, decision, notice_version_id, consent_type,
        method, actor, recorded_by, jurisdiction, occurred_at, recorded_at, expires_at,
        evidence_digest, prev_hash, hash
    )
    SELECT
        gen_random_uuid(), %(brand)s, contact_id, seq, %(purpose)s, 'granted', %(notice_version)s,
        'express', 'import', 'subject', 'bench:synthetic', 'DE',
        now() - interval '1 day' - make_interval(secs => g), now(), NULL,
        encode(sha256(convert_to('bench-evidence:' || g, 'UTF8')), 'hex'),
        CASE WHEN g < %(contacts)s THEN ledger_head
             ELSE encode(sha256(convert_to(
                 'bench-synthetic:' || contact_id || ':' || (seq - 1), 'UTF8')), 'hex')
        END,
        encode(sha256(convert_to('bench-synthetic:' || contact_id || ':' || seq, 'UTF8')), 'hex')
    FROM numbered
    RETURNING id
)
INSERT INTO consent_consentevidence ({evidence_columns})
SELECT id, {evidence_values} FROM events
"""


def _fill_sql() -> tuple[str, dict[str, Any]]:
    """FILL_SQL with every evidence column the model has (a field added later is filled with
    its default, or NULL where it may be), and the parameters for their values."""
    fields = [field for field in ConsentEvidence._meta.concrete_fields if field.column != "event_id"]
    columns = ", ".join(["event_id", *(connection.ops.quote_name(field.column) for field in fields)])
    values, params = [], {}
    for index, field in enumerate(fields):
        if field.null:
            values.append("NULL")
        else:
            values.append(f"%(evidence_{index})s")
            params[f"evidence_{index}"] = field.get_db_prep_save(field.get_default(), connection)
    sql = FILL_SQL.replace("{evidence_columns}", columns).replace("{evidence_values}", ", ".join(values))
    return sql, params


HEADS_SQL = """
UPDATE consent_contact AS c
SET ledger_sequence = last.sequence, ledger_head = last.hash
FROM (
    SELECT DISTINCT ON (contact_id) contact_id, sequence, hash
    FROM consent_consentevent WHERE brand_id = %(brand)s
    ORDER BY contact_id, sequence DESC
) AS last
WHERE last.contact_id = c.id AND (c.ledger_sequence, c.ledger_head) <> (last.sequence, last.hash)
"""

# Plain (non-constraint) indexes of the ledger tables: dropped for the bulk insert and
# rebuilt from their own definitions afterwards, which is several times faster.
SECONDARY_INDEXES_SQL = """
SELECT i.indexname, i.indexdef FROM pg_indexes AS i
WHERE i.schemaname = current_schema()
  AND i.tablename IN ('consent_consentevent', 'consent_consentevidence')
  AND NOT EXISTS (
      SELECT 1 FROM pg_constraint AS k
      WHERE k.conindid = (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass
  )
"""

FILL_PARALLELISM = 2


def _is_superuser(cursor: Any) -> bool:
    cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    row = cursor.fetchone()
    return bool(row and row[0])


def _insert_range(params: dict[str, Any], skip_fk_checks: bool) -> None:
    import psycopg

    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as conn:
        conn.execute("SET synchronous_commit TO off")
        if skip_fk_checks:
            # Superuser only: skips the per-row foreign-key triggers (all ids come from the
            # database itself). The append-only trigger only fires on UPDATE/DELETE anyway.
            conn.execute("SET session_replication_role = replica")
        sql, values = _fill_sql()
        conn.execute(sql, {**params, **values})


def fill_ledger(*, total: int, seeded: Seeded) -> dict[str, Any]:
    """Append synthetic events (and their evidence rows) until the ledger holds `total` rows.

    Bulk SQL, insert only (the ledger refuses UPDATE and DELETE). Rows are spread evenly over
    the contacts, continue each contact's sequence and prev_hash, and the contacts' ledger
    heads move to the last one, so later writes chain on. They are NOT valid chains: the
    hashes are not computed over the event fields (verify_ledger would reject them), and
    their occurred_at lies in the past, so ConsentState (what GET …/consents reads) stays.
    """
    started = time.monotonic()
    before = ledger_rows()
    needed = max(0, total - before)
    skip_fk_checks = False
    if needed:
        contacts = Contact.objects.filter(brand_id=seeded.brand_id).count()
        with connection.cursor() as cursor:
            skip_fk_checks = _is_superuser(cursor)
            cursor.execute(SECONDARY_INDEXES_SQL)
            indexes = cursor.fetchall()
            for name, _definition in indexes:
                cursor.execute(f'DROP INDEX "{name}"')
        base = {
            "brand": seeded.brand_id,
            "contacts": contacts,
            "purpose": seeded.purpose_id,
            "notice_version": seeded.notice_version_id,
        }
        step = -(-needed // FILL_PARALLELISM)
        ranges = [(first, min(first + step, needed) - 1) for first in range(0, needed, step)]
        with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
            futures = [
                pool.submit(_insert_range, {**base, "first": first, "last": last}, skip_fk_checks)
                for first, last in ranges
            ]
            for future in futures:
                future.result()
        with transaction.atomic(), connection.cursor() as cursor:
            for _name, definition in indexes:
                cursor.execute(definition)
            cursor.execute(HEADS_SQL, base)
        with connection.cursor() as cursor:
            # Now, so autovacuum does not wake up during the measurement that follows.
            cursor.execute("VACUUM ANALYZE consent_consentevent, consent_consentevidence, consent_contact")
            # So the load that follows does not pay for it; needs superuser or pg_checkpoint.
            with contextlib.suppress(Exception):
                cursor.execute("CHECKPOINT")
    return {
        "events": ledger_rows(),
        "inserted": needed,
        "seconds": round(time.monotonic() - started, 1),
        "foreign_key_checks_skipped": skip_fk_checks,
        "contacts_with_events": ConsentEvent.objects.values("contact_id").distinct().count(),
    }


# --- The changes feed ---------------------------------------------------------------------------

# One block of 8 events in 5 transactions, each transaction one contact's change as the services
# write it: a grant (1 event), a topic subscription (1), a one-click unsubscribe that withdraws
# the purpose (2), a cadence change (1), and an "unsubscribe from all email" (3).
FEED_BLOCK = 8
FEED_TRANSACTIONS_PER_BLOCK = 5

FEED_SQL = """
WITH g AS (
    SELECT g, g / 8 AS block, g %% 8 AS slot FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
),
shaped AS (
    SELECT
        g, block,
        (ARRAY[0, 1, 2, 2, 3, 4, 4, 4])[slot + 1] AS txn,      -- the transaction within the block
        (ARRAY[0, 0, 0, 1, 0, 0, 1, 2])[slot + 1] AS part,     -- the event within the transaction
        (ARRAY[1, 1, 2, 2, 1, 3, 3, 3])[slot + 1] AS size,     -- events in the transaction
        (ARRAY['consent.granted', 'preferences.updated', 'consent.withdrawn', 'preferences.updated',
               'preferences.updated', 'consent.withdrawn', 'preferences.updated',
               'contact.unsubscribed'])[slot + 1] AS type
    FROM g
),
numbered AS (
    SELECT
        s.*,
        block * 5 + txn AS k,                                           -- the transaction's number
        (block %% %(slots)s) * 5 + txn AS who,                          -- the contact's number
        (block / %(slots)s) * size + part + 1 AS seq,                   -- its sequence, per contact
        %(anchor)s::timestamptz - make_interval(secs => (%(transactions)s - (block * 5 + txn)) * 2.0)
            AS at
    FROM shaped AS s
),
filled AS (
    SELECT
        n.*,
        'feed-' || who AS subject,
        to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at_iso
    FROM numbered AS n
)
INSERT INTO sync_event (id, public_id, brand_id, type, contact_ref, subject, sequence, data, occurred_at,
                        created_at, txid)
SELECT
    %(first_id)s + g, gen_random_uuid(), %(brand)s, type, %(first_ref)s + who, subject, seq,
    jsonb_build_object('contact', subject, 'sequence', seq, 'occurred_at', at_iso) || CASE
        WHEN type = 'consent.granted' THEN jsonb_build_object(
            'purpose', %(purpose)s, 'state', 'granted', 'valid_for_processing', true,
            'event_id', gen_random_uuid()::text, 'notice_version', %(notice_version)s, 'expires_at', NULL)
        WHEN type = 'consent.withdrawn' THEN jsonb_build_object(
            'purpose', %(purpose)s, 'state', 'withdrawn', 'valid_for_processing', false,
            'event_id', gen_random_uuid()::text, 'notice_version', NULL, 'expires_at', NULL)
        WHEN type = 'contact.unsubscribed' THEN jsonb_build_object('channel', 'email', 'scope', 'all')
        WHEN txn = 1 THEN jsonb_build_object(
            'subscriptions', jsonb_build_array(jsonb_build_object(
                'topic', %(topic)s, 'channel', 'email', 'status', 'subscribed', 'cadence', 'weekly')),
            'unsubscribed_all', '{}'::jsonb)
        WHEN txn = 3 THEN jsonb_build_object(
            'subscriptions', jsonb_build_array(jsonb_build_object(
                'topic', %(topic)s, 'channel', 'email', 'status', 'subscribed', 'cadence', 'monthly')),
            'unsubscribed_all', '{}'::jsonb)
        WHEN txn = 2 THEN jsonb_build_object(
            'subscriptions', jsonb_build_array(jsonb_build_object(
                'topic', %(topic)s, 'channel', 'email', 'status', 'unsubscribed', 'cadence', NULL)),
            'unsubscribed_all', '{}'::jsonb)
        ELSE jsonb_build_object(
            'subscriptions', jsonb_build_array(
                jsonb_build_object(
                    'topic', %(topic)s, 'channel', 'email', 'status', 'unsubscribed', 'cadence', NULL),
                jsonb_build_object(
                    'topic', %(topic)s, 'channel', 'sms', 'status', 'subscribed', 'cadence', 'monthly')),
            'unsubscribed_all', jsonb_build_object('email', true))
    END,
    at, at,
    %(txid_low)s + k::bigint * %(txid_span)s / %(transactions)s
FROM filled
"""

# Non-constraint indexes of the outbox: dropped for the bulk insert, rebuilt from their own
# definitions afterwards.
EVENT_SECONDARY_INDEXES_SQL = SECONDARY_INDEXES_SQL.replace(
    "IN ('consent_consentevent', 'consent_consentevidence')", f"IN ('{Event._meta.db_table}')"
)


def feed_key(seeded: Seeded) -> str:
    """A second API key of the bench brand, with the one scope the changes feed needs."""
    issued = api_key_create(
        actor=Actor.system("bench"),
        brand=Brand.objects.get(pk=seeded.brand_id),
        scopes=[Scope.EVENTS_READ],
        name="bench feed",
    )
    return issued.raw_key


def _insert_events(params: dict[str, Any], skip_triggers: bool) -> None:
    import psycopg

    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as conn:
        conn.execute("SET synchronous_commit TO off")
        if skip_triggers:
            # Superuser only: skips the per-row feed-order trigger (sync 0003), whose only job,
            # keeping each contact's txids in sequence order, the generated rows already do.
            conn.execute("SET session_replication_role = replica")
        conn.execute(FEED_SQL, params)


def brand_events(brand_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {Event._meta.db_table} WHERE brand_id = %s", [brand_id])
        return int(cursor.fetchone()[0])


def feed_event_ids(brand_id: int, *, upto: tuple[int, int]) -> set[str]:
    """The public ids of the brand's events at or before feed position `upto` (txid, id)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT public_id::text FROM {Event._meta.db_table} "
            "WHERE brand_id = %s AND (txid, id) <= (%s, %s)",
            [brand_id, *upto],
        )
        return {row[0] for row in cursor.fetchall()}


def fill_events(*, total: int, seeded: Seeded, pages: SeededPages) -> dict[str, Any]:
    """Add `total` synthetic outbox events to the bench brand, for the changes-feed scenario.

    Bulk SQL (generate_series). The rows look like what the services write: blocks of 8 events
    in 5 transactions (a grant; a subscription; a one-click unsubscribe: withdrawal and
    preferences.updated; a cadence change; unsubscribe-all: withdrawal, preferences.updated and
    contact.unsubscribed), with the same `data` keys and values as consent_record and
    preferences_update put there. Each transaction is one contact's; every contact gets about
    ten events with increasing sequence, unique (contact_ref, sequence).

    txid: the events of one transaction share one, increasing with the transaction (and ids
    with it). The feed only returns events whose txid is below the xmin of its snapshot, and a
    contact's events must come in sequence order, so the txids are spread over [3, xmin) of
    now (interleaved with the real events, ordered with them by (txid, id)) and belong to
    contacts of their own (contact_ref after every real contact; it is not a foreign key).
    When the server has handed out fewer transaction ids than there are transactions to spread,
    neighbouring transactions share a txid (larger groups; the feed's order is unchanged).
    """
    started = time.monotonic()
    before = brand_events(seeded.brand_id)
    transactions = (total // FEED_BLOCK) * FEED_TRANSACTIONS_PER_BLOCK + [0, 1, 2, 3, 3, 4, 5, 5][
        total % FEED_BLOCK
    ]
    slots = max(1, -(-total // FEED_BLOCK) // 6)  # contacts per transaction kind: ~10 events each
    with connection.cursor() as cursor:
        skip_triggers = _is_superuser(cursor)
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {Event._meta.db_table}")
        first_id = int(cursor.fetchone()[0]) + 1
        cursor.execute("SELECT coalesce(max(id), 0) FROM consent_contact")
        first_ref = int(cursor.fetchone()[0]) + 1
        cursor.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
        xmin = int(cursor.fetchone()[0])
        cursor.execute("SELECT now()")
        anchor = cursor.fetchone()[0]
        cursor.execute(EVENT_SECONDARY_INDEXES_SQL)
        indexes = cursor.fetchall()
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    txid_low = 3  # FirstNormalTransactionId
    base = {
        "brand": seeded.brand_id,
        "slots": slots,
        "transactions": transactions,
        "anchor": anchor,
        "first_id": first_id,
        "first_ref": first_ref,
        "purpose": seeded.purpose_slug,
        "notice_version": seeded.notice_version_public_id,
        "topic": pages.topic_slug,
        "txid_low": txid_low,
        "txid_span": max(1, xmin - txid_low),  # every txid < xmin
    }
    step = -(-total // FILL_PARALLELISM)
    step += -step % FEED_BLOCK  # whole blocks per connection
    ranges = [(first, min(first + step, total) - 1) for first in range(0, total, step)]
    with ThreadPoolExecutor(max_workers=len(ranges)) as pool:
        futures = [
            pool.submit(_insert_events, {**base, "first": first, "last": last}, skip_triggers)
            for first, last in ranges
        ]
        for future in futures:
            future.result()
    inserted = time.monotonic() - started
    with transaction.atomic(), connection.cursor() as cursor:
        for _name, definition in indexes:
            cursor.execute(definition)
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT max(id) FROM sync_event))",
            [Event._meta.db_table],
        )
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {Event._meta.db_table}")
        with contextlib.suppress(Exception):
            cursor.execute("CHECKPOINT")
        cursor.execute(
            f"SELECT count(DISTINCT txid), count(DISTINCT contact_ref) FROM {Event._meta.db_table} "
            "WHERE id >= %s",
            [first_id],
        )
        distinct_txids, contacts = cursor.fetchone()
    return {
        "events_before": before,
        "inserted": total,
        "events": brand_events(seeded.brand_id),
        "transactions": int(distinct_txids),
        "contacts": int(contacts),
        "txid_range": [txid_low, xmin - 1],
        "insert_seconds": round(inserted, 1),
        "seconds": round(time.monotonic() - started, 1),
        "triggers_skipped": skip_triggers,
    }
