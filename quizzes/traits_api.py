"""A contact's traits through the API: only those the contact's consent for their purpose
covers (quizzes.traits), so a brand's systems never read a trait they may not use."""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from brands.api import BrandApiView
from brands.models import Scope
from config.api import ERRORS
from consent import selectors as consent_selectors
from quizzes.traits import traits_shared


class TraitOut(serializers.Serializer):
    name = serializers.CharField(help_text="The trait's key, as the quiz names it (`goal`)")
    value = serializers.JSONField(help_text="What the answer set: a string, a number or a list")
    purpose = serializers.CharField(help_text="Slug of the purpose the trait serves")
    source = serializers.ChoiceField(  # type: ignore[assignment]  # a field, named as the API says
        choices=["quiz", "preference_centre"],
        help_text="`quiz`: answered in a quiz; `preference_centre`: corrected there by the person",
    )
    recorded_at = serializers.DateTimeField()


class TraitsOut(serializers.Serializer):
    contact = serializers.CharField()
    traits = TraitOut(many=True)


class ContactTraitsApi(BrandApiView):
    required_scopes = {"GET": {Scope.CONSENT_READ.value}}

    @extend_schema(
        operation_id="contact_traits_get",
        summary="A contact's traits (consented purposes only)",
        tags=["Contacts"],
        description=(
            "The traits the contact's quiz answers set, the latest per name, by name: only those "
            "whose purpose the contact's consent currently covers (granted and not expired). A "
            "trait under a purpose that was never granted, was withdrawn or has expired is left "
            "out, as are traits the person deleted. 404 for an unknown contact."
        ),
        responses={200: TraitsOut, **ERRORS},
    )
    def get(self, request: Request, external_id: str) -> Response:
        brand = self.principal().brand
        contact = consent_selectors.contact_get(brand=brand, external_id=external_id)
        traits = traits_shared(brand=brand, contact_id=contact.pk, now=timezone.now())
        body = {
            "contact": contact.external_id,
            "traits": [
                {
                    "name": trait.key,
                    "value": trait.value,
                    "purpose": trait.purpose.slug,
                    "source": trait.source,
                    "recorded_at": trait.recorded_at,
                }
                for trait in traits
            ],
        }
        return Response(TraitsOut(body).data)
