"""The brand's colours as a stylesheet, and the GPC well-known file."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_safe

from brands.models import DEFAULT_PRIMARY_COLOUR, HEX_COLOUR_VALIDATOR, Typeface
from preferences.branding import FONT_STACKS
from preferences.branding import contrast_ratio as _contrast
from preferences.gpc import gpc_well_known
from preferences.views._pages import _brand


@require_safe
def gpc_json(request: HttpRequest) -> HttpResponse:
    """/.well-known/gpc.json (GPC spec §5): this site honours Global Privacy Control."""
    return HttpResponse(json.dumps(gpc_well_known()), content_type="application/json")


def brand_palette(colour: str) -> dict[str, str]:
    """The brand colour, the text colour that reads on it, and an ink for links and borders on
    white that keeps 4.5:1 (the brand colour itself when it does)."""
    try:
        HEX_COLOUR_VALIDATOR(colour)
    except Exception:
        colour = DEFAULT_PRIMARY_COLOUR
    colour = colour.lower()
    on_brand = "#000000" if _contrast(colour, "#000000") >= _contrast(colour, "#ffffff") else "#ffffff"
    ink = colour if _contrast(colour, "#ffffff") >= 4.5 else "#1a1a1a"
    return {"brand": colour, "on_brand": on_brand, "ink": ink}


@require_safe
def theme(request: HttpRequest, brand_slug: str) -> HttpResponse:
    """The brand's colours and typeface as CSS custom properties (a stylesheet, so the CSP needs
    no inline style)."""
    brand = _brand(brand_slug)
    palette = brand_palette(brand.primary_colour)
    font = FONT_STACKS.get(brand.typeface, FONT_STACKS[Typeface.SYSTEM])
    css = (
        f":root {{ --brand: {palette['brand']}; --on-brand: {palette['on_brand']}; "
        f"--brand-ink: {palette['ink']}; --font: {font}; }}\n"
    )
    return HttpResponse(css, content_type="text/css; charset=utf-8")
