"""A brand's look on the hosted pages beyond its colours: the font stack of its typeface and
the origin its logo is loaded from."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from brands.models import Brand, Typeface

# Fonts already on the reader's device, nearest first; none is fetched (brands.models.Typeface).
FONT_STACKS: dict[str, str] = {
    Typeface.SYSTEM: 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif',
    Typeface.HUMANIST: 'Seravek, "Gill Sans Nova", Ubuntu, Calibri, "DejaVu Sans", sans-serif',
    Typeface.GEOMETRIC: 'Avenir, "Avenir Next LT Pro", Montserrat, Corbel, "URW Gothic", sans-serif',
    Typeface.SERIF: 'Charter, "Bitstream Charter", "Sitka Text", Cambria, Georgia, serif',
    Typeface.ROUNDED: 'ui-rounded, "Hiragino Maru Gothic ProN", Quicksand, Comfortaa, Manjari, '
    '"Arial Rounded MT", "Arial Rounded MT Bold", Calibri, sans-serif',
}


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(a: str, b: str) -> float:
    """The WCAG 2 contrast ratio of two #rrggbb colours, from 1 to 21."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


_HOST = re.compile(r"\A[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?\Z")


def logo_origin(brand: Brand | None) -> str | None:
    """The origin (scheme://host[:port]) of the brand's logo, which the page's CSP must allow
    in img-src; None if the brand has no logo, or its URL is not one a page should load
    (not http(s), credentials in it, an odd host): then the page shows the brand's name."""
    if brand is None or not brand.logo_url:
        return None
    parts = urlsplit(brand.logo_url)
    netloc = parts.netloc.lower()
    if parts.scheme not in ("https", "http") or not _HOST.match(netloc):
        return None
    return f"{parts.scheme}://{netloc}"
