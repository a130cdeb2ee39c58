from __future__ import annotations

import secrets
import uuid
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db import models

from brands.models import SLUG_VALIDATOR, Brand

GENESIS_HASH = "0" * 64


class Contact(models.Model):
    """A brand's customer, known by the brand's own external id.

    The row outlives erasure as a pseudonymous shell (email and phone cleared,
    `email_hmac` kept) so the ledger that points at it stays whole.
    """

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="contacts")
    external_id = models.CharField(max_length=255)
    email = models.EmailField(max_length=254, null=True, blank=True)
    email_hmac = models.CharField(max_length=64, null=True, blank=True)
    phone = models.CharField(max_length=16, null=True, blank=True, help_text="E.164")
    locale = models.CharField(max_length=35, blank=True)
    timezone = models.CharField(max_length=64, blank=True)
    jurisdiction = models.CharField(max_length=10, blank=True)
    # Chain head and outbox counter: the row lock on the contact serialises its writes.
    ledger_sequence = models.PositiveBigIntegerField(default=0)
    ledger_head = models.CharField(max_length=64, default=GENESIS_HASH)
    event_sequence = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    erased_at = models.DateTimeField(null=True, blank=True)
    # True while the address is on the brand's suppression list (an earlier contact with it was
    # erased): no marketing until the person opts in again. Kept by consent.services and
    # consent.erasure, so the write path reads it in the statement that locks the contact.
    suppressed = models.BooleanField(
        default=False, help_text="The address is on the suppression list: no marketing until a new opt-in"
    )
    # The hosted centre's sessions carry the generation they were started in; signing out bumps
    # it, so every earlier cookie is refused even if replayed (read with the contact's row).
    page_session_generation = models.PositiveIntegerField(default=0, db_default=0, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "external_id"], name="contact_unique_brand_external_id"),
        ]
        indexes = [
            models.Index(fields=["brand", "email_hmac"], name="contact_brand_email_hmac"),
            # A number's contacts: an inbound STOP, a vendor's "no" by phone, an address left.
            models.Index(
                fields=["brand", "phone"], name="contact_brand_phone", condition=models.Q(phone__isnull=False)
            ),
        ]

    def __str__(self) -> str:
        return self.external_id


class LegalBasis(models.TextChoices):
    CONSENT = "consent", "Consent"
    LEGITIMATE_INTEREST = "legitimate_interest", "Legitimate interest"
    CONTRACT = "contract", "Contract"
    LEGAL_OBLIGATION = "legal_obligation", "Legal obligation"
    VITAL_INTEREST = "vital_interest", "Vital interest"
    PUBLIC_TASK = "public_task", "Public task"


class ConsentType(models.TextChoices):
    EXPRESS = "express", "Express"
    IMPLIED = "implied", "Implied"


class DpvPurpose(models.TextChoices):
    MARKETING = "dpv:Marketing", "Marketing"
    DIRECT_MARKETING = "dpv:DirectMarketing", "Direct marketing"
    SERVICE_PERSONALISATION = "dpv:ServicePersonalisation", "Service personalisation"
    PERSONALISED_ADVERTISING = "dpv:PersonalisedAdvertising", "Personalised advertising"
    SERVICE_PROVISION = "dpv:ServiceProvision", "Service provision"


class PersonalDataCategory(models.TextChoices):
    """Categories of personal data from the DPV personal data taxonomy (https://w3id.org/dpv/pd#)."""

    EMAIL_ADDRESS = "pd:EmailAddress", "Email address"
    TELEPHONE_NUMBER = "pd:TelephoneNumber", "Telephone number"
    NAME = "pd:Name", "Name"
    PREFERENCE = "pd:Preference", "Preferences"
    INTEREST = "pd:Interest", "Interests"
    AGE = "pd:Age", "Age"
    LOCATION = "pd:Location", "Location"
    IP_ADDRESS = "pd:IPAddress", "IP address"
    BROWSING_BEHAVIOR = "pd:BrowsingBehavior", "Browsing behaviour"
    PURCHASES = "pd:PurchasesAndSpendingHabit", "Purchases and spending habits"


def _personal_data_check(value: object) -> None:
    if not isinstance(value, list) or not all(item in PersonalDataCategory.values for item in value):
        raise ValidationError(f"Use a list of DPV categories: {', '.join(PersonalDataCategory.values)}.")


