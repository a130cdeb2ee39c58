"""The staff's authentication backend: allauth's, with the signed-in person read on every
request together with the brands they belong to, by the prepared statement that reads the session
row (console.sessions): one round trip for both, where the ORM would compile and send three
queries. Who may sign in and how (password, emailed code, second factor) is allauth's, unchanged."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from allauth.account.auth_backends import AuthenticationBackend
from django.contrib.auth.middleware import AuthenticationMiddleware, get_user
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

# The session of the request whose user Django's auth is finding (SignedInMiddleware), so the
# backend can take the person that session's read brought instead of reading them again.
_session: ContextVar[Any] = ContextVar("the session being signed in from", default=None)


class StaffBackend(AuthenticationBackend):
    def get_user(self, user_id: Any) -> Any:
        """As ModelBackend.get_user: the person by primary key, if they may still sign in; the
        one the request's session brought when it did (SignedInMiddleware), else read now."""
        from console.access import person_read  # the console's models load after the backends
        from console.sessions import NOT_READ

        session = _session.get()
        user = session.person(user_id) if hasattr(session, "person") else NOT_READ
        if user is NOT_READ:
            user = person_read(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None


class SignedInMiddleware(AuthenticationMiddleware):
    """Django's AuthenticationMiddleware (`request.user`, read once, when first asked), with the
    request's session in view of the staff's backend while Django finds the user: the backend
    takes the person that the session's read brought (console.sessions). Django's checks of the
    session (its backend, its hash of the password) run as they always do."""

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        request.user = SimpleLazyObject(_signed_in(request))  # type: ignore[assignment]


def _signed_in(request: HttpRequest) -> Callable[[], Any]:
    def find() -> Any:
        token = _session.set(request.session)
        try:
            return get_user(request)
        finally:
            _session.reset(token)

    return find
