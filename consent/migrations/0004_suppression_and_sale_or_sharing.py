# Suppression list (erasure), contacts that read suppressed, and purposes GPC withdraws.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("brands", "0001_initial"),
        ("consent", "0003_fewer_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="contact",
            name="suppressed",
            field=models.BooleanField(
                default=False,
                help_text="The address is on the suppression list: no marketing until a new opt-in",
            ),
        ),
        migrations.AddField(
            model_name="purpose",
            name="sale_or_sharing",
            field=models.BooleanField(
                default=False,
                help_text="Selling or sharing personal data (CCPA/CPRA): a Global Privacy Control signal (Sec-GPC: 1) withdraws it",
            ),
        ),
        migrations.CreateModel(
            name="Suppression",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("email_hmac", models.CharField(max_length=64)),
                (
                    "reason",
                    models.CharField(choices=[("erased", "Erased at the person's request")], max_length=20),
                ),
                ("created_at", models.DateTimeField()),
                (
                    "brand",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="brands.brand"
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("brand", "email_hmac"), name="suppression_unique_brand_email_hmac"
                    )
                ],
            },
        ),
    ]
