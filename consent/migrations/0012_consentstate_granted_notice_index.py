from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # Built without locking the projection against writes: consents keep being recorded meanwhile.
    atomic = False

    dependencies = [
        ("consent", "0011_evidence_double_opt_in_proof"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="consentstate",
            index=models.Index(
                condition=models.Q(("decision", "granted")),
                fields=["notice_version", "brand"],
                name="consentstate_granted_notice",
            ),
        ),
    ]
