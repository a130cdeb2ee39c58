"""Hand-written SQL for what every preference write and every view of the hosted page reads.

A preference change locks the contact and reads its snapshot (topics with their purposes,
subscriptions, consent states, latest withdrawals, channel opt-outs); the preference centre
reads the same snapshot plus the active holds and the purposes with their notices. Through the
ORM that is six to ten queries, each costing more to build than PostgreSQL takes to answer it.
Here the contact's rows come back as JSON columns of one statement (`_contact_json`), the
brand's configuration is remembered per process, and `config.db.select_many` sends what is
left in one round trip. Column lists and the reading of every value come from the models
(`config.db.Shape`), so a new field needs no edit here. The rows become the same model
instances the ORM would have built.

Writing the outbox after a change (`outbox_append`) is one statement as well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from brands.models import Brand
from config.db import insert_parts, select_many, select_one, shape
from consent.models import ConsentEvent, ConsentState, Contact, Decision, Notice, NoticeVersion, Purpose
from preferences.centre_parts import centre_parts_columns
from preferences.models import ChannelOptOut, Hold, PendingUnsubscribe, Subscription, Topic
from sync.models import Event
from sync.outbox.listeners import events_announce

Statement = tuple[str, list[Any]]

_brand = Brand._meta.db_table
_contact = Contact._meta.db_table
_topic = Topic._meta.db_table
_purpose = Purpose._meta.db_table
_subscription = Subscription._meta.db_table
_state = ConsentState._meta.db_table
_event = ConsentEvent._meta.db_table
_opt_out = ChannelOptOut._meta.db_table
_hold = Hold._meta.db_table
_hold_topics = Hold.topics.through._meta.db_table
_pending_unsubscribe = PendingUnsubscribe._meta.db_table
_notice = Notice._meta.db_table
_version = NoticeVersion._meta.db_table


@dataclass
class SnapshotRows:
    """What `preferences.selectors.PreferencesSnapshot` is made of, as model instances."""

    topics: list[Topic]
    rows: dict[tuple[int, str], Subscription]
    states: dict[int, ConsentState]
    last_withdrawn: dict[int, datetime]
    opt_outs: dict[str, ChannelOptOut]
    # One-click unsubscribes accepted and not yet applied: (topic id, or None for every topic
    # on the channel, channel).
    unsubscribes_accepted: frozenset[tuple[int | None, str]] = frozenset()


def _topics_statement(brand_id: int) -> Statement:
    topic, purpose = shape(Topic), shape(Purpose)
    return (
        f"SELECT {topic.columns('t')}, {purpose.columns('p')}, {purpose.columns('sp')} "  # noqa: S608
        f"FROM {_topic} t LEFT JOIN {_purpose} p ON p.id = t.purpose_id "
        f"LEFT JOIN {_purpose} sp ON sp.id = t.sms_purpose_id "
        "WHERE t.brand_id = %s ORDER BY t.position, t.slug",
        [brand_id],
    )


def _topics_build(rows: list[tuple[Any, ...]]) -> list[Topic]:
    topic_shape, purpose_shape = shape(Topic), shape(Purpose)
    topics = []
    for row in rows:
        topic = topic_shape.build(row)
        Topic.purpose.field.set_cached_value(topic, purpose_shape.build(row, topic_shape.width))
        sms_purpose = purpose_shape.build(row, topic_shape.width + purpose_shape.width)
        Topic.sms_purpose.field.set_cached_value(topic, sms_purpose)
        topics.append(topic)
    return topics


def _contact_build(topics: list[Topic], results: Sequence[Sequence[Sequence[Any]]]) -> SnapshotRows:
    """From the first four of _contact_json's columns (decoded)."""
    subscription_rows, state_rows, withdrawn_rows, opt_out_rows = results
    subscription, state, opt_out = shape(Subscription), shape(ConsentState), shape(ChannelOptOut)
    rows = {(row.topic_id, row.channel): row for row in map(subscription.build_json, subscription_rows)}
    states = {found.purpose_id: found for found in map(state.build_json, state_rows)}
    event = shape(ConsentEvent)
    last_withdrawn = {purpose_id: event.load_text("occurred_at", at) for purpose_id, at in withdrawn_rows}
    opt_outs = {found.channel: found for found in map(opt_out.build_json, opt_out_rows)}
    return SnapshotRows(
        topics=topics, rows=rows, states=states, last_withdrawn=last_withdrawn, opt_outs=opt_outs
    )


