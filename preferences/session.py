"""The short session a manage link is swapped for: one signed cookie, no server-side state.

The cookie names one brand and one contact, is HttpOnly and SameSite=Lax, Secure (and
`__Host-` prefixed) outside DEBUG, lapses after PREFERENCE_SESSION_SECONDS without a request
and after SESSION_MAX_AGE in any case. It is signed with django.core.signing, so it survives a
SECRET_KEY rotation through SECRET_KEY_FALLBACKS like every other signature.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse

from brands.models import Brand

SALT = "candor.preference-centre.session"
SESSION_MAX_AGE = 12 * 3600  # seconds, however active the session is


def cookie_name() -> str:
    return "candor-centre" if settings.DEBUG else "__Host-candor-centre"


@dataclass
class PageSession:
    brand_id: int
    contact_id: int
    started: int  # Unix seconds
    # Channel → topic ids that read subscribed or pending just before "unsubscribe from all":
    # what its undo button restores.
    undo: dict[str, list[int]] = field(default_factory=dict)

    def as_data(self) -> dict[str, Any]:
        return {"b": self.brand_id, "c": self.contact_id, "s": self.started, "u": self.undo}


def session_start(*, brand: Brand, contact_id: int) -> PageSession:
    return PageSession(brand_id=brand.pk, contact_id=contact_id, started=int(time.time()))


def session_load(request: HttpRequest) -> PageSession | None:
    """The session the cookie carries, of whichever brand, or None when there is none, it lapsed
    or was tampered with. `session_read` also checks the brand."""
    raw = request.COOKIES.get(cookie_name())
    if not raw:
        return None
    try:
        data = signing.loads(raw, salt=SALT, max_age=settings.PREFERENCE_SESSION_SECONDS)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    try:
        session = PageSession(
            brand_id=int(data["b"]),
            contact_id=int(data["c"]),
            started=int(data["s"]),
            undo={str(k): [int(i) for i in v] for k, v in dict(data.get("u") or {}).items()},
        )
    except (KeyError, TypeError, ValueError):
        return None
    if session.started + SESSION_MAX_AGE < time.time():
        return None
    return session


def session_read(request: HttpRequest, *, brand: Brand) -> PageSession | None:
    """The session for this brand, or None when there is none, it lapsed or was tampered with."""
    session = session_load(request)
    return session if session is not None and session.brand_id == brand.pk else None


def session_write(response: HttpResponse, session: PageSession) -> None:
    """(Re)issue the cookie; each write restarts the idle timeout."""
    response.set_cookie(
        cookie_name(),
        signing.dumps(session.as_data(), salt=SALT, compress=True),
        max_age=settings.PREFERENCE_SESSION_SECONDS,
        path="/",
        secure=not settings.DEBUG,
        httponly=True,
        samesite="Lax",
    )


def session_end(response: HttpResponse) -> None:
    response.delete_cookie(cookie_name(), path="/", samesite="Lax")
