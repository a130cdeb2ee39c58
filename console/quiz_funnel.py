"""A quiz's funnel in the console: the filters (a version, a range of UTC days), the reads behind
them, and what the page draws (console/views/quiz_funnel.py, console/quizzes/funnel.html).

The figures are the API's (quizzes.selectors.funnel_get: the FunnelCount rollups, never the
responses); this module only names the steps the way a marketer reads them and draws them with
console.charts, each chart with a table of the same figures beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from markupsafe import Markup

from brands.models import Brand
from consent.models import Purpose
from console.charts import _language_fixed, bar_chart, day_long, number, percent
from preferences.forms import PageForm
from quizzes import markup
from quizzes.document import Document, parse
from quizzes.models import Quiz, QuizVersion
from quizzes.selectors import Funnel


class FunnelFiltersForm(PageForm):
    """`version` (a published version's number; blank: the live one), `from` and `to` (UTC
    days, both included; blank: open), as the API's funnel takes them."""

    version = forms.TypedChoiceField(label=_("Version"), coerce=int, required=False, empty_value=None)

    def __init__(self, *args: Any, versions: list[int], live: int | None, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "filter-%s")
        super().__init__(*args, **kwargs)
        # `from` cannot be a class attribute's name.
        self.fields["from"] = forms.DateField(
            label=_("From (UTC day)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
        )
        self.fields["to"] = forms.DateField(
            label=_("To (UTC day, included)"), required=False, widget=forms.DateInput(attrs={"type": "date"})
        )
        live_label = gettext("The live version (%(number)s)") % {"number": live} if live else gettext("None")
        choices = [("", live_label)] + [
            (str(n), gettext("Version %(number)s") % {"number": n}) for n in sorted(versions, reverse=True)
        ]
        cast(forms.ChoiceField, self.fields["version"]).choices = choices

    def clean(self) -> dict[str, Any]:
        data = cast(dict[str, Any], super().clean())
        start, end = data.get("from"), data.get("to")
        if start and end and start > end:
            self.add_error("to", _("The last day must not be before the first."))
        return data


def purpose_names(*, brand: Brand, slugs: list[str]) -> dict[str, str]:
    """The brand's purposes' names by slug, for the opt-ins (a slug no longer found stays a slug)."""
    return dict(Purpose.objects.filter(brand=brand, slug__in=slugs).values_list("slug", "name"))


def quiz_version_numbers(*, quiz: Quiz) -> list[int]:
    """The numbers of the quiz's published versions (the quiz was read through its brand)."""
    return list(QuizVersion.objects.filter(quiz=quiz).order_by("number").values_list("number", flat=True))


@dataclass(frozen=True)
class Step:
    label: str  # in words; a question's text in the quiz's language
    key: str  # "viewed", "started", a question's id, "completed"
    count: int
    of_viewed: float | None
    lost: int | None  # fewer than at the step before (None for the first step)
    lost_rate: float | None


@dataclass(frozen=True)
class Named:
    label: str
    key: str
    count: int
    rate: float | None


def _text(texts: Any, document: Document) -> str:
    return markup.plain(texts.get(document.language) or next(iter(texts.values()), "")) if texts else ""


def funnel_view(funnel: Funnel, document: Document | None, purposes: dict[str, str]) -> dict[str, Any]:
    """The page's figures in words and its three charts, in the language active now;
    `purposes` names the purposes by slug."""
    with _language_fixed():
        return _funnel_view(funnel, document, purposes)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _funnel_view(funnel: Funnel, document: Document | None, purposes: dict[str, str]) -> dict[str, Any]:
    questions = {q.id: q for q in document.questions} if document else {}
    outcomes = {o.id: o for o in document.outcomes} if document else {}
    steps = [
        Step(
            gettext("Viewed the quiz"),
            "viewed",
            funnel.viewed,
            _rate(funnel.viewed, funnel.viewed),
            None,
            None,
        )
    ]
    steps.append(
        Step(
            gettext("Started (answered the first question)"),
            "started",
            funnel.started,
            _rate(funnel.started, funnel.viewed),
            funnel.viewed - funnel.started,
            _rate(funnel.viewed - funnel.started, funnel.viewed),
        )
    )
    for n, question in enumerate(funnel.questions, start=1):
        text = _text(questions[question.key].text, document) if question.key in questions and document else ""
        steps.append(
            Step(
                gettext("Question %(number)s: %(text)s") % {"number": n, "text": text or question.key},
                question.key,
                question.answered,
                _rate(question.answered, funnel.viewed),
                question.drop_off,
                question.drop_off_rate,
            )
        )
    before = funnel.questions[-1].answered if funnel.questions else funnel.started
    steps.append(
        Step(
            gettext("Completed"),
            "completed",
            funnel.completed,
            _rate(funnel.completed, funnel.viewed),
            before - funnel.completed,
            _rate(before - funnel.completed, before),
        )
    )
    shares = [
        Named(
            _text(outcomes[s.key].title, document) if s.key in outcomes and document else s.key,
            s.key,
            s.count,
            s.rate,
        )
        for s in funnel.outcomes
    ]
    opt_ins = [Named(purposes.get(s.key, s.key), s.key, s.count, s.rate) for s in funnel.opt_ins]
    charts = _charts(funnel, steps, shares, opt_ins)
    return {"steps": steps, "outcomes": shares, "opt_ins": opt_ins, "charts": charts}


def _period(since: date | None, until: date | None) -> str:
    if since and until:
        return gettext("from %(start)s to %(end)s") % {"start": day_long(since), "end": day_long(until)}
    if since:
        return gettext("since %(start)s") % {"start": day_long(since)}
    if until:
        return gettext("until %(end)s") % {"end": day_long(until)}
    return gettext("since the version was published")


def _charts(
    funnel: Funnel, steps: list[Step], outcomes: list[Named], opt_ins: list[Named]
) -> dict[str, Markup]:
    period = _period(funnel.since, funnel.until)
    viewed = funnel.viewed

    def of_viewed(value: float) -> str:
        return f"{number(value)} ({percent(_rate(int(value), viewed))})"

    people = bar_chart(
        chart_id="chart-funnel",
        title=gettext("How far people got"),
        description=gettext("People at each step of the quiz, %(period)s: %(steps)s")
        % {
            "period": period,
            "steps": "; ".join(f"{step.label}: {of_viewed(step.count)}" for step in steps),
        },
        bars=[(step.label, step.count) for step in steps],
        format_value=of_viewed,
    )
    shares = bar_chart(
        chart_id="chart-outcomes",
        title=gettext("Outcomes"),
        description="; ".join(f"{o.label}: {number(o.count)} ({percent(o.rate)})" for o in outcomes)
        or gettext("This quiz has no outcomes."),
        bars=[(o.label, o.rate or 0.0) for o in outcomes],
        format_value=percent,
        top=1.0,
    )
    consents = bar_chart(
        chart_id="chart-opt-ins",
        title=gettext("Opt-in rate per purpose"),
        description="; ".join(f"{o.label}: {percent(o.rate)}" for o in opt_ins)
        or gettext("This quiz asks for no consent."),
        bars=[(o.label, o.rate or 0.0) for o in opt_ins],
        format_value=percent,
        top=1.0,
    )
    return {"funnel": people, "outcomes": shares, "opt_ins": consents}


def document_of(version: QuizVersion | None) -> Document | None:
    return parse(version.document) if version is not None else None
