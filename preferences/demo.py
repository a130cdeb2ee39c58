"""The demo brand's topics: email and SMS with different cadences (texts under their own notice),
a transactional topic and one that needs double opt-in, in English, German and French."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.templatetags.static import static

from brands.models import Brand, Typeface
from consent.demo import DEMO_SEED
from consent.demo import seed_demo as seed_consent_demo
from consent.models import ConsentEvent, Method, Purpose
from consent.services import contact_upsert
from preferences.demo_crowd import crowd_seed
from preferences.models import Channel, Topic
from preferences.services import SubscriptionChange, preferences_update
from preferences.topics import topic_create, topic_update

# The demo's German customer: signed up to the newsletter under the German notice text, the
# version a person reading German was shown (the ledger names the language of every grant).
GERMAN_CONTACT = "cust-43"

TOPICS: list[dict[str, Any]] = [
    {
        "slug": "newsletter",
        "name": "Newsletter",
        "description": "What is new in the shop, once in a while.",
        "purpose": "email-marketing",
        "channels": [Channel.EMAIL],
        "cadence_options": ["weekly", "monthly"],
        "translations": {
            "de": {"name": "Newsletter", "description": "Neues aus dem Laden, ab und zu."},
            "fr": {
                "name": "Lettre d'information",
                "description": "Les nouveautés de la boutique, de temps en temps.",
            },
        },
    },
    {
        "slug": "offers",
        "name": "Offers and sales",
        "description": "Discounts and sales on what you like.",
        "purpose": "email-marketing",
        "sms_purpose": "sms-marketing",
        "channels": [Channel.EMAIL, Channel.SMS],
        "cadence_options": ["immediate", "daily", "weekly"],
        "translations": {
            "de": {"name": "Angebote und Sale", "description": "Rabatte und Aktionen zu dem, was Sie mögen."},
            "fr": {"name": "Offres et soldes", "description": "Remises et soldes sur ce que vous aimez."},
        },
    },
    {
        "slug": "restock-alerts",
        "name": "Back-in-stock alerts",
        "description": "A message when something you wanted is back.",
        "purpose": "email-marketing",
        "sms_purpose": "sms-marketing",
        "channels": [Channel.SMS, Channel.EMAIL],
        "cadence_options": ["immediate"],
        "double_opt_in": True,
        "translations": {
            "de": {"name": "Wieder-da-Hinweise", "description": "Eine Nachricht, wenn etwas wieder da ist."},
            "fr": {
                "name": "Alertes de retour en stock",
                "description": "Un message quand un article revient.",
            },
        },
    },
    {
        "slug": "orders",
        "name": "Orders and delivery",
        "description": "Receipts and delivery updates. These are part of your purchase.",
        "purpose": None,
        "transactional": True,
        "default_subscribed": True,
        "channels": [Channel.EMAIL, Channel.SMS],
        "cadence_options": ["immediate"],
        "translations": {
            "de": {
                "name": "Bestellungen und Lieferung",
                "description": "Belege und Lieferstatus zu Ihrem Kauf.",
            },
            "fr": {
                "name": "Commandes et livraison",
                "description": "Reçus et suivi de livraison de vos achats.",
            },
        },
    },
]


@transaction.atomic
def seed_demo() -> tuple[Brand, str]:
    """The consent demo (brand, purposes, contact, key) plus its topics. Idempotent."""
    brand, raw_key = seed_consent_demo()
    _theme(brand)
    for position, spec in enumerate(TOPICS):
        purpose, sms_purpose = (
            Purpose.objects.get(brand=brand, slug=spec[key]) if spec.get(key) else None
            for key in ("purpose", "sms_purpose")
        )
        existing = Topic.objects.filter(brand=brand, slug=spec["slug"]).first()
        if existing is not None:
            # Demos seeded before texts had their own notice move their SMS rows under it.
            if (existing.purpose, existing.sms_purpose) != (purpose, sms_purpose):
                topic_update(topic=existing, actor=DEMO_SEED, purpose=purpose, sms_purpose=sms_purpose)
            continue
        fields = {key: value for key, value in spec.items() if key not in ("purpose", "sms_purpose")}
        topic_create(
            brand=brand,
            actor=DEMO_SEED,
            purpose=purpose,
            sms_purpose=sms_purpose,
            position=position,
            **fields,
        )
    _seed_german_contact(brand)
    crowd_seed(brand)
    return brand, raw_key


DEMO_LOGO = "img/demo-outfitters.svg"


def _theme(brand: Brand) -> None:
    """The demo's logo (served with the static files, under PUBLIC_BASE_URL as it is now) and
    typeface; a logo of another origin that someone set is kept."""
    logo_url = f"{settings.PUBLIC_BASE_URL}{static(DEMO_LOGO)}"
    if brand.logo_url and not brand.logo_url.endswith(static(DEMO_LOGO)):
        return
    if (brand.logo_url, brand.typeface) != (logo_url, Typeface.HUMANIST):
        Brand.objects.filter(pk=brand.pk).update(logo_url=logo_url, typeface=Typeface.HUMANIST)
        brand.logo_url, brand.typeface = logo_url, Typeface.HUMANIST


def _seed_german_contact(brand: Brand) -> None:
    contact, _ = contact_upsert(
        brand=brand, external_id=GERMAN_CONTACT, email="grete@example.com", locale="de", jurisdiction="DE"
    )
    if ConsentEvent.objects.filter(contact=contact).exists():
        return
    newsletter = Topic.objects.select_related("purpose").get(brand=brand, slug="newsletter")
    assert newsletter.purpose is not None
    german = newsletter.purpose.notice.versions.filter(language="de").order_by("-version").first()
    assert german is not None
    preferences_update(
        brand=brand,
        external_id=GERMAN_CONTACT,
        method=Method.IMPORT.value,
        recorded_by="seed_demo",
        subscriptions=[
            SubscriptionChange(
                topic="newsletter",
                channel=Channel.EMAIL.value,
                status="subscribed",
                cadence="monthly",
                notice_version=german.public_id,
            )
        ],
    )
