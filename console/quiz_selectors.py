"""Reads for the quiz builder, each scoped to one brand: the list of quizzes (with how many
people completed each, from the funnel's daily counts, never from responses), one quiz, and
the catalogue the editor chooses from (purposes, topics, notice versions)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import IntegerField, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce

from brands.models import Brand
from consent.models import NoticeVersion, Purpose
from preferences.models import Topic
from quizzes.models import FunnelCount, Quiz


def builder_quizzes(*, brand: Brand) -> list[Quiz]:
    """The brand's quizzes, the last edited first, each with `completions` (every version,
    summed from FunnelCount rows: a few per day and version) in one query."""
    completed = (
        FunnelCount.objects.filter(version__quiz=OuterRef("pk"), step="completed")
        .order_by()
        .values("version__quiz")
        .annotate(total=Sum("count"))
        .values("total")
    )
    return list(
        Quiz.objects.filter(brand=brand)
        .select_related("live_version")
        .annotate(completions=Coalesce(Subquery(completed, output_field=IntegerField()), 0))
        .order_by("-draft_updated_at", "-pk")
    )


def builder_quiz(*, brand: Brand, public_id: str) -> Quiz | None:
    """One quiz of the brand, None for another brand's or none at all."""
    return (
        Quiz.objects.filter(brand=brand, public_id=public_id).select_related("brand", "live_version").first()
    )


@dataclass(frozen=True)
class Catalogue:
    """What the editor's selects offer: (value, label) pairs."""

    purposes: list[tuple[str, str]]
    topics: list[tuple[str, str]]
    notices: list[tuple[str, str]]


def builder_catalogue(*, brand: Brand) -> Catalogue:
    """The brand's purposes, topics and notice versions (newest first per purpose and
    language), in three queries."""
    purposes = [
        (p.slug, f"{p.name} ({p.slug})") for p in Purpose.objects.filter(brand=brand).order_by("slug")
    ]
    topics = [(t.slug, f"{t.name} ({t.slug})") for t in Topic.objects.filter(brand=brand).order_by("slug")]
    versions = (
        NoticeVersion.objects.filter(notice__purpose__brand=brand)
        .select_related("notice__purpose")
        .order_by("notice__purpose__slug", "language", "-version")
    )
    notices = [
        (v.public_id, f"{v.notice.purpose.slug} · {v.language} · v{v.version} ({v.public_id})")
        for v in versions
    ]
    return Catalogue(purposes=purposes, topics=topics, notices=notices)
