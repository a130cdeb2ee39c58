"""Triggers that give a brand a new `config_stamp` whenever its configuration changes: a row of
its topics, purposes or notices is inserted, updated or deleted, or a notice version is added.
"""

from __future__ import annotations

from typing import Any

TABLES = ("preferences_topic", "consent_purpose", "consent_notice", "consent_noticeversion")

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION candor_brand_config_changed() RETURNS trigger AS $$
BEGIN
    IF TG_TABLE_NAME = 'consent_noticeversion' THEN
        UPDATE brands_brand SET config_stamp = (random() * 4.6e18)::bigint
            WHERE id = (SELECT brand_id FROM consent_notice WHERE id = NEW.notice_id);
    ELSIF TG_OP = 'INSERT' THEN
        UPDATE brands_brand SET config_stamp = (random() * 4.6e18)::bigint WHERE id = NEW.brand_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE brands_brand SET config_stamp = (random() * 4.6e18)::bigint WHERE id = OLD.brand_id;
    ELSE
        UPDATE brands_brand SET config_stamp = (random() * 4.6e18)::bigint
            WHERE id IN (NEW.brand_id, OLD.brand_id);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""


def _name(table: str) -> str:
    return f"{table}_config_changed"


def _operations(table: str) -> tuple[str, ...]:
    # Notice versions are append-only (consent/migrations/0002): only INSERT happens.
    return ("INSERT",) if table == "consent_noticeversion" else ("INSERT", "UPDATE", "DELETE")


def install(apps: Any, schema_editor: Any) -> None:
    schema_editor.execute(_PG_FUNCTION, params=None)
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {_name(table)} ON {table};")
        schema_editor.execute(
            f"CREATE TRIGGER {_name(table)} AFTER {' OR '.join(_operations(table))} ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION candor_brand_config_changed();"
        )


def remove(apps: Any, schema_editor: Any) -> None:
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {_name(table)} ON {table};")
    schema_editor.execute("DROP FUNCTION IF EXISTS candor_brand_config_changed();")
