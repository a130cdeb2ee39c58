"""Reads for the catalogue pages (topics, purposes and notices, the theme), each scoped to one
brand, each in a fixed number of queries whatever the number of contacts."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from django.db.models import Count, Q

from brands.models import Brand
from consent.models import ConsentState, Decision, NoticeVersion, Purpose
from preferences.models import Subscription, SubscriptionStatus, Topic
from preferences.selectors import topic_channels

ACTIVE = (SubscriptionStatus.SUBSCRIBED.value, SubscriptionStatus.PENDING.value)


# --- Topics ------------------------------------------------------------------------------


def topic_of(*, brand: Brand, slug: str) -> Topic | None:
    return Topic.objects.filter(brand=brand, slug=slug).select_related("purpose", "sms_purpose").first()


def brand_purposes(*, brand: Brand) -> list[Purpose]:
    return list(Purpose.objects.filter(brand=brand).order_by("slug"))


@dataclass(frozen=True)
class RemovedChannel:
    channel: str
    subscribed: int  # rows subscribed or pending on it
    unsubscribed: int


@dataclass(frozen=True)
class RemovedCadence:
    cadence: str
    rows: int  # subscribed or pending rows on a channel the topic keeps that chose it


@dataclass(frozen=True)
class TopicImpact:
    """What a change of a topic's channels and cadence options does to the contacts' stored
    choices (preferences.topics.topic_update keeps every Subscription row as it is):

    - a removed channel: its rows stay but are no longer read (preferences.selectors lists only
      the topic's channels), so the hosted page and the preferences API stop showing them and a
      change on that channel is refused; offering the channel again brings the choices back;
    - a removed cadence: the rows keep it, but read as the topic's new default cadence (the first
      option, `PreferencesSnapshot.cadence`) until the contact chooses again; offering the cadence
      again brings their choice back."""

    removed_channels: list[RemovedChannel] = field(default_factory=list)
    removed_cadences: list[RemovedCadence] = field(default_factory=list)
    new_default_cadence: str = ""

    @property
    def removes(self) -> bool:
        return bool(self.removed_channels or self.removed_cadences)

    @property
    def affects_anyone(self) -> bool:
        return any(c.subscribed or c.unsubscribed for c in self.removed_channels) or any(
            c.rows for c in self.removed_cadences
        )

    @property
    def key(self) -> str:
        """What a confirmation names: the removals it agreed to."""
        channels = ",".join(c.channel for c in self.removed_channels)
        cadences = ",".join(c.cadence for c in self.removed_cadences)
        return f"channels:{channels};cadences:{cadences}"


def topic_change_impact(*, topic: Topic, channels: list[str], cadence_options: list[str]) -> TopicImpact:
    """One grouped query over the topic's subscription rows (the topic's foreign-key index)."""
    removed_channels = [c for c in topic_channels(topic) if c not in channels]
    removed_cadences = [c for c in topic.cadence_options if c not in cadence_options]
    if not removed_channels and not removed_cadences:
        return TopicImpact(new_default_cadence=cadence_options[0] if cadence_options else "")
    kept = [c for c in topic.channels if c in channels]
    counted = (
        Subscription.objects.filter(brand_id=topic.brand_id, topic=topic)
        .filter(Q(channel__in=removed_channels) | Q(channel__in=kept, cadence__in=removed_cadences))
        .values("channel", "cadence", "status")
        .annotate(n=Count("pk"))
    )
    by_channel: dict[str, list[int]] = {c: [0, 0] for c in removed_channels}
    by_cadence: dict[str, int] = {c: 0 for c in removed_cadences}
    for row in counted:
        if row["channel"] in by_channel:
            by_channel[row["channel"]][0 if row["status"] in ACTIVE else 1] += row["n"]
        elif row["status"] in ACTIVE:
            by_cadence[row["cadence"]] += row["n"]
    return TopicImpact(
        removed_channels=[RemovedChannel(c, *by_channel[c]) for c in removed_channels],
        removed_cadences=[RemovedCadence(c, by_cadence[c]) for c in removed_cadences],
        new_default_cadence=cadence_options[0],
    )


# --- Purposes and notices ----------------------------------------------------------------


def purpose_of(*, brand: Brand, slug: str) -> Purpose | None:
    return Purpose.objects.filter(brand=brand, slug=slug).select_related("notice").first()


def notice_versions_in(*, purpose: Purpose, language: str) -> list[NoticeVersion]:
    """Every version of the purpose's notice in one language, newest first."""
    return list(NoticeVersion.objects.filter(notice__purpose=purpose, language=language).order_by("-version"))


def consented_per_version(*, brand: Brand, version_ids: list[int]) -> dict[int, int]:
    """How many contacts' current consent is a grant given under each version: one grouped
    query on the ConsentState projection, answered by its partial index on granted notice
    versions (never the ledger)."""
    if not version_ids:
        return {}
    counted = (
        ConsentState.objects.filter(brand=brand, decision=Decision.GRANTED, notice_version_id__in=version_ids)
        .values("notice_version_id")
        .annotate(n=Count("pk"))
    )
    found = {row["notice_version_id"]: row["n"] for row in counted}
    return {pk: found.get(pk, 0) for pk in version_ids}


@dataclass(frozen=True)
class Piece:
    kind: str  # equal | insert | delete
    text: str


_WORDS = re.compile(r"\s+|[^\s]+")


def text_diff(before: str, after: str) -> list[Piece]:
    """A word-level diff of two texts, whitespace kept, as equal / inserted / deleted pieces."""
    old, new = _WORDS.findall(before), _WORDS.findall(after)
    pieces: list[Piece] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if op == "equal":
            pieces.append(Piece("equal", "".join(old[i1:i2])))
            continue
        if op in ("delete", "replace"):
            pieces.append(Piece("delete", "".join(old[i1:i2])))
        if op in ("insert", "replace"):
            pieces.append(Piece("insert", "".join(new[j1:j2])))
    return pieces
