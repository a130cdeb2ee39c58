"""The theme page's preview shows the brand's saved logo as the hosted page does (an image with
the brand's name as its alt text), and the console's CSP lets that one origin in, on that page
alone."""

from __future__ import annotations

import pytest

from brands.models import Brand

LOGO = "https://cdn.acme.test/logo.svg"


@pytest.fixture
def editor(brand, make_staff, signed_in):
    return signed_in(make_staff(brand, "editor"))


def test_the_preview_shows_the_saved_logo_with_alt_text_and_the_csp_allows_its_origin(brand, editor):
    Brand.objects.filter(pk=brand.pk).update(logo_url=LOGO, name="Acme Ltd")

    response = editor.get("/console/acme/theme/")

    assert response.status_code == 200
    page = response.content.decode()
    assert f'<img class="theme-preview__logo" src="{LOGO}" alt="Acme Ltd">' in page
    assert "once the theme is saved" not in page
    csp = response["Content-Security-Policy"]
    assert "img-src 'self' data: https://cdn.acme.test;" in csp
    assert "script-src 'self';" in csp
    # Other console pages keep the strict policy.
    assert "cdn.acme.test" not in editor.get("/console/acme/topics/")["Content-Security-Policy"]


def test_without_a_logo_the_preview_names_the_brand_and_loads_no_image(brand, editor):
    response = editor.get("/console/acme/theme/")

    page = response.content.decode()
    assert '<p class="theme-preview__brand">' in page
    assert "theme-preview__logo" not in page
    assert "img-src 'self' data:;" in response["Content-Security-Policy"]


def test_a_typed_logo_not_yet_saved_is_announced_not_loaded(brand, editor):
    Brand.objects.filter(pk=brand.pk).update(name="Acme Ltd")
    form = {
        "action": "preview",
        "name": "Acme Ltd",
        "default_language": "en",
        "primary_colour": "#1f5f8b",
        "typeface": "system",
        "logo_url": LOGO,
        "privacy_policy_url": "",
        "website": "",
        "contact_email": "",
        "address": "",
    }

    response = editor.post("/console/acme/theme/", form, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    page = response.content.decode()
    assert "theme-preview__logo" not in page
    assert "The new logo shows here once the theme is saved." in page
    assert "cdn.acme.test" not in response["Content-Security-Policy"]
