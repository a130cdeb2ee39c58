"""Hand-written SQL takes its columns, defaults and readings from the models (config.db), so a
new field needs no SQL edit.

A model with one field of each type Django ships goes through every path: INSERT of one row
(insert_row), INSERT of many from arrays (insert_from_arrays), the column reading (Shape.build)
and the JSON reading (Shape.build_json, what the preference centre's one statement uses); each
must give what the ORM reads back, field for field. Then real models gain a field, as the two
changes that once broke production did (a TimeField on Subscription shown on the page, a
defaulted field on Delivery), and the centre's read and the webhook fan-out's INSERT carry on.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.postgres.fields import ArrayField, DateTimeRangeField
from django.db import connection, models
from django.db.backends.postgresql.psycopg_any import DateTimeTZRange
from django.db.models.functions import Lower
from django.test.utils import isolate_apps
from django.utils import timezone

from config.db import insert_from_arrays, insert_row, select_many, shape

pytestmark = pytest.mark.django_db

UTC = dt.UTC


def _zoo_fields() -> dict[str, models.Field[Any, Any]]:
    return {
        "big": models.BigIntegerField(null=True),
        "binary": models.BinaryField(null=True),
        "boolean": models.BooleanField(null=True),
        "char": models.CharField(max_length=20, null=True),
        "date": models.DateField(null=True),
        "datetime": models.DateTimeField(null=True),
        "decimal": models.DecimalField(max_digits=12, decimal_places=4, null=True),
        "duration": models.DurationField(null=True),
        "email": models.EmailField(null=True),
        "file": models.FileField(null=True),
        "filepath": models.FilePathField(null=True),
        "floating": models.FloatField(null=True),
        "ip": models.GenericIPAddressField(null=True),
        "integer": models.IntegerField(null=True),
        "json": models.JSONField(null=True),
        "positive_big": models.PositiveBigIntegerField(null=True),
        "positive": models.PositiveIntegerField(null=True),
        "positive_small": models.PositiveSmallIntegerField(null=True),
        "slug": models.SlugField(null=True),
        "small": models.SmallIntegerField(null=True),
        "text": models.TextField(null=True),
        "time": models.TimeField(null=True),
        "url": models.URLField(null=True),
        "uuid": models.UUIDField(null=True),
        "array": ArrayField(models.IntegerField(), null=True),
        "span": DateTimeRangeField(null=True),
        # Filled by Python and by the database: present in no row below.
        "defaulted": models.PositiveSmallIntegerField(default=7),
        "db_defaulted": models.IntegerField(db_default=5),
        "generated": models.GeneratedField(
            expression=Lower("char"), output_field=models.CharField(max_length=20), db_persist=True
        ),
        "created": models.DateTimeField(auto_now_add=True),
    }


VALUES: dict[str, Any] = {
    "big": 2**62,
    "binary": b"\x00\x01\xfe",
    "boolean": True,
    "char": "Zoë",
    "date": dt.date(2026, 12, 3),
    "datetime": dt.datetime(2026, 12, 3, 13, 45, 6, 789012, tzinfo=UTC),
    "decimal": Decimal("12345678.0001"),
    "duration": dt.timedelta(days=3, hours=4, microseconds=5),
    "email": "zoe@example.com",
    "file": "files/a b.txt",
    "filepath": "files/x",
    "floating": 0.1,
    "ip": "2001:db8::1",
    "integer": -7,
    "json": {"a": [1, "two", None, {"b": 1.5}]},
    "positive_big": 2**63 - 1,
    "positive": 2**31 - 1,
    "positive_small": 32767,
    "slug": "a-slug",
    "small": -32768,
    "text": 'quotes " and \\ backslash, and a tab\t',
    "time": dt.time(23, 59, 58, 123456),
    "url": "https://example.com/?q=1",
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "array": [1, 2, 3],
    "span": DateTimeTZRange(dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2026, 2, 1, tzinfo=UTC), "[)"),
}


@pytest.fixture
def zoo() -> Iterator[type[models.Model]]:
    """The model and its table, made inside the test's transaction (rolled back after it)."""
    with isolate_apps("tests"):
        attrs: dict[str, Any] = {
            "__module__": __name__,
            "Meta": type("Meta", (), {"app_label": "tests", "db_table": "tests_field_zoo"}),
            **_zoo_fields(),
        }
        model = type("FieldZoo", (models.Model,), attrs)
        with connection.schema_editor() as editor:
            editor.create_model(model)
        yield model


def _orm_values(model: type[models.Model], pk: int) -> dict[str, Any]:
    obj = model.objects.get(pk=pk)  # type: ignore[attr-defined]
    return {f.attname: getattr(obj, f.attname) for f in model._meta.concrete_fields}


def _values(obj: models.Model) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def _comparable(values: dict[str, Any]) -> dict[str, Any]:
    # FieldFile compares by name; everything else as it is.
    return {k: (str(v) if isinstance(v, models.fields.files.FieldFile) else v) for k, v in values.items()}


