"""The catalogue pages' forms: what staff type, checked, turned into the keyword arguments of the
services the configuration API uses (preferences.config_api). The services check again."""

from __future__ import annotations

import re
from typing import Any, cast

from django import forms
from django.conf import settings
from django.core.validators import URLValidator
from django.utils.translation import gettext_lazy as _

from brands.models import HEX_COLOUR_VALIDATOR, SLUG_VALIDATOR, Typeface
from consent.models import ConsentType, DpvPurpose, LegalBasis, Purpose
from preferences.branding import contrast_ratio
from preferences.forms import PageForm
from preferences.labels import CADENCE_LABELS, CHANNEL_LABELS
from preferences.models import Cadence, Channel

MAX_INT = 2**31 - 1
WHITE = "#ffffff"
AA_TEXT = 4.5  # WCAG 2 AA, 1.4.3: normal text
WEB_URL = URLValidator(schemes=["https", "http"])
HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")  # brands.models.HEX_COLOUR_VALIDATOR's


def _slug_field() -> forms.RegexField:
    return forms.RegexField(
        regex=SLUG_VALIDATOR.regex,
        max_length=50,
        label=_("Slug"),
        help_text=_(
            "Lowercase letters, digits and hyphens. It names this in links and the API, and never changes."
        ),
        error_messages={"invalid": _("Use 1–50 lowercase letters, digits and hyphens.")},
    )


# --- Topics ------------------------------------------------------------------------------


