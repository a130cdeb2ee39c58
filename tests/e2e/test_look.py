"""How the hosted pages look and lay out in Chromium (issue 11, "The hosted page"): the brand's
logo loads under the page's CSP, switches are checkboxes with a label, a visible focus, a 3:1
outline and a 24x24 target, stacked buttons keep apart, the masthead keeps off the screen's edge
on a phone, and "Saved" after a change of language shows in the new language in view."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from consent.models import ConsentEvent
from preferences.tokens import LinkKind
from tests.e2e.conftest import HOME, focus_is_visible, link, open_centre, subscribe

pytestmark = pytest.mark.e2e

PHONE = {"width": 375, "height": 812}
MIN_GAP = 8  # CSS px between two buttons stacked one above the other


def box(page: Any, selector: str) -> dict[str, float]:
    found = page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not shown"
    return dict(found)


def gap_below(upper: dict[str, float], lower: dict[str, float]) -> float:
    return lower["y"] - (upper["y"] + upper["height"])


def contrast(page: Any, foreground: str, background: str) -> float:
    """WCAG contrast of two CSS colours (as computed styles give them)."""
    return float(
        page.evaluate(
            """([a, b]) => {
                const lum = (css) => {
                    const [r, g, b] = css.match(/[0-9.]+/g).slice(0, 3).map(Number).map((v) => {
                        v /= 255;
                        return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
                    });
                    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
                };
                const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
                return (hi + 0.05) / (lo + 0.05);
            }""",
            [foreground, background],
        )
    )


def test_the_brands_logo_loads_with_its_name_as_alt_text(new_page, server, demo, customer):
    page = new_page()
    open_centre(page, server, demo, customer)

    logo = page.locator(".masthead__logo")
    expect(logo).to_have_attribute("alt", "Demo Outfitters")
    assert page.evaluate("document.querySelector('.masthead__logo').naturalWidth") > 0


def test_a_switch_is_a_labelled_checkbox_with_a_visible_focus_contrast_and_target(
    new_page, server, demo, customer
):
    page = new_page()
    open_centre(page, server, demo, customer)

    switch = page.locator("#sub-newsletter-email")
    assert switch.evaluate("el => [el.type, el.labels.length, el.labels[0].textContent]") == [
        "checkbox",
        1,
        "Email",
    ]
    target = box(page, "#sub-newsletter-email")
    assert target["width"] >= 24
    assert target["height"] >= 24
    colours = switch.evaluate(
        "el => [getComputedStyle(el).borderTopColor, getComputedStyle(el.closest('.card')).backgroundColor]"
    )
    assert contrast(page, *colours) >= 3
    switch.focus()
    page.keyboard.press("Space")
    expect(switch).to_be_checked()
    assert focus_is_visible(page)
    checked = switch.evaluate("el => getComputedStyle(el).backgroundColor")
    assert contrast(page, checked, colours[1]) >= 3
    page.locator("label[for=sub-newsletter-email]").click()  # the label toggles it, as any checkbox's
    expect(switch).not_to_be_checked()


def test_on_a_phone_the_sign_out_button_keeps_off_the_top_edge(new_page, server, demo, customer):
    page = new_page(**PHONE)
    open_centre(page, server, demo, customer)

    assert box(page, ".masthead__form button")["y"] >= 12


def test_the_one_click_pages_buttons_do_not_touch(new_page, server, demo, customer):
    subscribe(demo, customer, ("newsletter", "email"))
    newsletter = demo.topics.get(slug="newsletter")
    page = new_page(**PHONE)
    page.goto(server + link(LinkKind.UNSUBSCRIBE, demo, customer, topic=newsletter, channel="email"))

    buttons = page.locator("main button[type=submit]")
    expect(buttons).to_have_count(2)
    assert gap_below(buttons.nth(0).bounding_box(), buttons.nth(1).bounding_box()) >= MIN_GAP


def test_under_download_my_data_nothing_touches_the_button(new_page, server, demo, customer):
    page = new_page(**PHONE)
    open_centre(page, server, demo, customer)

    download = box(page, "#your-data form button")
    following = box(page, "#your-data form + p")
    delete = box(page, "#your-data a.button--danger")

    assert gap_below(download, following) >= MIN_GAP
    assert gap_below(download, delete) >= MIN_GAP


def test_after_a_change_of_language_saved_shows_in_it_where_the_person_looks(
    new_page, server, demo, customer, javascript
):
    page = new_page(javascript=javascript, **PHONE)
    open_centre(page, server, demo, customer)
    page.goto(server + HOME + "about-you/locale")
    page.get_by_label("Deutsch").check()
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(server + HOME + "#told-us")

    status = page.get_by_role("status")
    expect(status).to_have_text("Gespeichert. Ihre Auswahl ist aktuell.")
    assert page.evaluate("document.documentElement.lang") == "de"
    saved = status.bounding_box()
    assert saved is not None
    assert saved["y"] >= 0, saved
    assert saved["y"] + saved["height"] <= PHONE["height"], saved


def test_objecting_to_implied_consent_in_the_browser(new_page, server, demo, customer, javascript):
    page = new_page(javascript=javascript)
    open_centre(page, server, demo, customer)

    card = page.locator("#purpose-customer-updates")
    card.get_by_role("button", name="Object to this").click()
    page.wait_for_url(server + HOME + "#purpose-customer-updates")

    expect(card).to_contain_text("You objected to this, so we no longer do it.")
    expect(card.get_by_role("status")).to_have_text("Saved. Your choices are up to date.")
    assert list(
        ConsentEvent.objects.filter(contact=customer).values_list("purpose__slug", "decision", "method")
    ) == [("customer-updates", "withdrawn", "preference_centre")]
