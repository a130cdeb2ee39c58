"""The database itself refuses UPDATE and DELETE on published quiz versions and their questions:
responses keep pointing at exactly what people answered."""

from django.db import migrations

TABLES = ["quizzes_quizversion", "quizzes_question"]

# candor_refuse_change() is consent's append-only trigger function (consent/migrations/0002).
CREATE = "".join(
    f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
    "FOR EACH ROW EXECUTE FUNCTION candor_refuse_change();\n"
    for table in TABLES
)
DROP = "".join(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};\n" for table in TABLES)


class Migration(migrations.Migration):
    dependencies = [
        ("quizzes", "0001_quizzes"),
        ("consent", "0002_ledger_append_only_triggers"),
    ]

    operations = [migrations.RunSQL(CREATE, DROP)]
