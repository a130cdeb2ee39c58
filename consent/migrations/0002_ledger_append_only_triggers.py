"""The database itself refuses UPDATE and DELETE on ledger rows and notice versions.

TRUNCATE (used by test teardown) is a privilege matter for production, see deploy notes.
"""

from django.db import migrations

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


def install(apps, schema_editor):
    for table in TABLES:
        schema_editor.execute(_pg_sql(table)[0], params=None)


def remove(apps, schema_editor):
    for table in TABLES:
        schema_editor.execute(_pg_sql(table)[1])
    schema_editor.execute("DROP FUNCTION IF EXISTS candor_refuse_change();")


class Migration(migrations.Migration):
    dependencies = [("consent", "0001_initial")]
    operations = [migrations.RunPython(install, remove)]