def snapshot_rows(*, contact: Contact) -> SnapshotRows:
    """The contact's snapshot: one round trip."""
    return centre_rows(contact=contact, now=timezone.now()).snapshot


def contact_lock_with_snapshot(
    *, brand_id: int, external_id: str
) -> tuple[Contact | None, SnapshotRows | None]:
    """Lock the brand's contact (until the transaction ends) and read its snapshot after the
    lock is held, in one round trip. (None, None) if there is no such contact. The caller runs
    inside a transaction."""
    key, now = [brand_id, external_id], timezone.now()
    results = select_many(
        [
            (
                f"SELECT {shape(Contact).columns('c')} FROM {_contact} c "  # noqa: S608
                "WHERE c.brand_id = %s AND c.external_id = %s FOR UPDATE",
                key,
            ),
            *_centre_statements("c.brand_id = %s AND c.external_id = %s", key, brand_id, now),
        ]
    )
    if not results[0]:
        return None, None
    return shape(Contact).build(results[0][0]), _centre_build(results[1:], brand_id, now).snapshot


# --- The hosted pages ------------------------------------------------------------------------


def brand_by_slug(*, slug: str) -> Brand | None:
    row = select_one(f"SELECT {shape(Brand).columns('b')} FROM {_brand} b WHERE b.slug = %s", [slug])  # noqa: S608
    return shape(Brand).build(row) if row else None


def _brand_and_contact_statement(
    slug: str, contact_id: int, also: tuple[str, list[Any]] | None = None
) -> Statement:
    """The brand and its contact (unless erased); `also`: more columns (SQL, params) that may
    name the contact as `c`."""
    brand, contact = shape(Brand), shape(Contact)
    more, more_params = (f", {also[0]}", also[1]) if also else ("", [])
    return (
        f"SELECT {brand.columns('b')}, {contact.columns('c')}{more} FROM {_brand} b "  # noqa: S608
        f"LEFT JOIN {_contact} c ON c.brand_id = b.id AND c.id = %s AND c.erased_at IS NULL "
        "WHERE b.slug = %s",
        [*more_params, contact_id, slug],
    )


def _brand_and_contact_build(rows: list[tuple[Any, ...]]) -> tuple[Brand | None, Contact | None]:
    if not rows:
        return None, None
    brand = shape(Brand)
    return brand.build(rows[0]), shape(Contact).build(rows[0], brand.width)


def brand_and_contact(*, slug: str, contact_id: int) -> tuple[Brand | None, Contact | None]:
    """The brand with this slug, and its contact with this id unless erased."""
    return _brand_and_contact_build(select_many([_brand_and_contact_statement(slug, contact_id)])[0])


def contact_live(*, brand_id: int, contact_id: int) -> Contact | None:
    """The brand's contact with this id, unless erased."""
    row = select_one(
        f"SELECT {shape(Contact).columns('c')} FROM {_contact} c "  # noqa: S608
        "WHERE c.brand_id = %s AND c.id = %s AND c.erased_at IS NULL",
        [brand_id, contact_id],
    )
    return shape(Contact).build(row) if row else None


def topic_with_purpose(*, brand_id: int, topic_id: int) -> Topic | None:
    topic, purpose = shape(Topic), shape(Purpose)
    row = select_one(
        f"SELECT {topic.columns('t')}, {purpose.columns('p')} FROM {_topic} t "  # noqa: S608
        f"LEFT JOIN {_purpose} p ON p.id = t.purpose_id WHERE t.brand_id = %s AND t.id = %s",
        [brand_id, topic_id],
    )
    if row is None:
        return None
    found = topic.build(row)
    Topic.purpose.field.set_cached_value(found, purpose.build(row, topic.width))
    return found


