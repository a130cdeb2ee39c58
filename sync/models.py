from __future__ import annotations

import base64
import secrets
import uuid

from django.db import models

from brands.models import Brand


class EventType(models.TextChoices):
    CONSENT_GRANTED = "consent.granted"
    CONSENT_WITHDRAWN = "consent.withdrawn"
    CONSENT_EXPIRED = "consent.expired"
    PREFERENCES_UPDATED = "preferences.updated"
    CONTACT_UNSUBSCRIBED = "contact.unsubscribed"
    CONTACT_ERASED = "contact.erased"
    # The contact's email address or phone number changed (`changed` names which, never values).
    CONTACT_UPDATED = "contact.updated"
    HOLD_STARTED = "hold.started"
    HOLD_ENDED = "hold.ended"
    QUIZ_COMPLETED = "quiz.completed"
    # Quiz traits downstream (quizzes.statements): a correction changed them; or forget them
    # (the consent for their purpose stopped, or the person deleted the answer).
    TRAITS_UPDATED = "traits.updated"
    TRAITS_FORGOTTEN = "traits.forgotten"
    # Brand-level, not about a contact: see Event.brand_ref.
    ENDPOINT_DISABLED = "endpoint.disabled"
    # The reconciler found a vendor out of step with Candor and repaired it (brand-level).
    CONNECTOR_DRIFT_REPAIRED = "connector.drift_repaired"
    LEDGER_CHECKPOINT = "ledger.checkpoint"


class TransactionId(models.Func):
    """The id of the transaction that writes the row: pg_current_xact_id() (the top-level
    transaction, also inside savepoints; epoch-extended, so it never wraps) as a bigint.

    Used as Event.txid's database default, so every insert path (ORM, config.db.insert_row and
    the consent write path's single statement) fills it without naming it. See
    sync.outbox.feed.events_feed for why the feed needs it.
    """

    output_field = models.BigIntegerField()
    template = "pg_current_xact_id()::text::bigint"


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

    @staticmethod
    def brand_ref(brand_id: int) -> int:
        """The contact_ref of a brand's own stream of events (endpoint.disabled): minus the brand's
        id, which no contact has. It keeps (contact_ref, sequence) unique and gives those events a
        sequence, an order and a place in the feed like any contact's."""
        return -brand_id


def new_endpoint_id() -> str:
    return f"ep_{secrets.token_urlsafe(12)}"


def new_delivery_id() -> str:
    return f"dlv_{secrets.token_urlsafe(12)}"


def new_webhook_secret() -> str:
    """Standard Webhooks: whsec_ and base64 of 24 to 64 random bytes; we use 32."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Endpoint(models.Model):
    """A brand's delivery target: a webhook receiver, or the delivery side of a Connector (kind
    connector; its url is the vendor's API base, the webhook-only fields stay unused).
    Deliveries are made from the brand's changes feed: the endpoint's cursor is its position
    there (sync.delivery.fanout.endpoint_fanout)."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        DISABLED = "disabled"

    class Kind(models.TextChoices):
        WEBHOOK = "webhook"
        CONNECTOR = "connector"

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="endpoints")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.WEBHOOK, db_default="webhook")
    public_id = models.CharField(max_length=32, unique=True, default=new_endpoint_id, editable=False)
    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=500, blank=True)
    event_types = models.JSONField(default=list, blank=True, help_text="Empty means every type")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    # Never logged, shown once (at creation and rotation).
    secret = models.CharField(max_length=100, default=new_webhook_secret)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    include_personal_data = models.BooleanField(
        default=False, help_text="Send email and phone in event data; otherwise they are left out"
    )
    pseudonymous_contacts = models.BooleanField(
        default=False,
        help_text="Name contacts by a pseudonym of this endpoint's own in event data, not the external id",
    )
    # When the brand was told (by email) that this endpoint has opt-outs it has not acknowledged
    # for 15 business days; cleared once it has none, so the next such period is told again.
    opt_outs_flagged_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Fan-out position in the brand's feed (sync.outbox.feed.FeedPosition).
    cursor_txid = models.BigIntegerField(default=0)
    cursor_id = models.BigIntegerField(default=0)
    # Erasures of the brand's contacts so far: an erasure counts here before it rewrites the
    # deliveries, and a fan-out moves the cursor only if the count is the one it read with the
    # events, so no delivery built from an event read before an erasure is saved after it.
    erasures = models.PositiveBigIntegerField(default=0, editable=False)
    # Since when every attempt has failed (cleared by any success); 5 days of it disables.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.public_id} {self.url} ({self.status})"


