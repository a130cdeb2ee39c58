# Double opt-in: when a pending request began and when its confirmation email last went out.

from django.db import migrations, models
from django.db.models import F


def backfill_requested_at(apps, schema_editor):
    """Rows already pending began when they were chosen."""
    Subscription = apps.get_model("preferences", "Subscription")
    Subscription.objects.filter(status="pending", confirmation_requested_at__isnull=True).update(
        confirmation_requested_at=F("occurred_at")
    )


class Migration(migrations.Migration):
    dependencies = [
        ("preferences", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="subscription",
            name="confirmation_requested_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="subscription",
            name="confirmation_sent_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(backfill_requested_at, migrations.RunPython.noop),
    ]
