"""Reads for the hosted pages, each in a constant number of queries whatever the number of topics.

The readings themselves (how a topic and channel reads, holds, consent states) come from
`preferences.selectors.PreferencesSnapshot` and `consent.selectors.purpose_with_notices`, so the
page and the API can never disagree; this module only arranges them for the templates. What they
are read from comes in one round trip on PostgreSQL (`preferences.statements.centre_rows`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from brands.models import Brand
from config.i18n import labels_in_language
from consent.models import ConsentEvent, ConsentType, Contact, Decision, LegalBasis, NoticeVersion, Purpose
from consent.selectors import PurposeWithNotices, purpose_with_notices
from consent.serializers import ContactOut
from preferences import statements
from preferences.labels import CADENCE_LABELS, CHANNEL_LABELS
from preferences.models import Channel, Hold, HoldStartedBy, SubscriptionStatus, Topic
from preferences.selectors import hold_covers, preferences_get, snapshot_from_rows, topic_channels
from preferences.serializers import PreferencesOut
from preferences.statements import CentreRows, centre_rows

ACTIVE = (SubscriptionStatus.SUBSCRIBED.value, SubscriptionStatus.PENDING.value)


# The lookups every hosted request starts with are written out (preferences.statements): through
# the ORM each costs several times what PostgreSQL takes to answer it.


def brand_for_page(*, slug: str) -> Brand | None:
    return statements.brand_by_slug(slug=slug)


def brand_and_contact_for_page(*, slug: str, contact_id: int) -> tuple[Brand | None, Contact | None]:
    """The brand, and its contact unless erased, in one query (the centre's session names both)."""
    return statements.brand_and_contact(slug=slug, contact_id=contact_id)


def brand_contact_and_centre_rows(
    *, slug: str, brand_id: int, contact_id: int, now: datetime
) -> tuple[Brand | None, Contact | None, CentreRows | None]:
    """As brand_and_contact_for_page, with what `centre_get` reads, in one round trip."""
    return statements.brand_contact_and_centre(slug=slug, brand_id=brand_id, contact_id=contact_id, now=now)


def contact_for_page(*, brand: Brand, contact_id: int) -> Contact | None:
    """The brand's contact, unless erased (an erased contact's links lead nowhere)."""
    return statements.contact_live(brand_id=brand.pk, contact_id=contact_id)


def topic_for_page(*, brand: Brand, topic_id: int) -> Topic | None:
    """The brand's topic with its purpose."""
    return statements.topic_with_purpose(brand_id=brand.pk, topic_id=topic_id)


def notice_current(*, purpose: Purpose, language: str, default_language: str) -> NoticeVersion | None:
    """The purpose's current notice in the language, else the brand's, else any (one query)."""
    current: dict[str, NoticeVersion] = {}
    for version in NoticeVersion.objects.filter(notice__purpose=purpose).order_by("language", "-version"):
        current.setdefault(version.language, version)
    return current.get(language) or current.get(default_language) or next(iter(current.values()), None)


# --- The centre ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelChoice:
    topic: Topic
    channel: str
    status: str  # subscribed | unsubscribed | pending | not_set
    cadence: str
    cadence_options: list[tuple[str, Any]]  # (value, translated label)
    held_until: datetime | None

    @property
    def label(self) -> str:
        return labels_in_language(CHANNEL_LABELS)[self.channel]

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def pending(self) -> bool:
        return self.status == SubscriptionStatus.PENDING

    @property
    def field(self) -> str:
        return f"sub.{self.topic.slug}.{self.channel}"

    @property
    def cadence_field(self) -> str:
        return f"cadence.{self.topic.slug}.{self.channel}"

    @property
    def html_id(self) -> str:
        return f"sub-{self.topic.slug}-{self.channel}"

    @property
    def cadence_label(self) -> Any:
        return dict(self.cadence_options).get(self.cadence, self.cadence)


@dataclass(frozen=True)
class TopicChoices:
    topic: Topic
    name: str
    description: str
    rows: list[ChannelChoice]
    split: bool = False  # its channels sit under more than one notice (texts under their own)

    @property
    def html_id(self) -> str:
        if self.split:
            return f"topic-{self.topic.slug}-{'-'.join(row.channel for row in self.rows)}"
        return f"topic-{self.topic.slug}"


@dataclass(frozen=True)
class PurposeChoices:
    purpose: Purpose
    notice: NoticeVersion | None  # the current version in the page's language (or the nearest)
    state: str  # granted | withdrawn | expired | not_given
    current_notice_ids: frozenset[str]  # every language's current version, for checking a form
    topics: list[TopicChoices] = field(default_factory=list)
    expires_at: datetime | None = None  # of the grant that holds, if it expires

    @property
    def basis(self) -> str:
        """What the page says the processing rests on: "implied" (implied consent, from a
        purchase or an inquiry), "legitimate_interest", "consent" (express) or "other"."""
        if self.purpose.legal_basis == LegalBasis.CONSENT:
            return "implied" if self.purpose.consent_type == ConsentType.IMPLIED else "consent"
        if self.purpose.legal_basis == LegalBasis.LEGITIMATE_INTEREST:
            return "legitimate_interest"
        return "other"

    @property
    def can_object(self) -> bool:
        """A purpose the person never opted into (implied consent, legitimate interest) can be
        objected to here, as long as no objection holds already (GDPR Art. 21, CASL s. 11)."""
        return self.basis in ("implied", "legitimate_interest") and self.state != Decision.WITHDRAWN

    @property
    def granted(self) -> bool:
        return self.state == Decision.GRANTED

    @property
    def heading(self) -> str:
        return self.notice.title if self.notice is not None else self.purpose.name

    @property
    def can_grant(self) -> bool:
        """Only express consent can be given on a page; implied consent arises from a purchase."""
        return (
            self.notice is not None
            and self.purpose.legal_basis == LegalBasis.CONSENT
            and self.purpose.consent_type == ConsentType.EXPRESS
        )

    @property
    def html_id(self) -> str:
        return f"purpose-{self.purpose.slug}"


@dataclass(frozen=True)
class Centre:
    brand: Brand
    contact: Contact
    language: str
    now: datetime
    groups: list[PurposeChoices]  # purposes with topics, in topic order
    service: list[TopicChoices]  # transactional topics
    other_purposes: list[PurposeChoices]  # purposes without topics
    holds: list[Hold]  # active, soonest end first
    channels: list[str]  # the channels marketing topics use, in canonical order
    opted_out: dict[str, bool]
    parts: tuple[Any, ...] = ()  # what preferences.centre_parts' columns read, in order

    @property
    def rows(self) -> list[ChannelChoice]:
        return [row for group in self.groups for topic in group.topics for row in topic.rows]

    @property
    def purposes(self) -> dict[str, PurposeChoices]:
        return {group.purpose.slug: group for group in [*self.groups, *self.other_purposes]}

    @property
    def customer_holds(self) -> list[Hold]:
        return [hold for hold in self.holds if hold.started_by == HoldStartedBy.CUSTOMER]

    @property
    def agent_holds(self) -> list[Hold]:
        return [hold for hold in self.holds if hold.started_by == HoldStartedBy.AGENT]

    @property
    def paused_until(self) -> datetime | None:
        return max((hold.until for hold in self.holds), default=None)


def _notice_for(entry: PurposeWithNotices, language: str, default_language: str) -> NoticeVersion | None:
    by_language = {version.language: version for version in entry.current_versions}
    return by_language.get(language) or by_language.get(default_language) or entry.default_version


def _state(snapshot_state: Any, now: datetime) -> str:
    if snapshot_state is None:
        return "not_given"
    if snapshot_state.decision == Decision.GRANTED:
        expired = snapshot_state.expires_at is not None and snapshot_state.expires_at <= now
        return "expired" if expired else Decision.GRANTED.value
    return str(snapshot_state.decision)


def _expires_at(snapshot_state: Any, now: datetime) -> datetime | None:
    if snapshot_state is None or snapshot_state.decision != Decision.GRANTED:
        return None
    expires_at: datetime | None = snapshot_state.expires_at
    return expires_at if expires_at is not None and expires_at > now else None


def centre_get(
    *,
    brand: Brand,
    contact: Contact,
    language: str,
    now: datetime | None = None,
    rows: CentreRows | None = None,
) -> Centre:
    """Everything the preference centre shows, in the same number of queries for 1 or 100 topics:
    the snapshot (5), the active holds with their topics and the purposes with their notices,
    sent in one round trip on PostgreSQL (preferences.statements.centre_rows), unless `rows`
    were read already (brand_contact_and_centre_rows)."""
    if rows is None:
        rows = centre_rows(contact=contact, now=now or timezone.now())
    now = rows.now
    snapshot = snapshot_from_rows(contact=contact, rows=rows.snapshot, now=now)
    holds = rows.holds
    purposes = [
        purpose_with_notices(brand=brand, purpose=item.purpose, versions=item.versions)
        for item in rows.purposes
    ]

    cadence_labels = labels_in_language(CADENCE_LABELS)

    def topic_choices(topic: Topic, channels: list[str], *, split: bool = False) -> TopicChoices:
        name, description = topic.text(language)
        rows = []
        for channel in channels:
            covering = [hold.until for hold in holds if hold_covers(hold, topic, channel)]
            rows.append(
                ChannelChoice(
                    topic=topic,
                    channel=channel,
                    status=snapshot.status(topic, channel),
                    cadence=snapshot.cadence(topic, channel),
                    cadence_options=[
                        (option, cadence_labels.get(option, option)) for option in topic.cadence_options
                    ],
                    held_until=max(covering) if covering else None,
                )
            )
        return TopicChoices(topic=topic, name=name, description=description, rows=rows, split=split)

    by_purpose: dict[int, list[TopicChoices]] = {}
    service: list[TopicChoices] = []
    channels: set[str] = set()
    for topic in snapshot.topics:
        if topic.transactional or topic.purpose_id is None:
            service.append(topic_choices(topic, topic_channels(topic)))
            continue
        # A topic's channels sit under the notice of the purpose each needs (texts may have
        # their own), so a box is never shown under a notice it is not recorded against.
        by_channel_purpose: dict[int, list[str]] = {}
        for channel in topic_channels(topic):
            purpose_id = topic.purpose_id_for(channel)
            assert purpose_id is not None
            by_channel_purpose.setdefault(purpose_id, []).append(channel)
        for purpose_id, topic_channel_list in by_channel_purpose.items():
            by_purpose.setdefault(purpose_id, []).append(
                topic_choices(topic, topic_channel_list, split=len(by_channel_purpose) > 1)
            )
        channels.update(topic.channels)

    groups: dict[int, PurposeChoices] = {}
    others: list[PurposeChoices] = []
    for entry in purposes:
        purpose = entry.purpose
        choices = PurposeChoices(
            purpose=purpose,
            notice=_notice_for(entry, language, brand.default_language),
            state=_state(snapshot.states.get(purpose.pk), now),
            expires_at=_expires_at(snapshot.states.get(purpose.pk), now),
            current_notice_ids=frozenset(version.public_id for version in entry.current_versions),
            topics=by_purpose.get(purpose.pk, []),
        )
        if choices.topics:
            groups[purpose.pk] = choices
        else:
            others.append(choices)
    # Groups follow the order of their first topic, as the brand arranged the topics.
    ordered = sorted(
        groups.values(), key=lambda group: (group.topics[0].topic.position, group.topics[0].topic.slug)
    )
    return Centre(
        brand=brand,
        contact=contact,
        language=language,
        now=now,
        groups=ordered,
        service=service,
        other_purposes=others,
        holds=holds,
        channels=[channel for channel in Channel.values if channel in channels],
        opted_out={channel: snapshot.opted_out(channel) for channel in Channel.values},
        parts=rows.parts,
    )


# --- Download my data ------------------------------------------------------------------------


def _evidence(event: ConsentEvent) -> dict[str, Any] | None:
    evidence = getattr(event, "evidence", None)
    if evidence is None:
        return None
    return {
        "ip": evidence.ip,
        "user_agent": evidence.user_agent,
        "page_url": evidence.page_url,
        "gpc": evidence.gpc,
        "tc_string": evidence.tc_string,
        "gpp_string": evidence.gpp_string,
        "phone": evidence.phone,
        "message": evidence.message,
        # Double opt-in proof (compliance #9): the sign-up request and the email that was sent.
        "opt_in_request": (
            {
                **evidence.opt_in_request,
                "ip": evidence.opt_in_request_ip,
                "user_agent": evidence.opt_in_request_user_agent,
            }
            if evidence.opt_in_request
            else None
        ),
        "erased": evidence.erased_at is not None,
    }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def contact_export(*, brand: Brand, contact: Contact) -> dict[str, Any]:
    """The contact's data as JSON (GDPR Art. 15 and 20): profile, preferences, every consent
    decision with its notice and evidence, oldest first."""
    now = timezone.now()
    preferences = preferences_get(brand=brand, contact=contact, now=now)
    events = (
        ConsentEvent.objects.filter(contact=contact)
        .select_related("purpose", "notice_version", "evidence")
        .order_by("sequence")
    )
    history = [
        {
            "event_id": str(event.id),
            "sequence": event.sequence,
            "purpose": event.purpose.slug,
            "decision": event.decision,
            "consent_type": event.consent_type,
            "method": event.method,
            "actor": event.actor,
            "jurisdiction": event.jurisdiction,
            "occurred_at": _iso(event.occurred_at),
            "recorded_at": _iso(event.recorded_at),
            "expires_at": _iso(event.expires_at),
            "notice_version": (
                {
                    "id": event.notice_version.public_id,
                    "language": event.notice_version.language,
                    "title": event.notice_version.title,
                    "text": event.notice_version.text,
                    "hash": event.notice_version.content_hash,
                }
                if event.notice_version
                else None
            ),
            "evidence": _evidence(event),
            "hash": event.hash,
            "prev_hash": event.prev_hash,
        }
        for event in events
    ]
    return {
        "format": "candor.export.v1",
        "exported_at": _iso(now),
        "controller": {
            "name": brand.name,
            "contact_email": brand.contact_email,
            "website": brand.website,
            "address": brand.address,
            "privacy_policy_url": brand.privacy_policy_url,
        },
        "contact": dict(ContactOut(contact).data),
        "preferences": dict(PreferencesOut(preferences).data),
        "consent_history": history,
    }
