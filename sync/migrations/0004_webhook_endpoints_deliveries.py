"""Webhooks: Endpoint (a brand's receiver, with its cursor in the changes feed), Delivery (one
event for one endpoint, the signed body kept for retries) and Attempt (the delivery log); and the
brand-level event type endpoint.disabled."""

import django.db.models.deletion
from django.db import migrations, models

import sync.models


class Migration(migrations.Migration):
    dependencies = [
        ("brands", "0002_brand_primary_colour"),
        ("sync", "0003_event_txid_feed_order"),
    ]

    operations = [
        migrations.AlterField(
            model_name="event",
            name="type",
            field=models.CharField(
                choices=[
                    ("consent.granted", "Consent Granted"),
                    ("consent.withdrawn", "Consent Withdrawn"),
                    ("consent.expired", "Consent Expired"),
                    ("preferences.updated", "Preferences Updated"),
                    ("contact.unsubscribed", "Contact Unsubscribed"),
                    ("contact.erased", "Contact Erased"),
                    ("hold.started", "Hold Started"),
                    ("hold.ended", "Hold Ended"),
                    ("quiz.completed", "Quiz Completed"),
                    ("endpoint.disabled", "Endpoint Disabled"),
                ],
                max_length=40,
            ),
        ),
        migrations.CreateModel(
            name="Delivery",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                (
                    "public_id",
                    models.CharField(
                        default=sync.models.new_delivery_id, editable=False, max_length=32, unique=True
                    ),
                ),
                (
                    "msg_id",
                    models.CharField(help_text="The webhook-id header: stable across retries", max_length=64),
                ),
                ("type", models.CharField(max_length=40)),
                ("contact_ref", models.BigIntegerField(blank=True, null=True)),
                ("sequence", models.PositiveBigIntegerField(default=0)),
                ("body", models.TextField()),
                (
                    "status",
                    models.CharField(
                        choices=[("pending", "Pending"), ("succeeded", "Succeeded"), ("failed", "Failed")],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("attempt_count", models.PositiveIntegerField(default=0, help_text="Attempts ever made")),
                ("round_start", models.PositiveIntegerField(default=0)),
                ("next_attempt_at", models.DateTimeField()),
                ("leased_until", models.DateTimeField(blank=True, null=True)),
                ("enqueued_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("succeeded_at", models.DateTimeField(blank=True, null=True)),
                (
                    "event",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="sync.event",
                    ),
                ),
            ],
            options={
                "verbose_name_plural": "deliveries",
            },
        ),
        migrations.CreateModel(
            name="Attempt",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("number", models.PositiveIntegerField()),
                ("started_at", models.DateTimeField()),
                ("duration_ms", models.PositiveIntegerField()),
                ("status_code", models.PositiveSmallIntegerField(blank=True, null=True)),
                ("response_excerpt", models.CharField(blank=True, max_length=1024)),
                ("error", models.CharField(blank=True, max_length=300)),
                (
                    "outcome",
                    models.CharField(
                        choices=[
                            ("succeeded", "Succeeded"),
                            ("failed", "Failed"),
                            ("gone", "Gone (410): endpoint disabled"),
                            ("refused", "Refused before sending (address or URL not allowed)"),
                        ],
                        max_length=10,
                    ),
                ),
                (
                    "delivery",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="attempts",
                        to="sync.delivery",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="Endpoint",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "public_id",
                    models.CharField(
                        default=sync.models.new_endpoint_id, editable=False, max_length=32, unique=True
                    ),
                ),
                ("url", models.CharField(max_length=2000)),
                ("description", models.CharField(blank=True, max_length=500)),
                (
                    "event_types",
                    models.JSONField(blank=True, default=list, help_text="Empty means every type"),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[("active", "Active"), ("disabled", "Disabled")],
                        default="active",
                        max_length=10,
                    ),
                ),
                ("disabled_reason", models.CharField(blank=True, max_length=300)),
                ("disabled_at", models.DateTimeField(blank=True, null=True)),
                ("secret", models.CharField(default=sync.models.new_webhook_secret, max_length=100)),
                ("previous_secret", models.CharField(blank=True, max_length=100)),
                ("previous_secret_expires_at", models.DateTimeField(blank=True, null=True)),
                (
                    "include_personal_data",
                    models.BooleanField(
                        default=False,
                        help_text="Send email and phone in event data; otherwise they are left out",
                    ),
                ),
                ("cursor_txid", models.BigIntegerField(default=0)),
                ("cursor_id", models.BigIntegerField(default=0)),
                ("failing_since", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "brand",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="endpoints",
                        to="brands.brand",
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="delivery",
            name="endpoint",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="deliveries", to="sync.endpoint"
            ),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(fields=["endpoint", "id"], name="delivery_endpoint_log"),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["endpoint", "contact_ref", "sequence"],
                name="delivery_pending_contact",
            ),
        ),
        migrations.AddIndex(
            model_name="delivery",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["next_attempt_at"],
                name="delivery_pending_due",
            ),
        ),
        migrations.AddConstraint(
            model_name="delivery",
            constraint=models.UniqueConstraint(
                fields=("endpoint", "event"), name="delivery_unique_endpoint_event"
            ),
        ),
    ]
