"""The members page (owners only): members and open invitations; invite, change a role, remove,
withdraw an invitation."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _

from brands.audit import Actor
from brands.services import (
    invitation_create,
    invitation_revoke,
    membership_remove,
    membership_set,
)
from config.errors import ApplicationError
from console.access import OWNER, brand_page
from console.forms import ROLE_CHOICES, InvitationForm, InviteForm, MemberForm, RoleForm
from console.pages import refusal, render
from console.selectors import (
    invitation_get,
    invitations_open,
    member_get,
    members_of,
)
from console.service_messages import refusal_errors, translated


def _members_page(
    request: HttpRequest,
    *,
    invite: InviteForm | None = None,
    errors: list[tuple[str, str]] | None = None,
    status: int = 200,
) -> HttpResponse:
    brand = request.console.brand  # type: ignore[attr-defined]
    template = "console/_members.html" if getattr(request, "htmx", False) else "console/members.html"
    context: dict[str, Any] = {
        "members": list(members_of(brand=brand)),
        "invitations": list(invitations_open(brand=brand)),
        "invite": invite or InviteForm(),
        "errors": errors or (invite.error_summary() if invite is not None and invite.errors else []),
        "roles": ROLE_CHOICES,
    }
    return render(request, template, context, status=status)


def _invitation_url(request: HttpRequest) -> Any:
    def build(token: str) -> str:
        return request.build_absolute_uri(reverse("console:invitation", args=[token]))

    return build


@brand_page(
    read=OWNER,
    actions={"invite": OWNER, "change_role": OWNER, "remove": OWNER, "revoke": OWNER},
)
def members(request: HttpRequest, brand_slug: str) -> HttpResponse:
    """Members and open invitations (owners only): invite, change a role, remove, revoke."""
    if request.method != "POST":
        return _members_page(request)
    brand = request.console.brand  # type: ignore[attr-defined]
    action = request.POST["action"]
    try:
        if action == "invite":
            invite = InviteForm(request.POST)
            if not invite.is_valid():
                return _members_page(request, invite=invite, status=400)
            issued = invitation_create(
                brand=brand,
                email=invite.cleaned_data["email"],
                role=invite.cleaned_data["role"],
                invited_by=request.user,
                url_builder=_invitation_url(request),
                actor=Actor.staff(request.user),
            )
            messages.success(request, _("Invitation sent to %(email)s.") % {"email": issued.invitation.email})
        elif action == "change_role":
            form = RoleForm(request.POST)
            if not form.is_valid():
                return _members_page(request, errors=form.error_summary(), status=400)
            member = member_get(brand=brand, membership_id=form.cleaned_data["membership"])
            if member is None:
                return refusal(request, 404, request.console)  # type: ignore[attr-defined]
            membership_set(
                user=member.user, brand=brand, role=form.cleaned_data["role"], actor=Actor.staff(request.user)
            )
            messages.success(request, _("Role changed."))
        elif action == "remove":
            removal = MemberForm(request.POST)
            if not removal.is_valid():
                return _members_page(request, errors=removal.error_summary(), status=400)
            member = member_get(brand=brand, membership_id=removal.cleaned_data["membership"])
            if member is None:
                return refusal(request, 404, request.console)  # type: ignore[attr-defined]
            membership_remove(membership=member, actor=Actor.staff(request.user))
            messages.success(request, _("Member removed."))
            if member.user_id == request.user.pk:  # they removed themselves
                return HttpResponseRedirect(reverse("console:index"))
        else:  # revoke
            withdrawal = InvitationForm(request.POST)
            if not withdrawal.is_valid():
                return _members_page(request, errors=withdrawal.error_summary(), status=400)
            invitation = invitation_get(brand=brand, invitation_id=withdrawal.cleaned_data["invitation"])
            if invitation is None:
                return refusal(request, 404, request.console)  # type: ignore[attr-defined]
            invitation_revoke(invitation=invitation, actor=Actor.staff(request.user))
            messages.success(request, _("Invitation withdrawn."))
    except ApplicationError as refused:
        if action == "invite":
            shown = InviteForm(request.POST)
            shown.is_valid()
            for name, problems in refusal_errors(refused).items():
                shown.add_error(name if name in shown.fields else None, problems)
            return _members_page(request, invite=shown, status=refused.status)
        problem = translated(refused.detail)
        return _members_page(request, errors=[("#members", problem)], status=refused.status)
    if getattr(request, "htmx", False):
        return _members_page(request)
    return HttpResponseRedirect(reverse("console:members", args=[brand.slug]))