# --- The preference centre ---------------------------------------------------------------------


@dataclass
class PurposeRows:
    purpose: Purpose
    versions: list[NoticeVersion]  # of its notice, by language, newest version first


@dataclass
class CentreRows:
    snapshot: SnapshotRows
    holds: list[Hold]  # active, soonest end first, their topics prefetched
    purposes: list[PurposeRows]  # the brand's, by slug
    now: datetime  # what "active" was read against
    parts: tuple[Any, ...] = ()  # the values of preferences.centre_parts' columns, in order


# The brand's configuration (topics with their purposes; purposes with their notices and
# versions) changes rarely and is the same for every contact, so each process remembers it under
# the brand's config_stamp, which database triggers change with it in the same transaction
# (preferences/migrations/_config_triggers.py). A page reads the stamp with the contact's rows and
# reads the configuration only when the stamp is not the one remembered. The instances are
# shared between requests: nothing may change them.


@dataclass(frozen=True)
class BrandConfig:
    stamp: int
    topics: list[Topic]  # by position and slug, each with its purpose
    purposes: list[PurposeRows]


_configs: dict[int, BrandConfig] = {}  # brand id → its configuration
_CONFIGS_MAX = 1000


def brand_configs_forget() -> None:
    _configs.clear()


def _config_statements(brand_id: int) -> list[Statement]:
    purpose, notice, version = shape(Purpose), shape(Notice), shape(NoticeVersion)
    return [
        _topics_statement(brand_id),
        (  # one row per notice version (one row, version NULL, for a purpose without any)
            f"SELECT {purpose.columns('p')}, {notice.columns('n')}, {version.columns('v')} "  # noqa: S608
            f"FROM {_purpose} p LEFT JOIN {_notice} n ON n.purpose_id = p.id "
            f"LEFT JOIN {_version} v ON v.notice_id = n.id "
            "WHERE p.brand_id = %s ORDER BY p.slug, v.language, v.version DESC",
            [brand_id],
        ),
    ]


def _config_build(brand_id: int, stamp: int, results: Sequence[list[tuple[Any, ...]]]) -> BrandConfig:
    purpose, notice, version = shape(Purpose), shape(Notice), shape(NoticeVersion)
    topic_rows, purpose_rows = results
    purposes: list[PurposeRows] = []
    versions_at = purpose.width + notice.width
    for row in purpose_rows:
        if not purposes or purposes[-1].purpose.pk != row[purpose.pk_index]:
            item, its_notice = purpose.build(row), notice.build(row, purpose.width)
            if its_notice is not None:
                Purpose.notice.related.set_cached_value(item, its_notice)
            purposes.append(PurposeRows(purpose=item, versions=[]))
        found = version.build(row, versions_at)
        if found is not None:
            purposes[-1].versions.append(found)
    config = BrandConfig(stamp=stamp, topics=_topics_build(topic_rows), purposes=purposes)
    if len(_configs) >= _CONFIGS_MAX:
        _configs.clear()
    # The stamp was read before the rows: if they changed in between, the stamp read next time
    # differs from this one and they are read again.
    _configs[brand_id] = config
    return config


def _stamp_statement(brand_id: int) -> Statement:
    return (f"SELECT b.config_stamp FROM {_brand} b WHERE b.id = %s", [brand_id])  # noqa: S608


def _config_read(brand_id: int) -> BrandConfig:
    results = select_many([_stamp_statement(brand_id), *_config_statements(brand_id)])
    return _config_build(brand_id, results[0][0][0] if results[0] else 0, results[1:])