def new_connector_id() -> str:
    return f"con_{secrets.token_urlsafe(12)}"


class Connector(models.Model):
    """A brand's link to one vendor account (sync.delivery.connectors). Its deliveries are those
    of its Endpoint (kind connector): the same cursor, claims, retries, per-contact order,
    disabling and delivery log as a webhook's; only the send step differs."""

    class Vendor(models.TextChoices):
        SALESFORCE = "salesforce"
        HUBSPOT = "hubspot"
        KLAVIYO = "klaviyo"
        MAILCHIMP = "mailchimp"

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="connectors")
    public_id = models.CharField(max_length=32, unique=True, default=new_connector_id, editable=False)
    endpoint = models.OneToOneField(Endpoint, on_delete=models.CASCADE, related_name="connector")
    vendor = models.CharField(max_length=20, choices=Vendor.choices)
    name = models.CharField(max_length=200)
    # Fernet token of the credentials' JSON (sync.delivery.connectors.crypto); never logged or shown.
    credentials = models.TextField()
    mapping = models.JSONField(default=dict)
    # As the brand gave it; empty means the vendor's default host. Endpoint.url holds the one used.
    api_base_url = models.CharField(max_length=2000, blank=True)
    match_key = models.CharField(max_length=20, default="email")
    # A polled vendor's (Salesforce's) place in its own change history: opaque to Candor.
    poll_watermark = models.CharField(max_length=200, blank=True)
    polled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.public_id} {self.vendor} {self.name}"


class InboundSignal(models.Model):
    """One opt-out a vendor told Candor about (sync.delivery.connectors.inbound): kept once per
    connector and vendor event id, so a vendor's retry or a second poll changes nothing.
    Accepted as `pending` with the signal in `payload`, applied by a worker within seconds; the
    payload (it names the address) is cleared when it is applied."""

    class Outcome(models.TextChoices):
        PENDING = "pending", "Accepted, not applied yet"
        RECORDED = "recorded"
        UNCHANGED = "unchanged", "Already so in Candor"
        UNKNOWN_CONTACT = "unknown_contact", "No such contact in Candor"

    id = models.BigAutoField(primary_key=True)
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="signals", db_index=False)
    event_id = models.CharField(max_length=200)
    kind = models.CharField(max_length=20)
    channel = models.CharField(max_length=10)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    # Null when no contact matched (nothing about the person is kept then).
    contact_ref = models.BigIntegerField(null=True, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField()
    payload = models.JSONField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connector", "event_id"], name="inbound_signal_unique_event"),
        ]
        indexes = [
            # The worker's queue: the few accepted signals not applied yet, oldest first.
            models.Index(fields=["id"], name="inbound_signal_pending", condition=models.Q(outcome="pending")),
            # A connector's signals, newest first (the console's page of them).
            models.Index(fields=["connector", "id"], name="inbound_signal_connector"),
        ]

    def __str__(self) -> str:
        return f"{self.connector_id} {self.event_id} {self.kind}: {self.outcome}"


class ConnectorEcho(models.Model):
    """An outbox event a connector's own signal caused: not pushed back to that connector (its
    vendor already holds the "no"; pushing it again would be an echo)."""

    id = models.BigAutoField(primary_key=True)
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="+", db_index=False)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connector", "event"], name="connector_echo_unique_event"),
        ]

    def __str__(self) -> str:
        return f"{self.connector_id} echo of event {self.event_id}"


