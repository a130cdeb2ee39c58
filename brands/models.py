from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import RegexValidator, URLValidator
from django.db import models

from brands.embed import embed_origins_validator

SLUG_VALIDATOR = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$", "Use 1–50 lowercase letters, digits and hyphens."
)
HEX_COLOUR_VALIDATOR = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a colour such as #1f5f8b.")
DEFAULT_PRIMARY_COLOUR = "#1f5f8b"


class Typeface(models.TextChoices):
    """Font stacks the hosted pages may use. Only fonts already on the reader's device: loading a
    web font from elsewhere would tell a third party who opened the page."""

    SYSTEM = "system", "System sans-serif"
    HUMANIST = "humanist", "Humanist sans-serif"
    GEOMETRIC = "geometric", "Geometric sans-serif"
    SERIF = "serif", "Serif"
    ROUNDED = "rounded", "Rounded sans-serif"


def new_config_stamp() -> int:
    return secrets.randbits(62)


class Brand(models.Model):
    """A tenant. Every other row belongs to exactly one brand."""

    slug = models.CharField(max_length=50, unique=True, validators=[SLUG_VALIDATOR])
    name = models.CharField(max_length=200)
    default_language = models.CharField(max_length=10, default="en")
    jurisdiction = models.CharField(
        max_length=10, default="EU", help_text="ISO 3166 code, e.g. DE, US-CA, or EU"
    )
    contact_email = models.EmailField(blank=True, help_text="Shown on receipts as the controller's contact")
    website = models.URLField(blank=True)
    address = models.CharField(max_length=300, blank=True)
    privacy_policy_url = models.URLField(blank=True)
    primary_colour = models.CharField(
        max_length=7,
        default=DEFAULT_PRIMARY_COLOUR,
        validators=[HEX_COLOUR_VALIDATOR],
        help_text="The hosted pages' accent, e.g. #1f5f8b; "
        "text on it is black or white, whichever reads better",
    )
    logo_url = models.URLField(
        blank=True,
        validators=[URLValidator(schemes=["https", "http"])],
        help_text="The brand's logo for the hosted pages: an https URL of an image (SVG or PNG)",
    )
    typeface = models.CharField(
        max_length=20,
        choices=Typeface.choices,
        default=Typeface.SYSTEM,
        help_text="The hosted pages' font stack",
    )
    # The sites that may embed the brand's quizzes (/q/embed.js): origins such as
    # https://shop.example, sent as the quiz page's CSP frame-ancestors (brands/embed.py).
    embed_origins = ArrayField(
        models.CharField(max_length=200),
        default=list,
        blank=True,
        validators=[embed_origins_validator],
        help_text="Origins (https://shop.example) whose pages may embed the brand's quizzes",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Changes (to a new random value, never reused) whenever one of the brand's topics,
    # purposes, notices or notice versions changes: database triggers set it in the same
    # transaction (preferences/migrations/0005). The hosted pages remember the brand's
    # configuration per process under it (preferences.statements).
    config_stamp = models.BigIntegerField(default=new_config_stamp, editable=False)
    # Compliance #13: personal evidence (IP, user agent, page URL, TC/GPP strings) is purged
    # this long after the relationship ends (consent.retention); empty keeps it.
    evidence_retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Days to keep personal consent evidence after the relationship ends "
        "(the contact erased, or every consent withdrawn or expired); empty keeps it",
    )

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    """A staff member's role in one brand (used by the console)."""

    class Role(models.TextChoices):
        # owner: everything, members and keys included; editor: the brand's configuration;
        # support: contacts and holds; viewer: the dashboards, read only (console.access).
        OWNER = "owner", "Owner"
        EDITOR = "editor", "Editor"
        SUPPORT = "support", "Support"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "brand"], name="membership_unique_user_brand")]

    def __str__(self) -> str:
        return f"{self.user} as {self.role} of {self.brand}"


def hash_invitation_token(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode()).hexdigest()


