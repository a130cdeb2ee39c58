"""Triggers that give a brand a new `config_stamp` whenever its configuration changes: a row of
its topics, purposes or notices is inserted, updated or deleted, or a notice version is added.

Any later migration that alters one of these tables on SQLite rebuilds the table and loses its
triggers: end such a migration with `RunPython(install, remove)` from here again.
"""

from __future__ import annotations

from typing import Any

# table → SQL for the brand id of a row (NEW/OLD is spliced in)
TABLES = {
    "preferences_topic": "{row}.brand_id",
    "consent_purpose": "{row}.brand_id",
    "consent_notice": "{row}.brand_id",
    "consent_noticeversion": "(SELECT brand_id FROM consent_notice WHERE id = {row}.notice_id)",
}

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


def _name(table: str, operation: str = "") -> str:
    return f"{table}_config_changed{'_' + operation.lower() if operation else ''}"


def _operations(table: str) -> tuple[str, ...]:
    # Notice versions are append-only (consent/migrations/0002): only INSERT happens.
    return ("INSERT",) if table == "consent_noticeversion" else ("INSERT", "UPDATE", "DELETE")


def _sqlite_create(table: str, operation: str) -> str:
    brand = TABLES[table]
    where = {
        "INSERT": f"id = {brand.format(row='NEW')}",
        "DELETE": f"id = {brand.format(row='OLD')}",
        "UPDATE": f"id IN ({brand.format(row='NEW')}, {brand.format(row='OLD')})",
    }[operation]
    return (
        f"CREATE TRIGGER {_name(table, operation)} AFTER {operation} ON {table} "  # noqa: S608 - our names
        f"BEGIN UPDATE brands_brand SET config_stamp = abs(random() / 2) WHERE {where}; END;"
    )


def install(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(_PG_FUNCTION, params=None)
        for table in TABLES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {_name(table)} ON {table};")
            schema_editor.execute(
                f"CREATE TRIGGER {_name(table)} AFTER {' OR '.join(_operations(table))} ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION candor_brand_config_changed();"
            )
    elif vendor == "sqlite":
        for table in TABLES:
            for operation in _operations(table):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {_name(table, operation)};")
                schema_editor.execute(_sqlite_create(table, operation))
    else:
        raise RuntimeError(f"No configuration triggers for database vendor {vendor!r}")


def remove(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {_name(table)} ON {table};")
        elif vendor == "sqlite":
            for operation in _operations(table):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {_name(table, operation)};")
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS candor_brand_config_changed();")