def _holds_build(rows: Sequence[Sequence[Any]], topics: list[Topic]) -> list[Hold]:
    """From _contact_json's last column: one row per hold and topic (one row, topic NULL, for a
    hold on every topic)."""
    hold = shape(Hold)
    topic_ids: dict[int, set[int]] = {}
    holds: list[Hold] = []
    last = None  # the current hold's id, as text
    for row in rows:
        if row[hold.pk_index] != last:
            last = row[hold.pk_index]
            holds.append(hold.build_json(row))
            topic_ids[holds[-1].pk] = set()
        if row[hold.width] is not None:
            topic_ids[holds[-1].pk].add(row[hold.width])
    for instance in holds:  # its topics, from the brand's (in the same order)
        prefetched = Topic.objects.all()
        prefetched._result_cache = [t for t in topics if t.pk in topic_ids[instance.pk]]
        prefetched._prefetch_done = True  # type: ignore[attr-defined]
        instance._prefetched_objects_cache = {"topics": prefetched}  # type: ignore[attr-defined]
    return holds


def _config_for(brand_id: int, stamp: int, read: Sequence[list[tuple[Any, ...]]]) -> BrandConfig:
    """The brand's configuration: from `read` (its statements' rows) when they were sent along,
    else as remembered if `stamp` is still its stamp, else read now (it changed)."""
    if read:
        return _config_build(brand_id, stamp, read)
    remembered = _configs.get(brand_id)
    return remembered if remembered is not None and remembered.stamp == stamp else _config_read(brand_id)


def _centre_assemble(
    contact_columns: Sequence[Any], config: BrandConfig, now: datetime, part_values: Sequence[Any] = ()
) -> CentreRows:
    """From _contact_json's six columns (decoded), the brand's configuration and the values of
    the centre parts' columns."""
    parts = [value or [] for value in contact_columns]
    snapshot = _contact_build(config.topics, parts[:4])
    snapshot.unsubscribes_accepted = frozenset((topic_id, channel) for topic_id, channel in parts[5])
    return CentreRows(
        snapshot=snapshot,
        holds=_holds_build(parts[4], config.topics),
        purposes=config.purposes,
        now=now,
        parts=tuple(part_values),
    )


def _with_parts(columns: tuple[str, list[Any]]) -> tuple[str, list[Any], int]:
    """_contact_json's columns and the centre parts' (preferences.centre_parts), and how many
    of the latter: what the centre shows in one statement."""
    sql, params = columns
    more, more_params = centre_parts_columns()
    return ", ".join([sql, *more]), [*params, *more_params], len(more)


def _centre_statements(
    where: str, params: list[Any], brand_id: int, now: datetime, *, parts: bool = False
) -> list[Statement]:
    """The brand's config_stamp and _contact_json for the contact `where` picks (as `c`), with
    the centre parts' columns if `parts`, then, unless remembered, the brand's configuration
    (2 statements)."""
    columns, column_params = _contact_json("c.id", now)
    if parts:
        columns, column_params, _count = _with_parts((columns, column_params))
    return [
        (
            f"SELECT b.config_stamp, {columns} FROM {_contact} c "  # noqa: S608
            f"JOIN {_brand} b ON b.id = c.brand_id WHERE {where}",
            [*column_params, *params],
        ),
        *(_config_statements(brand_id) if brand_id not in _configs else []),
    ]


def _centre_build(results: Sequence[list[tuple[Any, ...]]], brand_id: int, now: datetime) -> CentreRows:
    """From _centre_statements' rows."""
    row = results[0][0]
    config = _config_for(brand_id, row[0], results[1:])
    return _centre_assemble(row[1:7], config, now, row[7:])


def centre_rows(*, contact: Contact, now: datetime) -> CentreRows:
    """Everything the preference centre reads, in one round trip (two when the brand's
    configuration changed since this process remembered it): the snapshot, the active holds
    with their topics, the brand's purposes with their notice versions, and what the centre's
    parts read (preferences.centre_parts)."""
    statements = _centre_statements("c.id = %s", [contact.pk], contact.brand_id, now, parts=True)
    return _centre_build(select_many(statements), contact.brand_id, now)


