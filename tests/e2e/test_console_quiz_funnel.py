"""A quiz's funnel page in Chromium: a viewer signs in by keyboard, opens the demo quiz's funnel,
chooses a version and days with the GET form without JavaScript, and axe finds nothing on the
page (with its figures, and with a refused filter) in English, German and French."""

from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import expect

from brands.models import Membership
from quizzes.demo import onboarding_quiz_ensure
from quizzes.models import FunnelCount
from tests.console.conftest import make_person
from tests.e2e.test_accessibility import axe_report
from tests.e2e.test_console import sign_in_by_keyboard

pytestmark = pytest.mark.e2e

DAY = date(2026, 11, 2)


@pytest.fixture
def viewer(demo):
    person = make_person("viewer@demo.example")
    Membership.objects.create(user=person, brand=demo, role="viewer")
    return person


@pytest.fixture
def funnel_url(demo):
    quiz = onboarding_quiz_ensure(brand=demo)
    steps = {
        "viewed": 400,
        "started": 300,
        "answered:goal": 300,
        "answered:experience": 220,
        "answered:kit": 180,
        "answered:email": 170,
        "answered:tips": 160,
        "completed": 160,
        "outcome:first-steps": 70,
        "outcome:light-and-fast": 50,
        "outcome:long-trail": 40,
        "opted_in:email-marketing": 90,
    }
    FunnelCount.objects.bulk_create(
        FunnelCount(version=quiz.live_version, day=DAY, step=step, count=n) for step, n in steps.items()
    )
    return f"/console/demo/quizzes/{quiz.public_id}/funnel/"


@pytest.mark.parametrize("language", ["en", "de", "fr"])
def test_a_viewer_reads_the_funnel_and_filters_it_without_javascript(
    new_page,
    server,
    viewer,
    funnel_url,
    language,
):
    page = new_page()
    page.context.add_cookies([{"name": "django_language", "value": language, "url": server}])
    sign_in_by_keyboard(page, server, "viewer@demo.example")
    page.wait_for_url(server + "/console/demo/")

    plain = new_page(javascript=False)
    plain.context.add_cookies(page.context.cookies())
    plain.goto(server + funnel_url)
    assert plain.evaluate("document.documentElement.lang") == language
    expect(plain.locator("svg#chart-funnel[role='img']")).to_have_count(1)
    expect(plain.locator("svg#chart-outcomes[role='img']")).to_have_count(1)
    expect(plain.locator("svg#chart-opt-ins[role='img']")).to_have_count(1)
    plain.select_option("#filter-version", "1")
    plain.fill("#filter-from", "2026-11-01")
    plain.fill("#filter-to", "2026-11-30")
    plain.locator("form.filters button[type='submit']").click()
    plain.wait_for_url("**/funnel/?version=1&from=2026-11-01&to=2026-11-30")
    expect(plain.locator("#summary dd").first).to_have_text("400")

    for url in (funnel_url, f"{funnel_url}?from=2026-13-01"):  # the second with its error summary
        page.goto(server + url)
        assert page.evaluate("document.documentElement.lang") == language, url
        expect(page.locator("h1")).to_have_count(1)
        report = axe_report(page)
        assert not report, f"{url}: {report}"
