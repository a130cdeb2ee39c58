"""The Overview's charts and partials: accessible SVG, the figures as tables, in en, de and fr."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from xml.etree import ElementTree

import pytest
from django.utils import translation

from console.charts import (
    BAR_NAME_CHARS,
    PALETTE,
    WIDTH,
    Series,
    bar_chart,
    dashboard_render,
    line_chart,
    overview_charts,
    percent,
    stacked_bar_chart,
)
from console.dashboard import RowsBehind, dashboard_overview
from console.rollups import rollups_refresh
from preferences.services import SubscriptionChange, preferences_update
from tests.conftest import current_version
from tests.console.conftest import decide

SVG = "{http://www.w3.org/2000/svg}"
DAYS = [date(2026, 11, 20) + timedelta(days=n) for n in range(3)]


def parse(svg: object) -> ElementTree.Element:
    """The chart's SVG as XML: our own output, so well-formed (and nothing untrusted)."""
    return ElementTree.fromstring(str(svg))  # noqa: S314 - our own markup, not input


def _luminance(colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


@pytest.mark.parametrize("colour", PALETTE)
def test_every_colour_reads_on_white_at_aa(colour):
    assert (1.05) / (_luminance(colour) + 0.05) >= 4.5


def test_a_line_chart_is_an_image_with_its_title_description_and_names():
    svg = line_chart(
        chart_id="c1",
        title="Opt-in <rate>",
        description="What it shows",
        days=DAYS,
        series=[Series("Email", [0.5, None, 0.25]), Series("SMS", [None, 1.0, 1.0])],
    )
    root = parse(svg)  # well-formed, and every text escaped
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.find(f"{SVG}title").text == "Opt-in <rate>"
    assert root.find(f"{SVG}desc").text == "What it shows"
    paths = [p for p in root.iter(f"{SVG}path")]
    # A gap where a day has no rate: the first line starts again after it; the second is dashed.
    assert [p.get("d").count("M") for p in paths] == [2, 1]
    assert [p.get("stroke-dasharray") for p in paths] == [None, "6 3"]
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "Email 25.0%" in labels  # named at their ends
    assert "SMS 100.0%" in labels
    assert "style" not in str(svg)  # the CSP allows no inline style


def test_stacked_bars_tell_series_apart_by_pattern_and_legend():
    svg = stacked_bar_chart(
        chart_id="u",
        title="Unsubscribes",
        description="d",
        days=DAYS,
        stacks=[Series("One-click", [1, 0, 2]), Series("API", [0, 3, 1])],
    )
    root = parse(svg)
    patterns = [p.get("id") for p in root.iter(f"{SVG}pattern")]
    assert patterns == ["u-p1"]  # the first is solid, the second striped
    fills = [r.get("fill") for r in root.iter(f"{SVG}rect") if r.get("stroke") == "#1a1a1a"]
    # Day by day, bottom up (a zero draws nothing), then the legend's two swatches.
    assert fills == [PALETTE[0], "url(#u-p1)", PALETTE[0], "url(#u-p1)", PALETTE[0], "url(#u-p1)"]
    assert {"One-click", "API"} <= {t.text for t in root.iter(f"{SVG}text")}


def test_bars_have_room_for_their_names_and_values_and_cut_only_a_name_too_long():
    long = "Back-in-stock alerts · Text message (SMS) and a good deal more"
    root = parse(
        bar_chart(
            chart_id="b",
            title="Subscriptions",
            description="d",
            bars=[("Newsletter · Email", 1823), ("Ready for the long trail", 7), (long, 0)],
            format_value=lambda n: f"{n:,.0f} (100.0%)",
        )
    )
    texts = [t.text for t in root.iter(f"{SVG}text")]
    # Whole where the longest fits, a name past the limit cut with "…"; every value whole.
    assert texts == [
        "Newsletter · Email",
        "1,823 (100.0%)",
        "Ready for the long trail",
        "7 (100.0%)",
        long[: BAR_NAME_CHARS - 1] + "…",
        "0 (100.0%)",
    ]
    # The longest bar and its value end inside the chart.
    bar = max(root.iter(f"{SVG}rect"), key=lambda r: float(r.get("width")))
    value = next(t for t in root.iter(f"{SVG}text") if t.text == "1,823 (100.0%)")
    assert float(value.get("x")) + len(value.text) * 6.6 <= WIDTH
    assert float(bar.get("x")) > len("Ready for the long trail") * 6.6


@pytest.mark.parametrize(
    ("language", "rate", "expected"),
    [("en", 0.125, "12.5%"), ("de", 0.125, "12,5\u00a0%"), ("fr", 0.125, "12,5\u00a0%"), ("en", None, "–")],
)
def test_percentages_in_each_language(language, rate, expected):
    with translation.override(language):
        assert percent(rate) == expected


@pytest.fixture
def figures(brand, purpose, news_purpose, topics, contacts):
    contacts(2)
    at = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    decide(brand, "cust-1", purpose, "granted")
    preferences_update(
        brand=brand,
        external_id="cust-2",
        method="api",
        recorded_by="test",
        subscriptions=[
            SubscriptionChange(
                "newsletter",
                "email",
                "subscribed",
                "weekly",
                notice_version=current_version(purpose).public_id,
            )
        ],
    )
    decide(brand, "cust-1", purpose, "withdrawn", method="one_click")
    rollups_refresh(brand=brand)
    return at


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("language", "heading", "rate"),
    [
        ("en", "Opt-in rate per purpose", "50.0%"),
        ("de", "Einwilligungsquote je Zweck", "50,0\u00a0%"),
        ("fr", "Taux de consentement par finalité", "50,0\u00a0%"),
    ],
)
def test_the_overview_renders_charts_and_tables_in_each_language(brand, figures, language, heading, rate):
    overview = dashboard_overview(brand=brand, days=7, language=language)

    def link(rows: RowsBehind) -> str | None:
        return f"/console/{rows.kind}?{rows.query}" if rows.kind == "contacts" else None

    with translation.override(language):
        html = dashboard_render(overview, rows_link=link)
    assert f'<h2 id="optin-heading">{heading}</h2>' in html
    assert html.count('role="img"') == 4
    assert html.count("<table") == 7
    # The opt-in table: one of two decided contacts is active, as a link to the contacts behind it.
    row = re.search(r'<th scope="row">Email Marketing</th>(.*?)</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num">(.*?)</td>', row.group(1))
    assert cells[:3] == [
        rate,
        '<a href="/console/contacts?purpose=email-marketing&amp;consent=granted">1</a>',
        "2",
    ]
    # Where the role may not see the rows (rows_link answers None), the figure is plain.
    assert "/console/consent-events" not in html
    assert "style=" not in html


@pytest.mark.django_db(transaction=True)
def test_every_chart_has_a_description_in_the_language(brand, figures):
    overview = dashboard_overview(brand=brand, days=7, language="de")
    with translation.override("de"):
        charts = overview_charts(overview)
    descriptions = {name: parse(svg).find(f"{SVG}desc").text for name, svg in charts.items()}
    assert descriptions["subscriptions"] == "Rundbrief, E-Mail: 1"
    assert descriptions["cadences"].startswith("Wöchentliche Zusammenfassung: 1")
    assert "Ein-Klick-Abmeldung: 1" in descriptions["unsubscribes"]