class TopicForm(PageForm):
    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )
    purpose = forms.ChoiceField(
        label=_("Purpose"),
        required=False,
        help_text=_("The consent a subscription needs. Only a transactional topic goes without one."),
    )
    sms_purpose = forms.ChoiceField(
        label=_("Purpose for text messages"),
        required=False,
        help_text=_("Texts may need a consent of their own; empty: the topic's purpose."),
    )
    channels = forms.MultipleChoiceField(
        label=_("Channels"),
        choices=[(c, CHANNEL_LABELS[c]) for c in Channel.values],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one channel.")},
    )
    cadence_options = forms.MultipleChoiceField(
        label=_("Cadences offered"),
        choices=[(c, CADENCE_LABELS[c]) for c in Cadence.values],
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one cadence.")},
    )
    default_cadence = forms.ChoiceField(
        label=_("Default cadence"),
        choices=[(c, CADENCE_LABELS[c]) for c in Cadence.values],
        widget=forms.RadioSelect,
        help_text=_("What a contact gets until they choose; one of the cadences offered."),
    )
    transactional = forms.BooleanField(
        label=_("Transactional (needs no consent, cannot be switched off)"), required=False
    )
    default_subscribed = forms.BooleanField(
        label=_("Subscribed by default while the purpose is granted"), required=False
    )
    double_opt_in = forms.BooleanField(
        label=_("New subscribers confirm by email first (double opt-in)"), required=False
    )
    position = forms.IntegerField(
        label=_("Position on the hosted page"), min_value=0, max_value=MAX_INT, initial=0
    )

    def __init__(
        self,
        *args: Any,
        purposes: list[Purpose],
        languages: list[tuple[str, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("auto_id", "topic-%s")
        super().__init__(*args, **kwargs)
        self.purposes = {p.slug: p for p in purposes}
        choices = [("", _("None")), *[(p.slug, p.name) for p in purposes]]
        for name in ("purpose", "sms_purpose"):
            cast(forms.ChoiceField, self.fields[name]).choices = choices
        # The name and description in each language the hosted pages speak besides the brand's
        # own (Topic.translations, as the configuration API takes them); empty: the brand's.
        self.languages = languages if languages is not None else translation_languages("en")
        for code, language in self.languages:
            self.fields[f"name_{code}"] = forms.CharField(
                label=_("Name in %(language)s") % {"language": language},
                required=False,
                max_length=200,
                widget=forms.TextInput(attrs={"lang": code}),
            )
            self.fields[f"description_{code}"] = forms.CharField(
                label=_("Description in %(language)s") % {"language": language},
                required=False,
                max_length=5000,
                widget=forms.Textarea(attrs={"rows": 2, "lang": code}),
            )

    def translations(self, kept: dict[str, Any] | None = None) -> dict[str, dict[str, str]]:
        """Topic.translations from the form: the texts given per language, and `kept` (the
        saved ones) for languages the form does not offer."""
        offered = {code for code, _language in self.languages}
        texts: dict[str, dict[str, str]] = {
            code: dict(given) for code, given in (kept or {}).items() if code not in offered
        }
        for code in sorted(offered):
            given = {
                key: self.cleaned_data[f"{key}_{code}"].strip()
                for key in ("name", "description")
                if self.cleaned_data.get(f"{key}_{code}", "").strip()
            }
            if given:
                texts[code] = given
        return texts

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        options = cleaned.get("cadence_options")
        default = cleaned.get("default_cadence")
        if options and default and default not in options:
            self.add_error("default_cadence", _("Choose one of the cadences offered."))
        return cleaned

    def topic_fields(self) -> dict[str, Any]:
        """topic_create's / topic_update's arguments; the default cadence leads the options."""
        data = self.cleaned_data
        default = data["default_cadence"]
        return {
            "name": data["name"],
            "description": data["description"],
            "purpose": self.purposes.get(data["purpose"]),
            "sms_purpose": self.purposes.get(data["sms_purpose"]),
            "channels": list(data["channels"]),
            "cadence_options": [
                default,
                *[c for c in Cadence.values if c in data["cadence_options"] and c != default],
            ],
            "transactional": data["transactional"],
            "default_subscribed": data["default_subscribed"],
            "double_opt_in": data["double_opt_in"],
            "position": data["position"],
            "translations": self.translations(),
        }

    @staticmethod
    def initial_of(topic: Any) -> dict[str, Any]:
        texts = {
            f"{key}_{code}": value
            for code, given in (topic.translations or {}).items()
            for key, value in given.items()
        }
        return {
            **texts,
            "name": topic.name,
            "description": topic.description,
            "purpose": topic.purpose.slug if topic.purpose else "",
            "sms_purpose": topic.sms_purpose.slug if topic.sms_purpose else "",
            "channels": list(topic.channels),
            "cadence_options": list(topic.cadence_options),
            "default_cadence": topic.default_cadence,
            "transactional": topic.transactional,
            "default_subscribed": topic.default_subscribed,
            "double_opt_in": topic.double_opt_in,
            "position": topic.position,
        }


def translation_languages(default_language: str) -> list[tuple[str, str]]:
    """The languages a topic's texts are translated into: every language of the hosted pages
    but the brand's default (the topic's own name and description are in that one)."""
    return [(code, name) for code, name in settings.LANGUAGES if code != default_language]


class TopicCreateForm(TopicForm):
    slug = _slug_field()
    field_order = ["slug", "name"]


class ConfirmForm(PageForm):
    """The removals a confirmation agreed to (catalogue_selectors.TopicImpact.key)."""

    confirmed = forms.CharField(required=False, max_length=500, widget=forms.HiddenInput)


class DeleteForm(PageForm):
    """The topic's slug again: a delete names what it deletes."""

    slug = forms.CharField(max_length=50, widget=forms.HiddenInput)


# --- Purposes and notices ----------------------------------------------------------------


DPV_PURPOSES = [
    (DpvPurpose.MARKETING.value, _("Marketing")),
    (DpvPurpose.DIRECT_MARKETING.value, _("Direct marketing")),
    (DpvPurpose.SERVICE_PERSONALISATION.value, _("Service personalisation")),
    (DpvPurpose.PERSONALISED_ADVERTISING.value, _("Personalised advertising")),
    (DpvPurpose.SERVICE_PROVISION.value, _("Service provision")),
]
assert {value for value, _label in DPV_PURPOSES} == set(DpvPurpose.values)


class PurposeForm(PageForm):
    name = forms.CharField(label=_("Name"), max_length=200)
    description = forms.CharField(
        label=_("Description"), required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3})
    )
    legal_basis = forms.ChoiceField(label=_("Legal basis"), choices=LegalBasis.choices)
    consent_type = forms.ChoiceField(
        label=_("Type of consent"),
        choices=ConsentType.choices,
        help_text=_("Express, or implied (CASL: after a purchase or an inquiry, with an expiry)."),
    )
    lifetime_days = forms.IntegerField(
        label=_("Grants expire after (days)"),
        required=False,
        min_value=0,
        max_value=MAX_INT,
        help_text=_("Empty: the type of consent decides."),
    )
    sale_or_sharing = forms.BooleanField(
        label=_("Sells or shares personal data (CCPA/CPRA: Global Privacy Control withdraws it)"),
        required=False,
    )
    dpv_purpose = forms.ChoiceField(
        label=_("Purpose in the Data Privacy Vocabulary"),
        choices=DPV_PURPOSES,
        initial=DpvPurpose.MARKETING.value,
        help_text=_("How receipts name this purpose (DPV); marketing purposes follow the marketing rules."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "purpose-%s")
        super().__init__(*args, **kwargs)

    def purpose_fields(self) -> dict[str, Any]:
        return dict(self.cleaned_data)

    @staticmethod
    def initial_of(purpose: Purpose) -> dict[str, Any]:
        return {
            "name": purpose.name,
            "description": purpose.description,
            "legal_basis": purpose.legal_basis,
            "consent_type": purpose.consent_type,
            "lifetime_days": purpose.lifetime_days,
            "sale_or_sharing": purpose.sale_or_sharing,
            "dpv_purpose": purpose.dpv_purpose,
        }


class PurposeCreateForm(PurposeForm):
    slug = _slug_field()
    field_order = ["slug", "name"]


class NoticeForm(PageForm):
    title = forms.CharField(label=_("Title"), max_length=200, strip=False)
    text = forms.CharField(
        label=_("Text"),
        strip=False,
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text=_(
            "The exact text people are shown. Saving different text publishes a new version; "
            "earlier versions stay."
        ),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "notice-%s")
        super().__init__(*args, **kwargs)


# --- The theme ---------------------------------------------------------------------------


def languages() -> list[tuple[str, str]]:
    return [(code, name) for code, name in settings.LANGUAGES]


class ThemeForm(PageForm):
    name = forms.CharField(label=_("Brand name"), max_length=200)
    default_language = forms.ChoiceField(
        label=_("Default language"),
        help_text=_("The hosted pages' language when the contact's is not offered."),
    )
    primary_colour = forms.CharField(
        label=_("Colour"),
        max_length=7,
        help_text=_(
            "A hex colour such as #1f5f8b. Used for text on white, so it needs a contrast of at least 4.5:1."
        ),
        widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
    )
    logo_url = forms.CharField(
        label=_("Logo address"),
        required=False,
        max_length=200,
        help_text=_("An https address of an SVG or PNG image; empty for none."),
    )
    typeface = forms.ChoiceField(label=_("Typeface"), choices=Typeface.choices)
    privacy_policy_url = forms.CharField(label=_("Privacy policy address"), required=False, max_length=200)
    website = forms.CharField(label=_("Website"), required=False, max_length=200)
    contact_email = forms.EmailField(label=_("Contact email on receipts"), required=False, max_length=254)
    address = forms.CharField(label=_("Postal address on receipts"), required=False, max_length=300)

    URLS = ("logo_url", "privacy_policy_url", "website")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "theme-%s")
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["default_language"]).choices = languages()

    def clean_primary_colour(self) -> str:
        colour = self.cleaned_data["primary_colour"].strip().lower()
        if not HEX_COLOUR.match(colour):
            raise forms.ValidationError(_("Use a colour such as #1f5f8b."))
        ratio = contrast_ratio(colour, WHITE)
        if ratio < AA_TEXT:
            raise forms.ValidationError(
                _(
                    "%(colour)s on white has a contrast of %(ratio)s:1; WCAG AA needs at least 4.5:1 "
                    "for text. Choose a darker colour."
                )
                % {"colour": colour, "ratio": f"{int(ratio * 100) / 100:.2f}"}
            )
        return colour

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name in self.URLS:
            value = (cleaned.get(name) or "").strip()
            if value:
                try:
                    WEB_URL(value)
                except forms.ValidationError:
                    self.add_error(name, _("Use an address that starts with https://."))
                    continue
            cleaned[name] = value
        return cleaned

    @staticmethod
    def initial_of(brand: Any) -> dict[str, Any]:
        return {
            name: getattr(brand, name)
            for name in (
                "name",
                "default_language",
                "primary_colour",
                "logo_url",
                "typeface",
                "privacy_policy_url",
                "website",
                "contact_email",
                "address",
            )
        }


class PreviewStyleForm(forms.Form):
    """The preview stylesheet's query: a colour and a typeface (no contrast rule: a refused
    colour may be previewed)."""

    colour = forms.RegexField(regex=HEX_COLOUR_VALIDATOR.regex)
    typeface = forms.ChoiceField(choices=Typeface.choices)
