"""allauth's one customisation point for the console: nobody signs up uninvited.

Opening an invitation link (console.views.account.invitation) keeps its token in the session. Sign-up is
open only while that token names an open invitation, and only for the address it was sent to;
that address counts as verified, since the person just followed a link sent to it.
"""

from __future__ import annotations

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from django import forms
from django.http import HttpRequest
from django.utils.translation import gettext

from brands.models import Invitation
from brands.services import invitation_from_token
from config.errors import ApplicationError

SESSION_KEY = "console_invitation"


def pending_invitation(request: HttpRequest) -> Invitation | None:
    token = request.session.get(SESSION_KEY) if hasattr(request, "session") else None
    if not token:
        return None
    try:
        return invitation_from_token(str(token))
    except ApplicationError:
        return None


class ConsoleAccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return pending_invitation(request) is not None

    def clean_email(self, email: str) -> str:
        email = super().clean_email(email)
        request: Any = getattr(self, "request", None)
        if request is not None and request.path.startswith("/console/account/signup"):
            invitation = pending_invitation(request)
            if invitation is None or invitation.email != email.strip().lower():
                raise forms.ValidationError(gettext("Sign up with the address your invitation was sent to."))
        return email

    def is_email_verified(self, request: HttpRequest, email: str) -> bool:
        invitation = pending_invitation(request)
        return invitation is not None and invitation.email == email.strip().lower()
