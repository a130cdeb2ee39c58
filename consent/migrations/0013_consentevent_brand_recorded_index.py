from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # Built without locking the ledger against writes: consents keep being recorded meanwhile.
    atomic = False

    dependencies = [
        ("consent", "0012_consentstate_granted_notice_index"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="consentevent",
            index=models.Index(fields=["brand", "recorded_at", "id"], name="consentevent_brand_recorded"),
        ),
    ]