class VendorContact(models.Model):
    """A vendor's own id for a Candor contact, kept when Candor creates or finds the contact there
    (HubSpot's contact id; Mailchimp's `<list id>:<subscriber hash>`, one row per audience): a
    vendor whose webhooks name only its own id (HubSpot's) is read back to the contact through
    it, without calling the vendor while it waits; and an erasure can delete the vendor's record
    by it once Candor no longer holds the address. By contact_ref (the contact's internal id),
    which an erasure keeps; the row goes when the erasure is pushed."""

    id = models.BigAutoField(primary_key=True)
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="+", db_index=False)
    vendor_id = models.CharField(max_length=64)
    contact_ref = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connector", "vendor_id"], name="vendor_contact_unique_id"),
        ]
        indexes = [models.Index(fields=["connector", "contact_ref"], name="vendor_contact_ref")]

    def __str__(self) -> str:
        return f"{self.connector_id} {self.vendor_id} -> contact {self.contact_ref}"


class ErasureNotice(models.Model):
    """Addresses Candor no longer holds, sealed under CONNECTOR_KEYS, for one connector. `erased`
    (a vendor that knows a record only by its address: Klaviyo): the addresses an erased contact
    had, written in the erasure's transaction, read when the erasure is pushed, deleted once the
    vendor accepted it (Art. 17(2) and 19: the recipients are told which record to erase, and
    nothing else is kept). `moved` (a vendor that keeps consent by address: Klaviyo, HubSpot):
    the addresses a contact changed from, written with the change, read when its contact.updated
    is pushed (the vendor's "yes" under them is turned off), deleted once the vendor accepted
    that."""

    class Kind(models.TextChoices):
        ERASED = "erased"
        MOVED = "moved"

    id = models.BigAutoField(primary_key=True)
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="+", db_index=False)
    contact_ref = models.BigIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ERASED, db_default="erased")
    sealed = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "contact_ref", "kind"], name="erasure_notice_unique_contact_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.connector_id} {self.kind} notice for contact {self.contact_ref}"


