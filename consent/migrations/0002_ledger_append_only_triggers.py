"""The database itself refuses UPDATE and DELETE on ledger rows and notice versions.

PostgreSQL and SQLite each get their own trigger; TRUNCATE (used by test teardown
on PostgreSQL) is a privilege matter for production, see deploy notes.
"""

from django.db import migrations

from consent.migrations import _triggers

TABLES = ["consent_consentevent", "consent_noticeversion"]


def _pg_sql(table: str) -> tuple[str, str]:
    create = f"""
        CREATE OR REPLACE FUNCTION candor_refuse_change() RETURNS trigger AS $$
        BEGIN
            RAISE EXCEPTION 'candor: % is append-only (% refused)', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'integrity_constraint_violation';
        END;
        $$ LANGUAGE plpgsql;
        CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION candor_refuse_change();
    """
    drop = f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};"
    return create, drop


def _sqlite_sql(table: str) -> tuple[list[str], list[str]]:
    return _triggers.sqlite_statements(table)


def install(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "postgresql":
            schema_editor.execute(_pg_sql(table)[0], params=None)
        elif vendor == "sqlite":
            for statement in _sqlite_sql(table)[0]:
                schema_editor.execute(statement)
        else:
            raise RuntimeError(f"No append-only trigger for database vendor {vendor!r}")


def remove(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "postgresql":
            schema_editor.execute(_pg_sql(table)[1])
        elif vendor == "sqlite":
            for statement in _sqlite_sql(table)[1]:
                schema_editor.execute(statement)
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS candor_refuse_change();")


class Migration(migrations.Migration):
    dependencies = [("consent", "0001_initial")]
    operations = [migrations.RunPython(install, remove)]