def _third_parties_check(value: object) -> None:
    if not isinstance(value, list) or not all(
        isinstance(item, str) and item.strip() and len(item) <= 200 for item in value
    ):
        raise ValidationError("Use a list of names (1–200 characters each).")


MARKETING_PURPOSES = frozenset(
    purpose.value
    for purpose in (DpvPurpose.MARKETING, DpvPurpose.DIRECT_MARKETING, DpvPurpose.PERSONALISED_ADVERTISING)
)


class Purpose(models.Model):
    """A reason to process data, with its legal basis."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="purposes")
    slug = models.CharField(max_length=50, validators=[SLUG_VALIDATOR])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    legal_basis = models.CharField(max_length=30, choices=LegalBasis.choices, default=LegalBasis.CONSENT)
    consent_type = models.CharField(max_length=10, choices=ConsentType.choices, default=ConsentType.EXPRESS)
    lifetime_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Grants expire after this many days; empty means the basis decides",
    )
    dpv_purpose = models.CharField(max_length=40, choices=DpvPurpose.choices, default=DpvPurpose.MARKETING)
    sale_or_sharing = models.BooleanField(
        default=False,
        help_text="Selling or sharing personal data (CCPA/CPRA): a Global Privacy Control signal "
        "(Sec-GPC: 1) withdraws it",
    )
    # Receipts name them (Kantara thirdPartyDisclosure/thirdPartyName, DPV hasRecipient).
    third_parties = models.JSONField(
        default=list,
        blank=True,
        validators=[_third_parties_check],
        help_text="Who the data is sold or disclosed to, by name",
    )
    personal_data = models.JSONField(
        default=list,
        blank=True,
        validators=[_personal_data_check],
        help_text="Categories of personal data the purpose uses (DPV personal data taxonomy)",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["brand", "slug"], name="purpose_unique_brand_slug")]

    def __str__(self) -> str:
        return self.slug

    @property
    def is_marketing(self) -> bool:
        """Does a suppressed address block it (and a fresh opt-in to it lift the suppression)?"""
        return self.sale_or_sharing or self.dpv_purpose in MARKETING_PURPOSES


class Notice(models.Model):
    """The notice shown when asking for one purpose; its text lives in immutable versions."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="notices")
    purpose = models.OneToOneField(Purpose, on_delete=models.PROTECT, related_name="notice")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"notice for {self.purpose.slug}"


def new_notice_version_id() -> str:
    return f"nv_{secrets.token_urlsafe(12)}"


class NoticeVersion(models.Model):
    """The exact text shown, in one language. Never edited (a trigger refuses UPDATE and DELETE)."""

    public_id = models.CharField(max_length=32, unique=True, default=new_notice_version_id, editable=False)
    notice = models.ForeignKey(Notice, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    language = models.CharField(max_length=10)
    title = models.CharField(max_length=200)
    text = models.TextField()
    content_hash = models.CharField(max_length=64, help_text="SHA-256 of language, title and text")
    published_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["notice", "language", "version"],
                name="noticeversion_unique_notice_language_version",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.language} v{self.version})"


class Decision(models.TextChoices):
    GRANTED = "granted", "Granted"
    WITHDRAWN = "withdrawn", "Withdrawn"
    # Not a person's decision: Candor records that a grant ran out (consent.services.consents_expire).
    EXPIRED = "expired", "Expired"


# What a person (or a brand on their behalf) may decide; EXPIRED is recorded by Candor only.
DECISIONS_GIVEN = (Decision.GRANTED.value, Decision.WITHDRAWN.value)


class Method(models.TextChoices):
    API = "api", "API"
    PREFERENCE_CENTRE = "preference_centre", "Preference centre"
    QUIZ = "quiz", "Quiz"
    ONE_CLICK = "one_click", "One-click unsubscribe"
    IMPORT = "import", "Import"
    GPC = "gpc", "Global Privacy Control"
    AGENT = "agent", "Support agent"
    SMS = "sms", "Text message reply"
    EXPIRY = "expiry", "Expiry (recorded by Candor)"
    CONNECTOR = "connector", "A connected vendor (CRM or email tool)"


