"""The demo brand `make run` seeds: purposes with notice texts in English, German and French."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.conf import settings
from django.db import transaction

from brands.audit import Actor
from brands.models import ApiKey, Brand, Scope, hash_api_key
from brands.services import KEY_PREFIX, brand_create
from consent.models import ConsentType, DpvPurpose, LegalBasis, Purpose
from consent.services import contact_upsert, notice_version_publish, purpose_create

DEMO_SLUG = "demo"
# The demo customer `make run` prints a link for (the only contact /_dev/demo-centre opens).
DEMO_CONTACT = "cust-42"

PURPOSES: list[dict[str, Any]] = [
    {
        "slug": "email-marketing",
        "name": "Email newsletters and offers",
        "dpv_purpose": DpvPurpose.DIRECT_MARKETING,
        "consent_type": ConsentType.EXPRESS,
        "notices": {
            "en": (
                "Emails from Demo Outfitters",
                "We email you news and offers about the topics you choose. "
                "You can withdraw at any time with one click in any email or in your preference centre.",
            ),
            "de": (
                "E-Mails von Demo Outfitters",
                "Wir senden Ihnen Neuigkeiten und Angebote zu den Themen, die Sie wählen. "
                "Sie können jederzeit mit einem Klick in jeder E-Mail "
                "oder im Präferenzcenter widerrufen.",
            ),
            "fr": (
                "E-mails de Demo Outfitters",
                "Nous vous envoyons des nouvelles et des offres sur les sujets que "
                "vous choisissez. Vous pouvez retirer votre consentement à tout moment, en un clic.",
            ),
        },
    },
    {
        "slug": "sms-marketing",
        "name": "Text message offers",
        "dpv_purpose": DpvPurpose.DIRECT_MARKETING,
        "consent_type": ConsentType.EXPRESS,
        "notices": {
            "en": (
                "Texts from Demo Outfitters",
                "By ticking a text box below you agree that Demo Outfitters may send you recurring "
                "marketing text messages, including by automated means, at the mobile number shown "
                "beside it. Consent is not a condition of any purchase. Up to 4 messages a month. "
                "Msg & data rates may apply. Reply STOP to cancel at any time, HELP for help.",
            ),
            "de": (
                "SMS von Demo Outfitters",
                "Wenn Sie unten ein SMS-Kästchen ankreuzen, willigen Sie ein, dass Demo Outfitters "
                "Ihnen wiederkehrend Werbung per SMS, auch automatisiert, an die daneben angezeigte "
                "Mobilnummer sendet. Die Einwilligung ist keine Bedingung für einen Kauf. Bis zu 4 "
                "Nachrichten im Monat. Es können Gebühren für SMS und Daten anfallen. Antworten Sie "
                "jederzeit STOP zum Beenden, HELP für Hilfe.",
            ),
            "fr": (
                "SMS de Demo Outfitters",
                "En cochant une case SMS ci-dessous, vous acceptez que Demo Outfitters vous envoie "
                "des SMS publicitaires récurrents, y compris de manière automatisée, au numéro de "
                "mobile affiché à côté. Le consentement n'est pas une condition d'achat. Jusqu'à 4 "
                "messages par mois. Des frais de messagerie et de données peuvent s'appliquer. "
                "Répondez STOP pour arrêter à tout moment, HELP pour obtenir de l'aide.",
            ),
        },
    },
    {
        "slug": "personalisation",
        "name": "Personalise using your quiz answers",
        "dpv_purpose": DpvPurpose.SERVICE_PERSONALISATION,
        "consent_type": ConsentType.EXPRESS,
        "notices": {
            "en": (
                "Personalisation",
                "We use the answers you give in our quizzes to pick products for you.",
            ),
            "de": (
                "Personalisierung",
                "Wir nutzen Ihre Antworten aus unseren Quiz, um Produkte für Sie auszuwählen.",
            ),
            "fr": (
                "Personnalisation",
                "Nous utilisons vos réponses aux quiz pour choisir des produits pour vous.",
            ),
        },
    },
    {
        "slug": "ad-partners",
        "name": "Share with advertising partners",
        "dpv_purpose": DpvPurpose.MARKETING,
        "consent_type": ConsentType.EXPRESS,
        "sale_or_sharing": True,  # a Sec-GPC: 1 request withdraws it
        "notices": {
            "en": (
                "Advertising partners",
                "We share which products you viewed with our advertising partners, so they can show "
                "you our ads elsewhere. This counts as selling or sharing your data.",
            ),
            "de": (
                "Werbepartner",
                "Wir teilen mit unseren Werbepartnern, welche Produkte Sie angesehen haben, damit sie "
                "Ihnen anderswo unsere Werbung zeigen. Das gilt als Verkauf oder Weitergabe Ihrer Daten.",
            ),
            "fr": (
                "Partenaires publicitaires",
                "Nous partageons avec nos partenaires publicitaires les produits que vous avez consultés, "
                "afin qu'ils vous montrent nos annonces ailleurs. Cela constitue une vente ou un partage "
                "de vos données.",
            ),
        },
    },
    {
        "slug": "customer-updates",
        "name": "Updates after a purchase (CASL implied consent)",
        "dpv_purpose": DpvPurpose.MARKETING,
        "consent_type": ConsentType.IMPLIED,
        "notices": {
            "en": (
                "Updates for customers",
                "Because you bought from us or asked us something, we may email you "
                "for a limited time. Unsubscribe at any time.",
            ),
            "de": (
                "Neuigkeiten für Kundinnen und Kunden",
                "Weil Sie bei uns gekauft oder uns etwas gefragt haben, dürfen wir Ihnen für "
                "begrenzte Zeit E-Mails senden. Sie können sich jederzeit abmelden.",
            ),
            "fr": (
                "Nouvelles pour nos clients",
                "Parce que vous nous avez acheté quelque chose ou posé une question, nous pouvons "
                "vous écrire par e-mail pendant une durée limitée. Désabonnez-vous à tout moment.",
            ),
        },
    },
]

DEMO_SEED = Actor.system("seed_demo")  # who the audit log names for the demo's configuration


def demo_api_key() -> str:
    """A stable demo key derived from SECRET_KEY, so `make run` can print it every time."""
    secret = hmac.new(settings.SECRET_KEY.encode(), b"candor.demo-api-key", hashlib.sha256).hexdigest()
    return f"{KEY_PREFIX}demo0000_{secret}"


@transaction.atomic
def seed_demo() -> tuple[Brand, str]:
    brand, _ = brand_create(
        actor=DEMO_SEED, slug=DEMO_SLUG, name="Demo Outfitters", default_language="en", jurisdiction="DE"
    )
    if not brand.contact_email:
        Brand.objects.filter(pk=brand.pk).update(
            contact_email="privacy@demo-outfitters.example",
            website="https://demo-outfitters.example",
            address="1 Example Street, Springfield",
            privacy_policy_url="https://demo-outfitters.example/privacy",
        )
        brand.refresh_from_db()
    for spec in PURPOSES:
        purpose = Purpose.objects.filter(brand=brand, slug=spec["slug"]).first()
        if purpose is None:
            purpose = purpose_create(
                brand=brand,
                actor=DEMO_SEED,
                slug=spec["slug"],
                name=spec["name"],
                legal_basis=LegalBasis.CONSENT,
                consent_type=spec["consent_type"],
                dpv_purpose=spec["dpv_purpose"],
                sale_or_sharing=spec.get("sale_or_sharing", False),
            )
        for language, (title, text) in spec["notices"].items():
            current = purpose.notice.versions.filter(language=language).order_by("-version").first()
            # A changed demo text becomes a new version (versions are never edited).
            if current is None or (current.title, current.text) != (title, text):
                notice_version_publish(
                    purpose=purpose, actor=DEMO_SEED, language=language, title=title, text=text
                )
    contact_upsert(
        brand=brand, external_id=DEMO_CONTACT, email="ada@example.com", locale="en", jurisdiction="DE"
    )
    raw_key = demo_api_key()
    if not ApiKey.objects.filter(key_hash=hash_api_key(raw_key)).exists():
        ApiKey.objects.create(
            brand=brand,
            name="demo",
            prefix=f"{KEY_PREFIX}demo0000",
            key_hash=hash_api_key(raw_key),
            scopes=[Scope.ADMIN.value],
        )
    return brand, raw_key