class Invitation(models.Model):
    """An owner's invitation to join a brand with a role. The link carries a random token, signed
    and dated (brands.services.invitation_link); only the token's SHA-256 is stored. It is taken
    once, by the person who signs in with the invited address."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(help_text="Stored normalised (lower case)")
    role = models.CharField(max_length=20, choices=Membership.Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["brand", "email"], name="invitation_brand_email")]

    def __str__(self) -> str:
        return f"invitation {self.pk} to {self.brand} as {self.role}"

    def is_open(self, now: datetime) -> bool:
        return self.accepted_at is None and self.revoked_at is None and now < self.expires_at


class Scope(models.TextChoices):
    CONSENT_READ = "consent:read"
    CONSENT_WRITE = "consent:write"
    PREFERENCES_READ = "preferences:read"
    PREFERENCES_WRITE = "preferences:write"
    EVENTS_READ = "events:read"
    DECISIONS_READ = "decisions:read"
    # Access and erasure requests a brand received through its own channels (GDPR Art. 15, 17).
    REQUESTS = "requests"
    ADMIN = "admin"


def hash_api_key(raw_key: str) -> str:
    # Keys carry 256 bits of randomness, so a fast hash is enough (no dictionary to guess from).
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKey(models.Model):
    """A brand's API key. Only its SHA-256 and a visible prefix are stored."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True, help_text="Shown to identify the key; not secret")
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.brand.slug})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def has_scopes(self, required: set[str]) -> bool:
        granted = set(self.scopes)
        return Scope.ADMIN.value in granted or required <= granted


class IdempotencyRecord(models.Model):
    """The first successful response to an `Idempotency-Key`, replayed for the same request."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body")
    status_code = models.PositiveSmallIntegerField(default=0)
    response_body = models.JSONField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["brand", "key"], name="idempotency_unique_brand_key")]

    def __str__(self) -> str:
        return f"{self.brand} {self.key}"


class TransactionId(models.Func):
    """The writing transaction's id (pg_current_xact_id() as a bigint), as sync.models does for
    the outbox: entries that share it were written by one change (a configuration document's
    summary and each of its parts)."""

    output_field = models.BigIntegerField()
    template = "pg_current_xact_id()::text::bigint"


class AuditLog(models.Model):
    """A brand's audit log as a whole: how many entries it has. brands.services.audit_record
    counts each entry in the transaction that writes it, so a number names one state of the log
    exactly (entries are never changed), which the console's audit page keys its kept pages by
    (console.views.audit). A brand without entries has no row."""

    brand = models.OneToOneField(Brand, on_delete=models.CASCADE, primary_key=True, related_name="+")
    entries = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.brand_id}: {self.entries}"


class AuditEntry(models.Model):
    """One staff action or configuration change: who, what, on which object, before and after,
    when. Append-only: a database trigger refuses UPDATE and DELETE
    (brands/migrations/0006_audit_entries), except the DELETE of a whole brand's entries that
    `brands.services.audit_entries_release` announces in the same transaction.

    Written by brands.services.audit_record only, in the transaction of the change it records.
    `action` is one of brands.audit.AuditAction. Contacts, when an entry names one, are named by
    their internal id (the outbox's pseudonymous contact_ref), never by address, phone or the
    brand's external id, so an erasure leaves nothing personal here.
    """

    id = models.BigAutoField(primary_key=True)
    # No index of its own: both indexes below lead with it.
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="audit_entries", db_index=False)
    at = models.DateTimeField()
    actor_kind = models.CharField(max_length=20)
    # Who: a key's public prefix, a username, "os:<user>" for a command, or Candor's component.
    actor_ref = models.CharField(max_length=150)
    actor_name = models.CharField(max_length=200, blank=True)
    # Kept while the person's entries exist (PROTECT): the log must keep saying who it was.
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=64)
    target_type = models.CharField(max_length=40)
    target_id = models.CharField(max_length=255)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    txid = models.BigIntegerField(db_default=TransactionId(), editable=False)

    class Meta:
        verbose_name_plural = "audit entries"
        indexes = [
            # "This brand's entries, newest first", and the keyset pages of it.
            models.Index(
                models.F("brand"), models.F("at").desc(), models.F("id").desc(), name="audit_brand_newest"
            ),
            # One object's history.
            models.Index(
                models.F("brand"),
                models.F("target_type"),
                models.F("target_id"),
                models.F("at").desc(),
                models.F("id").desc(),
                name="audit_brand_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id} by {self.actor_kind}:{self.actor_ref}"
