from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from brands.models import Membership
from preferences.forms import PageForm

ROLE_CHOICES = [
    (Membership.Role.OWNER.value, _("Owner")),
    (Membership.Role.EDITOR.value, _("Editor")),
    (Membership.Role.SUPPORT.value, _("Support")),
    (Membership.Role.VIEWER.value, _("Viewer")),
]


class InviteForm(PageForm):
    email = forms.EmailField(
        label=_("Email address"), widget=forms.EmailInput(attrs={"autocomplete": "off"}), max_length=254
    )
    role = forms.ChoiceField(label=_("Role"), choices=ROLE_CHOICES, initial=Membership.Role.VIEWER.value)

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("auto_id", "invite-%s")
        super().__init__(*args, **kwargs)


class RoleForm(PageForm):
    membership = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    role = forms.ChoiceField(label=_("Role"), choices=ROLE_CHOICES)


class MemberForm(PageForm):
    membership = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class InvitationForm(PageForm):
    invitation = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
