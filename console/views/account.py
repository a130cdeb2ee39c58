"""Pages outside any one brand: the brand picker, the language choice, an invitation link, and
the answer to too many sign-in attempts."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.i18n import set_language

from brands.models import Membership
from brands.services import (
    invitation_accept,
    invitation_from_token,
)
from config.errors import ApplicationError
from console.access import account_page, staff
from console.adapter import SESSION_KEY
from console.pages import render
from console.service_messages import translated


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
                {"invitation": invited, "refused": translated(refused.detail)},
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
