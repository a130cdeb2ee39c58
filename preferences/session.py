"""The short session a manage link is swapped for: one signed cookie, revocable on the server.

The cookie names one brand, one contact and the contact's session generation
(`Contact.page_session_generation`, read with the contact's row at no extra query): signing out
bumps the generation, so a replayed cookie of an ended session opens nothing. The cookie is
HttpOnly and SameSite=Lax, Secure (and
`__Host-` prefixed) outside DEBUG, lapses after PREFERENCE_SESSION_SECONDS without a request
and after SESSION_MAX_AGE in any case. A request re-issues it (restarting the idle timeout) when
what it carries changed or it is older than REFRESH_SECONDS: re-signing it on every page view
would only add a Set-Cookie header to each response, and the idle timeout stays within
REFRESH_SECONDS of exact. It is signed with django.core.signing, so it survives a
SECRET_KEY rotation through SECRET_KEY_FALLBACKS like every other signature.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse

from brands.models import Brand
from consent.models import Contact

SALT = "candor.preference-centre.session"
SESSION_MAX_AGE = 12 * 3600  # seconds, however active the session is
REFRESH_SECONDS = 300


def cookie_name() -> str:
    return "candor-centre" if settings.DEBUG else "__Host-candor-centre"


@dataclass
class PageSession:
    brand_id: int
    contact_id: int
    started: int  # Unix seconds
    generation: int = 0  # the contact's page_session_generation when it started (0: older cookies)
    # Channel → topic ids that read subscribed or pending just before "unsubscribe from all":
    # what its undo button restores.
    undo: dict[str, list[int]] = field(default_factory=dict)
    # When the cookie that carried it was signed (Unix seconds; 0 for a new session), and what
    # it carried then: session_refresh re-issues only a changed or ageing cookie.
    issued: int = field(default=0, compare=False)
    issued_data: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def as_data(self) -> dict[str, Any]:
        return {
            "b": self.brand_id,
            "c": self.contact_id,
            "s": self.started,
            "g": self.generation,
            "u": self.undo,
        }


def session_start(*, brand: Brand, contact: Contact) -> PageSession:
    return PageSession(
        brand_id=brand.pk,
        contact_id=contact.pk,
        started=int(time.time()),
        generation=contact.page_session_generation,
    )


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
            generation=int(data.get("g", 0)),
            undo={str(k): [int(i) for i in v] for k, v in dict(data.get("u") or {}).items()},
            # The signer's timestamp, verified by loads() above: value:timestamp:signature.
            issued=signing.b62_decode(raw.rsplit(":", 2)[1]),
        )
    except (KeyError, TypeError, ValueError, IndexError):
        return None
    session.issued_data = copy.deepcopy(session.as_data())  # the undo lists change in place
    if session.started + SESSION_MAX_AGE < time.time():
        return None
    return session


def session_read(request: HttpRequest, *, brand: Brand) -> PageSession | None:
    """The session for this brand, or None when there is none, it lapsed or was tampered with."""
    session = session_load(request)
    return session if session is not None and session.brand_id == brand.pk else None


def session_current(session: PageSession, contact: Contact) -> bool:
    """Whether the session is still the contact's: not ended by a sign-out since it started."""
    return session.contact_id == contact.pk and session.generation == contact.page_session_generation


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


def session_refresh(response: HttpResponse, session: PageSession) -> None:
    """Re-issue the cookie if what it carries changed or it was signed REFRESH_SECONDS ago."""
    if session.as_data() != session.issued_data or time.time() - session.issued >= REFRESH_SECONDS:
        session_write(response, session)


def session_end(response: HttpResponse) -> None:
    response.delete_cookie(cookie_name(), path="/", samesite="Lax")
