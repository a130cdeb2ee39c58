"""Event.txid: the writing transaction's id, filled by the database, so the changes feed can page
in commit order by (txid, id).

Rows already there get txid 0 (a constant default: no table rewrite on PostgreSQL); every later
insert gets its transaction's id. Both are correct: the old rows committed before any new one.

On PostgreSQL a trigger also keeps each contact's events in sequence order in the feed: an
event's txid is raised to its contact's previous event's txid when that is higher (the writer
took an id before it got the contact's lock, e.g. by storing an Idempotency-Key first, and
another writer for the contact committed meanwhile). Raising it is safe: a txid at or above the
writer's own still hides the event until that transaction has ended (see
sync.outbox.feed.events_feed).
"""

from typing import Any

from django.db import migrations, models

import sync.models

TRIGGER_SQL = """
CREATE FUNCTION sync_event_feed_txid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- The writer holds the contact's lock, so its previous event is committed and visible.
    NEW.txid := GREATEST(NEW.txid, COALESCE((
        SELECT e.txid FROM sync_event e WHERE e.contact_ref = NEW.contact_ref
        ORDER BY e.sequence DESC LIMIT 1), 0));
    RETURN NEW;
END $$;
CREATE TRIGGER sync_event_feed_txid BEFORE INSERT ON sync_event
    FOR EACH ROW EXECUTE FUNCTION sync_event_feed_txid();
"""
DROP_SQL = """
DROP TRIGGER IF EXISTS sync_event_feed_txid ON sync_event;
DROP FUNCTION IF EXISTS sync_event_feed_txid();
"""


def install_trigger(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute(TRIGGER_SQL)


def remove_trigger(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute(DROP_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0002_fewer_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="event",
            name="txid",
            field=models.BigIntegerField(db_default=0, editable=False),
        ),
        migrations.AlterField(
            model_name="event",
            name="txid",
            field=models.BigIntegerField(db_default=sync.models.TransactionId(), editable=False),
        ),
        migrations.AddIndex(
            model_name="event",
            index=models.Index(fields=["brand", "txid", "id"], name="event_brand_feed"),
        ),
        migrations.RemoveIndex(
            model_name="event",
            name="event_brand_id",
        ),
        migrations.RunPython(install_trigger, remove_trigger, elidable=False),
    ]