@pytest.mark.parametrize("filled", [True, False], ids=["values", "nulls"])
def test_insert_row_and_both_readings_give_what_the_orm_reads(zoo, filled):
    obj = zoo(**(VALUES if filled else {}))
    insert_row(obj)
    expected = _orm_values(zoo, obj.pk)
    assert expected["defaulted"] == 7
    assert expected["db_defaulted"] == 5
    assert expected["generated"] == ("zoë" if filled else None)
    if filled:
        assert {k: expected[k] for k in VALUES} == VALUES

    z = shape(zoo)
    columns, json_row = select_many(
        [
            (f"SELECT {z.columns('z')} FROM tests_field_zoo z WHERE z.id = %s", [obj.pk]),  # noqa: S608
            (f"SELECT {z.json_array('z')} FROM tests_field_zoo z WHERE z.id = %s", [obj.pk]),  # noqa: S608
        ]
    )
    assert _comparable(_values(z.build(columns[0]))) == _comparable(expected)
    assert _comparable(_values(z.build_json(json_row[0][0]))) == _comparable(expected)
    # One value read from its text, as the centre reads a withdrawal's date.
    assert z.load_text("datetime", "2026-12-03 13:45:06.789012+00") == VALUES["datetime"]


def test_insert_from_arrays_writes_every_column_defaults_included(zoo):
    before = timezone.now()
    rows = [zoo(**VALUES), zoo(**{**VALUES, "char": "Second", "array": [4]}), zoo()]
    sql, params = insert_from_arrays(zoo, rows)
    with connection.cursor() as cursor:
        cursor.execute(sql + " RETURNING id", params)
        ids = [row[0] for row in cursor.fetchall()]
    read = [_orm_values(zoo, pk) for pk in sorted(ids)]
    assert [r["char"] for r in read] == ["Zoë", "Second", None]
    assert [r["generated"] for r in read] == ["zoë", "second", None]
    assert [r["defaulted"] for r in read] == [7, 7, 7]
    assert [r["db_defaulted"] for r in read] == [5, 5, 5]
    assert all(r["created"] >= before for r in read)
    assert {k: read[0][k] for k in VALUES} == VALUES
    assert read[1]["array"] == [4]


def test_insert_from_arrays_takes_given_sql_for_a_column(zoo):
    sql, params = insert_from_arrays(zoo, [zoo(char="x")], given={"integer": "41 + 1"})
    with connection.cursor() as cursor:
        cursor.execute(sql + " RETURNING id", params)
        pk = cursor.fetchone()[0]
    assert _orm_values(zoo, pk)["integer"] == 42


# --- Real models gain a field ------------------------------------------------------------------


def _add_field(model: type[models.Model], name: str, field: models.Field[Any, Any]) -> Iterator[None]:
    """`model` gains `field` (its column made in the test's transaction) for as long as the
    generator is suspended; afterwards the model is as it was."""
    field.contribute_to_class(model, name)
    model._meta._expire_cache()
    shape.cache_clear()
    _insert_caches_clear()
    with connection.schema_editor() as editor:
        editor.add_field(model, field)
    try:
        yield
    finally:
        model._meta.local_fields.remove(field)
        model._meta._expire_cache()
        delattr(model, name)
        shape.cache_clear()
        _insert_caches_clear()


def _insert_caches_clear() -> None:
    from config import db

    db._insert_fields.cache_clear()
    db._insert_sql.cache_clear()


@pytest.fixture
def subscription_quiet_from() -> Iterator[None]:
    from preferences.models import Subscription

    yield from _add_field(Subscription, "quiet_from", models.TimeField(null=True))


@pytest.fixture
def delivery_priority() -> Iterator[None]:
    from sync.models import Delivery

    yield from _add_field(Delivery, "priority", models.PositiveSmallIntegerField(default=0))


def test_a_time_field_on_subscriptions_reads_back_on_the_centre(subscription_quiet_from, make_brand):
    from consent.services import contact_upsert
    from preferences import statements
    from preferences.models import Subscription, SubscriptionStatus, Topic

    brand = make_brand()
    contact, _ = contact_upsert(brand=brand, external_id="cust-1", email="a@example.com")
    topic = Topic.objects.create(brand=brand, slug="news", name="News", channels=["email"])
    Subscription.objects.create(
        brand=brand,
        contact=contact,
        topic=topic,
        channel="email",
        status=SubscriptionStatus.SUBSCRIBED,
        cadence="weekly",
        occurred_at=timezone.now(),
        quiet_from=dt.time(22, 30),
    )
    statements.brand_configs_forget()
    _, _, rows = statements.brand_contact_and_centre(
        slug=brand.slug, brand_id=brand.pk, contact_id=contact.pk, now=timezone.now()
    )
    assert rows is not None
    [row] = rows.snapshot.rows.values()
    assert row.quiet_from == dt.time(22, 30)
    assert statements.centre_rows(contact=contact, now=timezone.now()).snapshot.rows[
        (topic.pk, "email")
    ].quiet_from == dt.time(22, 30)


def test_a_defaulted_field_on_deliveries_is_filled_by_the_fanout_insert(delivery_priority, make_brand):
    from consent.services import contact_upsert
    from sync.delivery import bodies, fanout
    from sync.models import Delivery, Endpoint
    from sync.outbox.feed import FeedPosition
    from tests.sync.webhook_support import write_event

    brand = make_brand()
    endpoint = Endpoint.objects.create(brand=brand, url="https://hooks.example.com/h", secret="whsec_x")
    contact, _ = contact_upsert(brand=brand, external_id="cust-1")
    event = write_event(brand, contact.pk, 1)
    now = timezone.now()
    row = bodies.delivery_of(endpoint=endpoint, event=event, now=now)
    moved = fanout._fanout_insert(
        endpoint_id=endpoint.pk,
        after=FeedPosition(endpoint.cursor_txid, endpoint.cursor_id),
        to=FeedPosition(1, event.pk),
        erasures=endpoint.erasures,
        rows=[row],
    )
    assert moved
    [delivery] = Delivery.objects.filter(endpoint=endpoint)
    assert (delivery.event_id, delivery.priority, delivery.status) == (event.pk, 0, "pending")
