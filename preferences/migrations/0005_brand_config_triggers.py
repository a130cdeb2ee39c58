"""A brand's config_stamp changes with its topics, purposes, notices and notice versions."""

from django.db import migrations

from preferences.migrations import _config_triggers


class Migration(migrations.Migration):
    dependencies = [
        ("brands", "0003_brand_config_stamp"),
        ("consent", "0004_suppression_and_sale_or_sharing"),
        ("preferences", "0004_step_up_code"),
    ]
    operations = [migrations.RunPython(_config_triggers.install, _config_triggers.remove)]
