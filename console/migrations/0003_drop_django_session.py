"""Drop Django's own session table, unused since console.StaffSession replaced it (0002).

django.contrib.sessions is no longer installed, so nothing reads the table or clears it: its rows
are old staff session keys kept for no purpose. Its migration records go with it, so that
installing the app again would create the table afresh rather than assume it exists. On a
database that never had the table (a new one) both statements do nothing. Not reversible in
content: the rows were dead sessions."""

from django.db import migrations

DROP = (
    "DROP TABLE IF EXISTS django_session",
    "DELETE FROM django_migrations WHERE app = 'sessions'",
)


class Migration(migrations.Migration):
    dependencies = [("console", "0002_staff_session")]

    operations = [migrations.RunSQL(sql, reverse_sql=migrations.RunSQL.noop) for sql in DROP]
