"""Keyboard only (WCAG 2.1.1, 2.4.3, 2.4.7): change a cadence and save without the mouse, with a
visible focus indicator at every stop on the way."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import current_version
from tests.e2e.conftest import HOME, expect_status, focus_is_visible, ledger, open_centre, stored, subscribe

pytestmark = pytest.mark.e2e

MAX_STOPS = 60  # more tab stops than the page has before the Save button


def focused(page) -> str:
    """A short description of the focused element, for failure messages."""
    return page.evaluate(
        """() => {
            const el = document.activeElement;
            if (!el) return "";
            const text = (el.innerText || el.value || "").slice(0, 40);
            return `${el.tagName.toLowerCase()}#${el.id} ${text}`;
        }"""
    )


def press_until(page, key: str, selector: str) -> None:
    """Press `key` until `selector` has focus; every element focused on the way shows it."""
    for _ in range(MAX_STOPS):
        page.keyboard.press(key)
        assert focus_is_visible(page), f"no visible focus on {focused(page)}"
        if page.evaluate("selector => document.activeElement.matches(selector)", selector):
            return
    raise AssertionError(f"{selector} not reached with {key} in {MAX_STOPS} presses (at {focused(page)})")


def test_change_a_cadence_and_save_with_the_keyboard_alone(new_page, server, demo, customer):
    subscribe(demo, customer, ("newsletter", "email"))
    notice = current_version(demo.purposes.get(slug="email-marketing"), "en")
    page = new_page()
    open_centre(page, server, demo, customer)

    # The first stop is the skip link, shown on focus; Enter moves focus to the main content.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    assert focus_is_visible(page)
    box = skip.bounding_box()
    assert box is not None
    assert min(box["x"], box["y"]) >= 0  # on screen, not at -9999px
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()

    # Past the cadence to the next topic's box: Space ticks it. Shift+Tab comes back.
    press_until(page, "Tab", "#sub-offers-email")
    page.keyboard.press("Space")
    expect(page.locator("#sub-offers-email")).to_be_checked()
    press_until(page, "Shift+Tab", "#sub-newsletter-email-cadence")
    # A closed <select> takes its next option from the arrow key, as radio buttons do: still
    # the keyboard alone (Space would open the list, which also needs the arrows).
    page.keyboard.press("ArrowDown")
    expect(page.locator("#sub-newsletter-email-cadence")).to_have_value("monthly")

    press_until(page, "Tab", "#subscriptions button[type=submit]")
    expect(page.get_by_role("button", name="Save my choices")).to_be_focused()
    page.keyboard.press("Enter")

    expect_status(page, "Saved. Your choices are up to date.")
    assert page.url == server + HOME
    assert stored(customer) == {
        ("newsletter", "email"): ("subscribed", "monthly"),
        ("offers", "email"): ("subscribed", "immediate"),
    }
    # The purpose was already granted (through the API): ticking a second topic adds no row.
    assert ledger(customer) == [(1, "email-marketing", "granted", "api", notice.public_id)]


def test_the_focus_indicator_is_visible_on_every_control_of_the_centre(new_page, server, demo, customer):
    """Tab through the whole page: each stop draws an outline or a box-shadow, and no stop is
    hidden behind anything (its centre is the element itself, WCAG 2.4.11)."""
    page = new_page()
    open_centre(page, server, demo, customer)
    seen = 0
    for _ in range(200):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement === document.body"):
            break
        assert focus_is_visible(page), f"no visible focus on {focused(page)}"
        assert page.evaluate(
            """() => {
                const el = document.activeElement;
                const r = el.getBoundingClientRect();
                const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
                return hit !== null && (hit === el || el.contains(hit) || hit.htmlFor === el.id ||
                    (el.labels && [...el.labels].includes(hit)));
            }"""
        ), f"focused element is covered: {focused(page)}"
        seen += 1
    assert seen > 20