class ConsentEvent(models.Model):
    """One consent decision: an append-only, hash-chained ledger row (one chain per contact).

    The hash covers ids, the decision, the notice hash and a digest of the evidence,
    never personal data itself, so erasing the evidence row leaves every chain valid.
    UPDATE and DELETE are refused by a database trigger.
    """

    # Every index costs each ledger write: the contact is covered by (contact, sequence), and
    # nothing looks events up by notice version.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    contact = models.ForeignKey(
        Contact, on_delete=models.PROTECT, related_name="consent_events", db_index=False
    )
    sequence = models.PositiveBigIntegerField()
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    notice_version = models.ForeignKey(
        NoticeVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    consent_type = models.CharField(max_length=10, choices=ConsentType.choices)
    method = models.CharField(max_length=20, choices=Method.choices)
    actor = models.CharField(max_length=200, help_text="Who expressed it: 'subject' or the agent")
    recorded_by = models.CharField(max_length=200, help_text="Which credential or interface wrote it")
    jurisdiction = models.CharField(max_length=10, blank=True)
    occurred_at = models.DateTimeField(help_text="When the person decided")
    recorded_at = models.DateTimeField(help_text="When Candor recorded it")
    expires_at = models.DateTimeField(null=True, blank=True)
    evidence_digest = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "sequence"], name="consentevent_unique_contact_sequence"
            ),
        ]
        indexes = [
            # The console's rows behind a figure (console.rows.consent_events_list): a brand's
            # events in a range of days, newest first, read in keyset pages without a scan.
            models.Index(fields=["brand", "recorded_at", "id"], name="consentevent_brand_recorded"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} {self.purpose_id} #{self.sequence}"


class ConsentEvidence(models.Model):
    """The personal part of an event's evidence. Erasure clears it; the event keeps its digest.

    The random salt makes the digest impossible to reverse by guessing IPs once it is gone.
    """

    event = models.OneToOneField(
        ConsentEvent, on_delete=models.PROTECT, primary_key=True, related_name="evidence"
    )
    salt = models.CharField(max_length=32, default="")
    ip = models.CharField(max_length=45, blank=True, help_text="Truncated to /24 (IPv4) or /48 (IPv6)")
    user_agent = models.CharField(max_length=512, blank=True)
    page_url = models.URLField(max_length=2000, blank=True)
    gpc = models.BooleanField(null=True)
    tc_string = models.TextField(blank=True, help_text="Stored verbatim, never generated")
    gpp_string = models.TextField(blank=True, help_text="Stored verbatim, never generated")
    phone = models.CharField(
        max_length=16, blank=True, help_text="E.164: the number consent to texts covers, or a reply came from"
    )
    message = models.JSONField(
        null=True, blank=True, help_text="An inbound text that expressed the decision: id, from, to, body"
    )
    # Double opt-in proof on the grant a confirmation recorded (compliance #9): the sign-up
    # request's own IP and user agent (personal, erased) and what is not personal and stays:
    # when it was asked for and which confirmation email went out (template, language, digest).
    opt_in_request_ip = models.CharField(
        max_length=45, blank=True, help_text="The sign-up request's IP, truncated like `ip`"
    )
    opt_in_request_user_agent = models.CharField(max_length=512, blank=True)
    opt_in_request = models.JSONField(
        null=True,
        blank=True,
        help_text="requested_at and confirmation_email {template, language, digest, sent_at}",
    )
    erased_at = models.DateTimeField(null=True, blank=True)

    # The personal fields and what erasure (or a retention purge) leaves in them: one list for
    # consent.erasure, consent.retention, verify_ledger and the database's erasure-only trigger.
    ERASED_VALUES: ClassVar[dict[str, Any]] = {
        "salt": "",
        "ip": "",
        "user_agent": "",
        "page_url": "",
        "tc_string": "",
        "gpp_string": "",
        "phone": "",
        "message": None,
        "opt_in_request_ip": "",
        "opt_in_request_user_agent": "",
    }

    def __str__(self) -> str:
        return f"evidence of {self.event_id}"


class ConsentState(models.Model):
    """Projection of the ledger: the decision that currently holds per contact and purpose.

    Follows the event with the latest occurred_at (withdrawal wins ties), so a late
    older grant is kept as evidence but never overrides a newer withdrawal.
    """

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    # Looked up by (contact, purpose), the unique index; the other keys are never searched.
    contact = models.ForeignKey(
        Contact, on_delete=models.PROTECT, related_name="consent_states", db_index=False
    )
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    event = models.ForeignKey(ConsentEvent, on_delete=models.PROTECT, related_name="+", db_index=False)
    event_sequence = models.PositiveBigIntegerField()
    notice_version = models.ForeignKey(
        NoticeVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    occurred_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["contact", "purpose"], name="consentstate_unique_contact_purpose"
            ),
        ]
        indexes = [
            # The console's count of contacts who consented under each notice version: with the
            # brand in it, an index-only count.
            models.Index(
                fields=["notice_version", "brand"],
                condition=models.Q(decision="granted"),
                name="consentstate_granted_notice",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id}/{self.purpose_id}: {self.decision}"


class SuppressionReason(models.TextChoices):
    ERASED = "erased", "Erased at the person's request"


class Suppression(models.Model):
    """An address the brand must not market to again: only its HMAC pseudonym is kept.

    Written by erasure; a contact created or changed to the same address reads `suppressed`
    until the person opts in to a marketing purpose again, which deletes this row.
    """

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    email_hmac = models.CharField(max_length=64)
    reason = models.CharField(max_length=20, choices=SuppressionReason.choices)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "email_hmac"], name="suppression_unique_brand_email_hmac"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.brand_id}/{self.email_hmac[:12]}…: {self.reason}"


