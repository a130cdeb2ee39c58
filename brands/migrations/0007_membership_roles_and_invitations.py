# The console's four roles (owner, editor, support, viewer) replace admin and analyst: an admin
# edited the brand's configuration (now editor), an analyst read the figures (now viewer).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

RENAMED = {"admin": "editor", "analyst": "viewer"}


def roles_forward(apps, schema_editor):
    Membership = apps.get_model("brands", "Membership")
    for old, new in RENAMED.items():
        Membership.objects.filter(role=old).update(role=new)


def roles_backward(apps, schema_editor):
    # support had no counterpart: its closest old role read figures only.
    Membership = apps.get_model("brands", "Membership")
    for old, new in RENAMED.items():
        Membership.objects.filter(role=new).update(role=old)
    Membership.objects.filter(role="support").update(role="analyst")


class Migration(migrations.Migration):
    dependencies = [
        ("brands", "0006_audit_entries"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(roles_forward, roles_backward),
        migrations.AlterField(
            model_name="membership",
            name="role",
            field=models.CharField(
                choices=[
                    ("owner", "Owner"),
                    ("editor", "Editor"),
                    ("support", "Support"),
                    ("viewer", "Viewer"),
                ],
                default="viewer",
                max_length=20,
            ),
        ),
        migrations.CreateModel(
            name="Invitation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("email", models.EmailField(help_text="Stored normalised (lower case)", max_length=254)),
                (
                    "role",
                    models.CharField(
                        choices=[
                            ("owner", "Owner"),
                            ("editor", "Editor"),
                            ("support", "Support"),
                            ("viewer", "Viewer"),
                        ],
                        max_length=20,
                    ),
                ),
                ("token_hash", models.CharField(max_length=64, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("expires_at", models.DateTimeField()),
                ("accepted_at", models.DateTimeField(blank=True, null=True)),
                ("revoked_at", models.DateTimeField(blank=True, null=True)),
                (
                    "accepted_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "brand",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="invitations",
                        to="brands.brand",
                    ),
                ),
                (
                    "invited_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["brand", "email"], name="invitation_brand_email")],
            },
        ),
    ]
