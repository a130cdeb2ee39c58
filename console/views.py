"""The console's pages. Each declares who may use it (console.access) and stays thin: parse,
call one service, answer. Every page works as a full page load; with htmx (request.htmx) a
form's answer is the fragment it replaces."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.i18n import set_language

from brands.audit import Actor
from brands.models import Membership
from brands.services import (
    invitation_accept,
    invitation_create,
    invitation_from_token,
    invitation_revoke,
    membership_remove,
    membership_set,
)
from config.errors import ApplicationError
from console.access import EVERY_ROLE, OWNER, account_page, brand_page, staff
from console.adapter import SESSION_KEY
from console.forms import ROLE_CHOICES, InvitationForm, InviteForm, MemberForm, RoleForm
from console.pages import refusal, render
from console.selectors import (
    invitation_get,
    invitations_open,
    member_get,
    members_of,
    overview_headline,
)


@account_page()
def index(request: HttpRequest) -> HttpResponse:
    """A person with one brand goes to it; with several they choose (the header switches later)."""
    memberships = list(
        Membership.objects.filter(user=staff(request)).select_related("brand").order_by("brand__name")
    )
    if len(memberships) == 1:
        return HttpResponseRedirect(reverse("console:overview", args=[memberships[0].brand.slug]))
    return render(request, "console/index.html", {"memberships": memberships})


@account_page(signed_in=False, read=False, actions=["language"])
def language(request: HttpRequest) -> HttpResponse:
    """The language choice in the header: Django's set_language (a cookie), back to the page."""
    return set_language(request)


@brand_page(read=EVERY_ROLE)
def overview(request: HttpRequest, brand_slug: str) -> HttpResponse:
    headline = overview_headline(brand=request.console.brand)  # type: ignore[attr-defined]
    return render(request, "console/overview.html", {"headline": headline})


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
            for name, problems in (refused.errors or {"__all__": [refused.detail]}).items():
                shown.add_error(name if name in shown.fields else None, problems)
            return _members_page(request, invite=shown, status=refused.status)
        return _members_page(request, errors=[("#members", refused.detail)], status=refused.status)
    if getattr(request, "htmx", False):
        return _members_page(request)
    return HttpResponseRedirect(reverse("console:members", args=[brand.slug]))


@account_page(signed_in=False, actions=["accept"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """An invitation link. Not signed in: remember it and go to sign-up (a new address) or
    sign-in; signed in: a button that takes it (the GET changes nothing: mail scanners follow
    links)."""
    try:
        invited = invitation_from_token(token)
    except ApplicationError:
        return render(request, "console/invitation_invalid.html", {}, status=404)
    if request.method == "POST":
        if not request.user.is_authenticated:
            return HttpResponseRedirect(reverse("account_login") + f"?next={request.path}")
        try:
            membership = invitation_accept(token=token, user=request.user)
        except ApplicationError as refused:
            return render(
                request,
                "console/invitation.html",
                {"invitation": invited, "refused": refused.detail},
                status=refused.status,
            )
        request.session.pop(SESSION_KEY, None)
        return HttpResponseRedirect(reverse("console:overview", args=[membership.brand.slug]))
    if not request.user.is_authenticated:
        request.session[SESSION_KEY] = token
        from django.contrib.auth import get_user_model

        known = get_user_model().objects.filter(email__iexact=invited.email).exists()
        target = "account_login" if known else "account_signup"
        return HttpResponseRedirect(reverse(target) + f"?next={request.path}")
    return render(request, "console/invitation.html", {"invitation": invited, "refused": ""})


def rate_limited(request: HttpRequest) -> HttpResponse:
    """allauth's answer past a sign-in rate limit (config.urls.handler429): 429 with Retry-After."""
    response = render(request, "console/too_many.html", {}, status=429)
    response["Retry-After"] = "60"
    return response
