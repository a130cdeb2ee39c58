"""The staff's authentication backend: allauth's, with the signed-in person read on every
request together with the brands they belong to, by one prepared statement
(console.access.person_read) instead of two queries the ORM compiles each time. Who may sign in
and how (password, emailed code, second factor) is allauth's, unchanged."""

from __future__ import annotations

from typing import Any

from allauth.account.auth_backends import AuthenticationBackend


class StaffBackend(AuthenticationBackend):
    def get_user(self, user_id: Any) -> Any:
        """As ModelBackend.get_user: the person by primary key, if they may still sign in."""
        from console.access import person_read  # the console's models load after the backends

        user = person_read(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None
