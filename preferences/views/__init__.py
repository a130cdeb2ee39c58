"""The hosted preference centre, its signed links and one-click unsubscribe (/p/<brand>/…).

Thin views: check the link or the session, parse a form, call one service, redirect (303) or
render. Rules that hold for every view here:

- A GET (or HEAD) never changes preferences or consent: mail scanners follow links.
- A forged, tampered or unknown token, another brand's token, or a token of another kind is
  answered with the site's ordinary 404, exactly like a URL that does not exist.
- Every write is a POST with a CSRF token (hosted_csrf_protect, which copes with the
  `Origin: null` that `Referrer-Policy: no-referrer` makes browsers send), except the RFC 8058
  one-click POST, which carries no cookies and is authorised by its signed token alone.
- Evidence for the ledger: the IP truncated to its network, the user agent, and the page's
  URL without any token.
- Tokens never reach the logs; `tokens.fingerprint` names them.
"""

from __future__ import annotations

from preferences.views.about_you import (
    erase,
    erased,
    export,
    fact_delete,
    fact_edit,
    sign_out,
    step_up_verify_view,
)
from preferences.views.centre import (
    centre,
    confirmation_resend,
    consent_save,
    pause,
    resume,
    subscriptions_save,
    unsubscribe_all,
    unsubscribe_all_undo,
)
from preferences.views.links import confirm, landing, link_request
from preferences.views.one_click import one_click
from preferences.views.theme import brand_palette, gpc_json, theme

__all__ = [
    "brand_palette",
    "centre",
    "confirm",
    "confirmation_resend",
    "consent_save",
    "erase",
    "erased",
    "export",
    "fact_delete",
    "fact_edit",
    "gpc_json",
    "landing",
    "link_request",
    "one_click",
    "pause",
    "resume",
    "sign_out",
    "step_up_verify_view",
    "subscriptions_save",
    "theme",
    "unsubscribe_all",
    "unsubscribe_all_undo",
]