class Delivery(models.Model):
    """One event (or test message) for one endpoint: the body exactly as signed and sent, kept
    so every retry sends the same bytes under the same webhook-id."""

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    id = models.BigAutoField(primary_key=True)
    public_id = models.CharField(max_length=32, unique=True, default=new_delivery_id, editable=False)
    # No index of its own: delivery_endpoint_log and the unique constraint lead with it.
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    # Null for test messages, and once the feed's retention has pruned the event.
    event = models.ForeignKey(Event, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    msg_id = models.CharField(max_length=64, help_text="The webhook-id header: stable across retries")
    type = models.CharField(max_length=40)
    # Deliveries with the same contact_ref go out in sequence order; null (test) is unordered.
    contact_ref = models.BigIntegerField(null=True, blank=True)
    sequence = models.PositiveBigIntegerField(default=0)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveIntegerField(default=0, help_text="Attempts ever made")
    # attempt_count when the current round began (creation or redelivery): the retry schedule
    # counts from here.
    round_start = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # A worker holds the delivery until then; after it, the worker is presumed dead.
    leased_until = models.DateTimeField(null=True, blank=True)
    # Last handed to the broker: the sweeper does not hand it again for a while.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="delivery_unique_endpoint_event"),
        ]
        indexes = [
            # The delivery log, newest first.
            models.Index(fields=["endpoint", "id"], name="delivery_endpoint_log"),
            # Per-contact order: is an earlier delivery for this contact still pending?
            models.Index(
                fields=["endpoint", "contact_ref", "sequence"],
                name="delivery_pending_contact",
                condition=models.Q(status="pending"),
            ),
            # The sweeper: what is due.
            models.Index(
                fields=["next_attempt_at"], name="delivery_pending_due", condition=models.Q(status="pending")
            ),
            # A claim's batch and the next to hand over: an endpoint's pending deliveries, oldest
            # first (the log's index would walk through every finished one first).
            models.Index(
                fields=["endpoint", "id"],
                name="delivery_pending_endpoint",
                condition=models.Q(status="pending"),
            ),
            # The claims in flight per endpoint: the few leased rows, however long the backlog.
            models.Index(
                fields=["endpoint", "leased_until"],
                name="delivery_leased",
                condition=models.Q(status="pending", leased_until__isnull=False),
            ),
            # Opt-outs not acknowledged yet (sync.delivery.opt_outs): few, however long the log.
            models.Index(
                fields=["endpoint", "created_at"],
                name="delivery_opt_out_unacked",
                condition=models.Q(type__in=["consent.withdrawn", "contact.unsubscribed"])
                & ~models.Q(status="succeeded"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.type} ({self.status})"


class Attempt(models.Model):
    """One HTTP attempt of a delivery, as the delivery log shows it."""

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        GONE = "gone", "Gone (410): endpoint disabled"
        REFUSED = "refused", "Refused before sending (address or URL not allowed)"

    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.CharField(max_length=1024, blank=True)
    error = models.CharField(max_length=300, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)

    class Meta:
        # The console's webhook health: the attempts of the last day (console.rollups).
        indexes = [models.Index(fields=["started_at"], name="attempt_started")]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.delivery_id}: {self.outcome}"


def new_backfill_id() -> str:
    return f"bf_{secrets.token_urlsafe(12)}"


def new_reconcile_id() -> str:
    return f"rec_{secrets.token_urlsafe(12)}"


class ConnectorRun(models.TextChoices):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class BackfillRun(models.Model):
    """One push of every existing contact's current state to a connector
    (sync.delivery.connectors.backfill): contacts by id up to `last_ref` (the newest when it
    started; later ones reach the vendor through the feed), `cursor` the last one whose batch the
    vendor accepted. A worker holds the run under a lease; a dead worker's run is resumed from the
    cursor by the sweeper once the lease has run out."""

    id = models.BigAutoField(primary_key=True)
    public_id = models.CharField(max_length=32, unique=True, default=new_backfill_id, editable=False)
    connector = models.ForeignKey(
        Connector, on_delete=models.CASCADE, related_name="backfills", db_index=False
    )
    status = models.CharField(max_length=10, choices=ConnectorRun.choices, default=ConnectorRun.RUNNING)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cursor = models.BigIntegerField(default=0)
    last_ref = models.BigIntegerField(default=0)
    leased_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True)
    error = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connector"], condition=models.Q(status="running"), name="backfill_one_running"
            ),
        ]
        indexes = [models.Index(fields=["connector", "id"], name="backfill_connector_latest")]

    def __str__(self) -> str:
        return f"{self.public_id} {self.status} {self.done}/{self.total}"


class ReconcileRun(models.Model):
    """One comparison of a connector's vendor state with Candor's (sync.delivery.connectors.
    reconcile), and what it repaired: drift counts by kind, repairs by kind and a few contacts'
    external ids per kind (never an email or phone)."""

    id = models.BigAutoField(primary_key=True)
    public_id = models.CharField(max_length=32, unique=True, default=new_reconcile_id, editable=False)
    connector = models.ForeignKey(
        Connector, on_delete=models.CASCADE, related_name="reconciles", db_index=False
    )
    status = models.CharField(max_length=10, choices=ConnectorRun.choices, default=ConnectorRun.RUNNING)
    trigger = models.CharField(max_length=10, default="api")  # api | schedule | command
    contacts = models.PositiveIntegerField(default=0)
    slots = models.PositiveIntegerField(default=0)
    drift = models.JSONField(default=dict)
    repaired = models.JSONField(default=dict)
    samples = models.JSONField(default=dict)
    cursor = models.BigIntegerField(default=0)
    leased_until = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connector"], condition=models.Q(status="running"), name="reconcile_one_running"
            ),
        ]
        indexes = [models.Index(fields=["connector", "id"], name="reconcile_connector_latest")]

    def __str__(self) -> str:
        return f"{self.public_id} {self.status}"