def _contact_json(contact_sql: str, now: datetime) -> tuple[str, list[Any]]:
    """The contact's side of the snapshot, its active holds and its accepted one-click
    unsubscribes not yet applied (read as `pending`) as six JSON columns, for one
    statement to carry what would take six: each statement costs more to send, run and read
    back than these rows take to encode. `contact_sql` names the contact's id (`c.id`)."""
    subscription, state, opt_out, hold = (
        shape(Subscription),
        shape(ConsentState),
        shape(ChannelOptOut),
        shape(Hold),
    )
    sql = (
        f"(SELECT json_agg({subscription.json_array('s')}) FROM {_subscription} s "  # noqa: S608
        f"WHERE s.contact_id = {contact_sql}), "
        f"(SELECT json_agg({state.json_array('s')}) FROM {_state} s WHERE s.contact_id = {contact_sql}), "
        "(SELECT json_agg(json_build_array(w.purpose_id, format('%%s', w.at))) FROM ("
        f"SELECT e.purpose_id, MAX(e.occurred_at) AS at FROM {_event} e "
        f"WHERE e.contact_id = {contact_sql} AND e.decision = %s GROUP BY e.purpose_id) w), "
        f"(SELECT json_agg({opt_out.json_array('o')}) FROM {_opt_out} o WHERE o.contact_id = {contact_sql}), "
        f"(SELECT json_agg({hold.json_array('h', 'ht.topic_id')} ORDER BY h.until, h.id) FROM {_hold} h "
        f"LEFT JOIN {_hold_topics} ht ON ht.hold_id = h.id "
        f"WHERE h.contact_id = {contact_sql} AND h.ended_at IS NULL AND h.until > %s), "
        f"(SELECT json_agg(json_build_array(u.topic_id, u.channel)) FROM {_pending_unsubscribe} u "
        f"WHERE u.contact_id = {contact_sql})"
    )
    return sql, [Decision.WITHDRAWN.value, connection.ops.adapt_datetimefield_value(now)]


def brand_contact_and_centre(
    *, slug: str, brand_id: int, contact_id: int, now: datetime
) -> tuple[Brand | None, Contact | None, CentreRows | None]:
    """`brand_and_contact` and, when the contact is that brand's (the session names both), its
    `centre_rows`: everything a view of the centre reads, in one statement (two more when the
    brand's configuration is not remembered), one round trip."""
    columns, params, count = _with_parts(_contact_json("c.id", now))
    statement = _brand_and_contact_statement(slug, contact_id, also=(columns, params))
    remembered = brand_id in _configs
    results = select_many([statement, *([] if remembered else _config_statements(brand_id))])
    brand, contact = _brand_and_contact_build(results[0])
    if brand is None or contact is None or brand.pk != brand_id:
        return brand, contact, None
    config = _config_for(brand_id, brand.config_stamp, results[1:])
    json_at = shape(Brand).width + shape(Contact).width
    row = results[0][0]
    return (
        brand,
        contact,
        _centre_assemble(row[json_at : json_at + 6], config, now, row[json_at + 6 :][:count]),
    )


# --- The outbox --------------------------------------------------------------------------------


def outbox_append(*, contact: Contact, events: Sequence[Event]) -> None:
    """Insert the outbox `events` (numbered by the caller, who holds the contact's lock) and
    move the contact's outbox sequence to the last one: one statement on PostgreSQL."""
    if not events:
        return
    events_announce(brand_id=events[0].brand_id)  # after COMMIT: webhooks fan out
    sequence = events[-1].sequence
    ctes: list[str] = []
    params: list[Any] = []
    for index, event in enumerate(events):
        into, values = insert_parts(event)
        ctes.append(f"o{index} AS (INSERT INTO {into} RETURNING id)")
        params += values
    returning = ", ".join(f"(SELECT id FROM o{index})" for index in range(len(events)))  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH {', '.join(ctes)} UPDATE {_contact} SET event_sequence = %s WHERE id = %s "  # noqa: S608
            f"RETURNING {returning}",
            [*params, sequence, contact.pk],
        )
        ids = cursor.fetchone()
    for event, pk in zip(events, ids, strict=True):
        event.pk = pk
        event._state.adding = False
        event._state.db = connection.alias
