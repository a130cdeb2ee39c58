"""The shapes of a brand's configuration: the theme, purposes with their notices, topics with their
channels and cadences. The configuration API (preferences.config_api) and the configuration
file (preferences.brand_config) share them, so a field means the same in both."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import URLValidator
from rest_framework import serializers

from brands.models import HEX_COLOUR_VALIDATOR, SLUG_VALIDATOR, Typeface
from config.serializers import StrictSerializer
from consent.models import ConsentType, DpvPurpose, LegalBasis, PersonalDataCategory
from preferences.models import Cadence, Channel

MAX_INT = 2**31 - 1  # a PostgreSQL integer
WEB_URL = URLValidator(schemes=["https", "http"])


def _languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


class LanguageField(serializers.ChoiceField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=_languages(), **kwargs)


def _web_url(help_text: str) -> serializers.URLField:
    return serializers.URLField(
        max_length=200, required=False, allow_blank=True, validators=[WEB_URL], help_text=help_text
    )


def _slug(help_text: str) -> serializers.RegexField:
    return serializers.RegexField(
        SLUG_VALIDATOR.regex,
        max_length=50,
        help_text=help_text,
        error_messages={"invalid": "Use 1–50 lowercase letters, digits and hyphens."},
    )


def _language_keys_checked(value: dict[str, Any]) -> dict[str, Any]:
    message = "Use one of the supported languages: " + ", ".join(_languages()) + "."
    unknown = {key: [message] for key in value if key not in _languages()}
    if unknown:
        raise serializers.ValidationError(unknown)
    return value


# --- Theme -------------------------------------------------------------------------


class ThemeIn(StrictSerializer):
    """Every field optional: those given change, the rest stay."""

    name = serializers.CharField(
        max_length=200, required=False, help_text="The brand's name as people know it"
    )
    default_language = LanguageField(
        required=False,
        help_text="The language of the hosted pages and notices when the contact's is not offered",
    )
    primary_colour = serializers.RegexField(
        HEX_COLOUR_VALIDATOR.regex,
        required=False,
        help_text="The hosted pages' accent, e.g. #1f5f8b",
        error_messages={"invalid": "Use a colour such as #1f5f8b."},
    )
    logo_url = _web_url("An https (or http) URL of the logo image (SVG or PNG); empty for none")
    typeface = serializers.ChoiceField(
        choices=Typeface.choices, required=False, help_text="The hosted pages' font stack"
    )
    privacy_policy_url = _web_url("The brand's privacy policy")
    contact_email = serializers.EmailField(
        max_length=254, required=False, allow_blank=True, help_text="The controller's contact on receipts"
    )
    address = serializers.CharField(
        max_length=300, required=False, allow_blank=True, help_text="The controller's postal address"
    )
    website = _web_url("The brand's website")
    embed_origins = serializers.ListField(
        child=serializers.CharField(max_length=200),
        max_length=20,
        required=False,
        help_text="The origins whose pages may embed the brand's quizzes with /q/embed.js, such as "
        "https://shop.example (https only; http://localhost and http://127.0.0.1 only where "
        "WEBHOOK_ALLOW_PRIVATE is on). The whole list is replaced; [] allows none.",
    )


class ThemeOut(serializers.Serializer):
    name = serializers.CharField()
    default_language = serializers.CharField()
    primary_colour = serializers.CharField()
    logo_url = serializers.CharField()
    typeface = serializers.ChoiceField(choices=Typeface.choices)
    privacy_policy_url = serializers.CharField()
    contact_email = serializers.CharField()
    address = serializers.CharField()
    website = serializers.CharField()
    embed_origins = serializers.ListField(child=serializers.CharField())


THEME_FIELDS = tuple(ThemeOut().fields)


# --- Purposes and notices -----------------------------------------------------------


class PurposeFieldsIn(StrictSerializer):
    """A purpose's fields, each optional (a change names only what changes)."""

    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    legal_basis = serializers.ChoiceField(choices=LegalBasis.choices, required=False)
    consent_type = serializers.ChoiceField(
        choices=ConsentType.choices,
        required=False,
        help_text="express, or implied (CASL: a purchase or an inquiry, with an expiry)",
    )
    lifetime_days = serializers.IntegerField(
        min_value=0,
        max_value=MAX_INT,
        required=False,
        allow_null=True,
        help_text="Grants expire after this many days; null: the basis decides",
    )
    dpv_purpose = serializers.ChoiceField(choices=DpvPurpose.choices, required=False)
    sale_or_sharing = serializers.BooleanField(
        required=False, help_text="Selling or sharing personal data (CCPA/CPRA): GPC withdraws it"
    )
    third_parties = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=100,
        help_text="Who the data is sold or disclosed to, by name",
    )
    personal_data = serializers.ListField(
        child=serializers.ChoiceField(choices=PersonalDataCategory.choices),
        required=False,
        max_length=len(PersonalDataCategory.choices),
        help_text="DPV categories of personal data the purpose uses",
    )

    def validate_personal_data(self, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Each category may appear only once.")
        return value


class PurposeCreateIn(PurposeFieldsIn):
    slug = _slug("The purpose's id in every API call and ledger row; it never changes")
    name = serializers.CharField(max_length=200)


class PurposePatchIn(PurposeFieldsIn):
    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and "slug" in data:
            raise serializers.ValidationError(
                {"slug": ["A purpose's slug cannot change: the ledger and API clients name it."]}
            )
        return super().to_internal_value(data)


class NoticeIn(StrictSerializer):
    language = LanguageField(help_text="One of the languages the hosted pages speak")
    title = serializers.CharField(max_length=200, trim_whitespace=False)
    text = serializers.CharField(trim_whitespace=False, help_text="The exact text shown to the person")


class NoticeTextIn(StrictSerializer):
    title = serializers.CharField(max_length=200, trim_whitespace=False)
    text = serializers.CharField(trim_whitespace=False)


class NoticeVersionOut(serializers.Serializer):
    id = serializers.CharField(source="public_id", help_text="What a consent names as its notice_version")
    version = serializers.IntegerField(help_text="Counts up per language from 1")
    language = serializers.CharField()
    title = serializers.CharField()
    text = serializers.CharField()
    hash = serializers.CharField(source="content_hash", help_text="SHA-256 of language, title and text")
    published_at = serializers.DateTimeField()
    current = serializers.SerializerMethodField(help_text="The version shown now in its language")

    def get_current(self, version: Any) -> bool:
        return version.pk in self.context.get("current_ids", ())


class NoticeVersionsOut(serializers.Serializer):
    purpose = serializers.CharField()
    versions = NoticeVersionOut(many=True)


class PurposeConfigOut(serializers.Serializer):
    slug = serializers.CharField(source="purpose.slug")
    name = serializers.CharField(source="purpose.name")
    description = serializers.CharField(source="purpose.description")
    legal_basis = serializers.CharField(source="purpose.legal_basis")
    consent_type = serializers.CharField(source="purpose.consent_type")
    lifetime_days = serializers.IntegerField(source="purpose.lifetime_days", allow_null=True)
    dpv_purpose = serializers.CharField(source="purpose.dpv_purpose")
    sale_or_sharing = serializers.BooleanField(source="purpose.sale_or_sharing")
    third_parties = serializers.ListField(child=serializers.CharField(), source="purpose.third_parties")
    personal_data = serializers.ListField(child=serializers.CharField(), source="purpose.personal_data")
    notices = NoticeVersionOut(
        source="current_versions", many=True, help_text="The current version in each language"
    )


# --- Topics ------------------------------------------------------------------------


class TopicTextIn(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)


def _choice_list(choices: Any, what: str, help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.ChoiceField(choices=choices),
        min_length=1,
        max_length=len(choices),
        required=False,
        help_text=help_text,
        error_messages={"min_length": f"Give at least one {what}."},
    )


class TopicFieldsIn(StrictSerializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    translations = serializers.DictField(
        child=TopicTextIn(),
        required=False,
        help_text='Name and description per language, e.g. {"de": {"name": "Neuigkeiten"}}',
    )
    purpose = serializers.CharField(
        max_length=50,
        required=False,
        allow_null=True,
        help_text="The slug of the purpose a subscription needs; null only for a transactional topic",
    )
    sms_purpose = serializers.CharField(
        max_length=50,
        required=False,
        allow_null=True,
        help_text="The slug of the purpose texts on this topic need (its own notice); null: the topic's",
    )
    transactional = serializers.BooleanField(
        required=False, help_text="Needs no consent and cannot be switched off"
    )
    default_subscribed = serializers.BooleanField(
        required=False, help_text="Reads as subscribed while the purpose is granted; never pre-ticks consent"
    )
    channels = _choice_list(Channel.choices, "channel", "The channels offered")
    cadence_options = _choice_list(
        Cadence.choices, "cadence", "The cadences offered; the first is the default"
    )
    double_opt_in = serializers.BooleanField(
        required=False, help_text="New subscribers without consent confirm by a link first"
    )
    position = serializers.IntegerField(
        min_value=0, max_value=MAX_INT, required=False, help_text="Order on the hosted page"
    )

    def validate_translations(self, value: dict[str, Any]) -> dict[str, Any]:
        return _language_keys_checked(value)

    def _distinct(self, value: list[str], what: str) -> list[str]:
        if len(set(value)) != len(value):
            raise serializers.ValidationError(f"Each {what} may appear only once.")
        return value

    def validate_channels(self, value: list[str]) -> list[str]:
        return self._distinct(value, "channel")

    def validate_cadence_options(self, value: list[str]) -> list[str]:
        return self._distinct(value, "cadence")


class TopicCreateIn(TopicFieldsIn):
    slug = _slug("The topic's id in API calls, links and events; it never changes")
    name = serializers.CharField(max_length=200)


class TopicPatchIn(TopicFieldsIn):
    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and "slug" in data:
            raise serializers.ValidationError(
                {"slug": ["A topic's slug cannot change: links and API clients name it."]}
            )
        return super().to_internal_value(data)


class TopicTextOut(serializers.Serializer):
    name = serializers.CharField(required=False)
    description = serializers.CharField(required=False)


class TopicOut(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    translations = serializers.DictField(child=TopicTextOut())
    purpose = serializers.CharField(source="purpose.slug", allow_null=True)
    sms_purpose = serializers.CharField(source="sms_purpose.slug", allow_null=True)
    transactional = serializers.BooleanField()
    default_subscribed = serializers.BooleanField()
    channels = serializers.ListField(child=serializers.ChoiceField(choices=Channel.choices))
    cadence_options = serializers.ListField(child=serializers.ChoiceField(choices=Cadence.choices))
    double_opt_in = serializers.BooleanField()
    position = serializers.IntegerField()


# --- The whole configuration (the file apply_brand_config reads) ---------------------


class PurposeConfigIn(PurposeFieldsIn):
    slug = _slug("The purpose's id")
    notices = serializers.DictField(
        child=NoticeTextIn(), required=False, help_text="The notice's text per language"
    )

    def validate_notices(self, value: dict[str, Any]) -> dict[str, Any]:
        return _language_keys_checked(value)


class TopicConfigIn(TopicFieldsIn):
    slug = _slug("The topic's id")


class BrandConfigIn(StrictSerializer):
    theme = ThemeIn(required=False)
    purposes = serializers.ListField(child=PurposeConfigIn(), required=False)
    topics = serializers.ListField(child=TopicConfigIn(), required=False)

    def _unique(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        seen: set[str] = set()
        errors: dict[int, dict[str, list[str]]] = {}
        for index, item in enumerate(items):
            if item["slug"] in seen:
                errors[index] = {"slug": [f"'{item['slug']}' appears more than once."]}
            seen.add(item["slug"])
        if errors:
            # Keyed by position, as ListField's own errors are.
            raise serializers.ValidationError(errors)  # type: ignore[arg-type]
        return items

    def validate_purposes(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._unique(value)

    def validate_topics(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._unique(value)


class NoticeTextOut(serializers.Serializer):
    title = serializers.CharField()
    text = serializers.CharField()


class PurposeFileOut(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    legal_basis = serializers.CharField()
    consent_type = serializers.CharField()
    lifetime_days = serializers.IntegerField(allow_null=True)
    dpv_purpose = serializers.CharField()
    sale_or_sharing = serializers.BooleanField()
    third_parties = serializers.ListField(child=serializers.CharField())
    personal_data = serializers.ListField(child=serializers.CharField())
    notices = serializers.DictField(child=NoticeTextOut(), help_text="The current text per language")


class TopicFileOut(TopicOut):
    purpose = serializers.CharField(allow_null=True)  # already the slug in the document
    sms_purpose = serializers.CharField(allow_null=True)


class BrandConfigOut(serializers.Serializer):
    theme = ThemeOut()
    purposes = PurposeFileOut(many=True)
    topics = TopicFileOut(many=True)


class ApplySummaryOut(serializers.Serializer):
    created = serializers.ListField(child=serializers.CharField(), help_text='e.g. "purpose email-marketing"')
    updated = serializers.ListField(child=serializers.CharField(), help_text="with the fields that changed")
    unchanged = serializers.ListField(child=serializers.CharField())
    notices_published = serializers.ListField(
        child=serializers.CharField(), help_text='New notice versions, e.g. "email-marketing de v2"'
    )
    deleted = serializers.ListField(child=serializers.CharField(), help_text="Topics pruned")
    not_named = serializers.ListField(
        child=serializers.CharField(), help_text="In the brand but not in the document: kept"
    )
    dry_run = serializers.BooleanField(help_text="true: nothing was written")