class RightsRequestKind(models.TextChoices):
    ACCESS = "access", "Access (a copy of the data, GDPR Art. 15 and 20)"
    ERASURE = "erasure", "Erasure (GDPR Art. 17)"


class RightsRequest(models.Model):
    """One access or erasure request that was carried out, and who made it: the ledger of
    requests, beside the ledger of decisions. Append-only (a trigger refuses UPDATE and
    DELETE) and kept when the contact is erased, as proof the request was answered.

    `actor` is "subject" on the hosted pages, the API key by its public prefix through the API,
    or the staff member in the admin; never a secret."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="rights_requests")
    kind = models.CharField(max_length=10, choices=RightsRequestKind.choices)
    requested_via = models.CharField(max_length=20, choices=Method.choices)
    actor = models.CharField(max_length=200)
    reason = models.CharField(max_length=500, blank=True, help_text="Why, in the requester's words")
    requested_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["contact", "requested_at"], name="rightsrequest_contact_time")]

    def __str__(self) -> str:
        return f"{self.kind} of {self.contact_id} by {self.actor}"


class EvidencePurge(models.Model):
    """Audit row of one retention purge (compliance #13): the contact's evidence rows that lost
    their personal fields because the brand's retention period after the relationship ended
    had passed. Append-only (a trigger refuses UPDATE and DELETE). `purged_at` equals the
    `erased_at` the purge gave those evidence rows, which is how verify_ledger accounts for
    erased evidence of a contact that is not itself erased."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    contact = models.ForeignKey(Contact, on_delete=models.PROTECT, related_name="evidence_purges")
    purged_at = models.DateTimeField()
    evidence_rows = models.PositiveIntegerField()
    retention_days = models.PositiveIntegerField(help_text="The brand's policy when it ran")
    relationship_ended_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"purge of {self.contact_id} at {self.purged_at}"


class LedgerCheckpoint(models.Model):
    """A signed tree head: the Merkle root (consent.merkle) over every chain head of the brand
    at one moment, signed with the brand's receipt key. Copies leave Candor through the outbox
    (`ledger.checkpoint`), so a rewrite of the ledger after it cannot go unnoticed.

    `leaves` holds the tree's leaves (48 bytes each) so that verify_ledger can name the contact
    whose chain no longer matches; they are checked against the signed root before any use.
    Append-only (a trigger refuses UPDATE and DELETE)."""

    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+")
    number = models.PositiveBigIntegerField(help_text="Per brand, from 1")
    issued_at = models.DateTimeField()
    tree_size = models.PositiveBigIntegerField()
    root_hash = models.CharField(max_length=64)
    previous_root_hash = models.CharField(max_length=64, blank=True)
    kid = models.CharField(max_length=64)
    jws = models.TextField(help_text="Compact ES256 JWS over the signed checkpoint")
    leaves = models.BinaryField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "number"], name="ledgercheckpoint_unique_brand_number"),
        ]

    def __str__(self) -> str:
        return f"checkpoint {self.number} of {self.brand_id}"
