"""Drop Django's own session table, unused since console.StaffSession replaced it (0002).

django.contrib.sessions is no longer installed, so nothing reads the table or clears it: its rows
are old staff session keys kept for no purpose. Its migration records go with it, so that
installing the app again would create the table afresh rather than assume it exists. On a
database that never had the table (a new one) nothing is dropped. Not reversible in content: the
rows were dead sessions."""

from django.db import migrations
from django.db.migrations.recorder import MigrationRecorder

# django.contrib.sessions.models.Session's table (the model cannot be imported: its app is not
# installed).
OLD_TABLE = "django_session"


def drop_old_sessions(apps, schema_editor):
    connection = schema_editor.connection
    if OLD_TABLE in connection.introspection.table_names():
        schema_editor.execute(f"DROP TABLE {schema_editor.quote_name(OLD_TABLE)}")
    MigrationRecorder(connection).migration_qs.filter(app="sessions").delete()


class Migration(migrations.Migration):
    dependencies = [("console", "0002_staff_session")]

    operations = [migrations.RunPython(drop_old_sessions, migrations.RunPython.noop)]
