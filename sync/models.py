from __future__ import annotations

import uuid
from typing import Any

from django.db import models

from brands.models import Brand


class EventType(models.TextChoices):
    CONSENT_GRANTED = "consent.granted"
    CONSENT_WITHDRAWN = "consent.withdrawn"
    CONSENT_EXPIRED = "consent.expired"
    PREFERENCES_UPDATED = "preferences.updated"
    CONTACT_UNSUBSCRIBED = "contact.unsubscribed"
    CONTACT_ERASED = "contact.erased"
    HOLD_STARTED = "hold.started"
    HOLD_ENDED = "hold.ended"
    QUIZ_COMPLETED = "quiz.completed"


class TransactionId(models.Func):
    """The id of the transaction that writes the row: on PostgreSQL pg_current_xact_id() (the
    top-level transaction, also inside savepoints; epoch-extended, so it never wraps) as a
    bigint; 0 elsewhere.

    Used as Event.txid's database default, so every insert path (ORM, config.db.insert_row and
    the consent write path's single statement) fills it without naming it. See
    sync.selectors.events_feed for why the feed needs it.
    """

    output_field = models.BigIntegerField()
    template = "0"

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> tuple[str, list[Any]]:
        return "pg_current_xact_id()::text::bigint", []


class Event(models.Model):
    """Outbox row, written in the same transaction as the change it announces.

    The layer below the domain: it knows a contact only by its internal id and
    external id, never the consent models themselves.
    """

    id = models.BigAutoField(primary_key=True)
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="events", db_index=False)
    type = models.CharField(max_length=40, choices=EventType.choices)
    contact_ref = models.BigIntegerField(help_text="Internal id of the contact (pseudonymous)")
    subject = models.CharField(max_length=255, help_text="The contact's external id at the time")
    sequence = models.PositiveBigIntegerField(help_text="Per-contact, increasing")
    data = models.JSONField()
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The writing transaction (see TransactionId; on PostgreSQL a trigger raises it to the
    # contact's previous event's txid when that is higher): the changes feed pages by (txid, id).
    # Filled by the database; config.db.insert_row does not write a value set in Python.
    txid = models.BigIntegerField(db_default=TransactionId(), editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact_ref", "sequence"], name="event_unique_contact_sequence"),
        ]
        # The changes feed's order; it also serves every lookup by brand alone.
        indexes = [models.Index(fields=["brand", "txid", "id"], name="event_brand_feed")]

    def __str__(self) -> str:
        return f"{self.type} #{self.sequence} for {self.subject}"
