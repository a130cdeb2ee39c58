"""The demo brand's onboarding quiz (`make run`): "Find your kind of trip", published through the
quiz services on top of the preference demo (preferences.demo), as that one builds on the
consent demo.

Five questions in English, German and French: a single choice of goal whose options set a trait,
subscribe to the newsletter and score the outcomes; a scale of experience (a trait); an optional
multiple choice of kit; an optional email; and the email-marketing consent with its notice. Two
rules branch: a family trip skips the experience question, and a beginner skips the kit. Three
outcomes, chosen by the options' scores, each with a link to the shop.

The demo's local origins (http://localhost:8001 and http://127.0.0.1:8001, README "Embed the demo
quiz") are added to the brand's embed origins where local origins are allowed at all
(WEBHOOK_ALLOW_PRIVATE, on under `make run`).
"""

from __future__ import annotations

import random
from datetime import UTC, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from brands.embed import embed_origin_problem
from brands.models import Brand
from brands.services import brand_update
from consent.demo import DEMO_SEED
from consent.models import NoticeVersion
from preferences.demo import seed_demo as seed_preferences_demo
from quizzes.models import FunnelCount, Quiz, QuizStatus
from quizzes.services import quiz_create, quiz_publish

ONBOARDING_TITLE = "Find your kind of trip"
DEMO_EMBED_ORIGINS = ("http://localhost:8001", "http://127.0.0.1:8001")
SHOP = "https://demo-outfitters.example"


def _t(en: str, de: str, fr: str) -> dict[str, str]:
    return {"en": en, "de": de, "fr": fr}


def onboarding_document(*, notice_version: str) -> dict[str, Any]:
    """The quiz as its JSON document; `notice_version` is the email-marketing notice shown with
    the consent question."""
    newsletter = {"topic": "newsletter", "channel": "email", "cadence": "monthly"}
    return {
        "format": 1,
        "language": "en",
        "title": _t(ONBOARDING_TITLE, "Finden Sie Ihre Art zu reisen", "Trouvez votre façon de partir"),
        "questions": [
            {
                "id": "goal",
                "type": "single",
                "purpose": "personalisation",
                "text": _t(
                    "What would you most like to do outdoors this year?",
                    "Was möchten Sie dieses Jahr draußen am liebsten machen?",
                    "Que voulez-vous faire dehors cette année ?",
                ),
                "help": _t(
                    "We use your answer to <strong>pick gear</strong> for you.",
                    "Mit Ihrer Antwort <strong>wählen wir Ausrüstung</strong> für Sie aus.",
                    "Votre réponse nous aide à <strong>choisir votre équipement</strong>.",
                ),
                "options": [
                    {
                        "id": "day-hikes",
                        "label": _t("Day hikes", "Tageswanderungen", "Randonnées à la journée"),
                        "effects": {
                            "traits": {"goal": "day hikes"},
                            "subscribe": [newsletter],
                            "scores": {"first-steps": 1, "light-and-fast": 1},
                        },
                    },
                    {
                        "id": "trekking",
                        "label": _t("A multi-day trek", "Eine mehrtägige Tour", "Un trek de plusieurs jours"),
                        "effects": {
                            "traits": {"goal": "multi-day trek"},
                            "subscribe": [newsletter],
                            "scores": {"long-trail": 3},
                        },
                    },
                    {
                        "id": "trail-running",
                        "label": _t("Trail running", "Trailrunning", "Trail"),
                        "effects": {"traits": {"goal": "trail running"}, "scores": {"light-and-fast": 3}},
                    },
                    {
                        "id": "family",
                        "label": _t(
                            "Outings with the family", "Ausflüge mit der Familie", "Sorties en famille"
                        ),
                        "effects": {"traits": {"goal": "family outings"}, "scores": {"first-steps": 2}},
                    },
                ],
            },
            {
                "id": "experience",
                "type": "scale",
                "purpose": "personalisation",
                "text": _t(
                    "How experienced are you outdoors?",
                    "Wie erfahren sind Sie draußen?",
                    "Quelle est votre expérience en plein air ?",
                ),
                "scale": {
                    "min": 1,
                    "max": 5,
                    "min_label": _t("Just starting", "Ganz am Anfang", "Je débute"),
                    "max_label": _t("Seasoned", "Sehr erfahren", "Aguerri"),
                },
                "trait": "experience",
            },
            {
                "id": "kit",
                "type": "multiple",
                "purpose": "personalisation",
                "text": _t(
                    "Which of these do you own already?",
                    "Was davon haben Sie schon?",
                    "Lesquels possédez-vous déjà ?",
                ),
                "required": False,
                "options": [
                    {
                        "id": "boots",
                        "label": _t("Walking boots", "Wanderschuhe", "Chaussures de marche"),
                        "effects": {"scores": {"light-and-fast": 1}},
                    },
                    {
                        "id": "tent",
                        "label": _t("A tent", "Ein Zelt", "Une tente"),
                        "effects": {"scores": {"long-trail": 1}},
                    },
                    {
                        "id": "backpack",
                        "label": _t("A large backpack", "Einen großen Rucksack", "Un grand sac à dos"),
                        "effects": {"scores": {"long-trail": 1}},
                    },
                ],
            },
            {
                "id": "email",
                "type": "email",
                "purpose": "email-marketing",
                "text": _t(
                    "Where should we send your packing list?",
                    "Wohin sollen wir Ihre Packliste schicken?",
                    "Où envoyer votre liste de matériel ?",
                ),
                "help": _t(
                    "Optional. Leave it blank to stay anonymous.",
                    "Freiwillig. Lassen Sie es leer, um anonym zu bleiben.",
                    "Facultatif. Laissez vide pour rester anonyme.",
                ),
                "required": False,
            },
            {
                "id": "tips",
                "type": "consent",
                "purpose": "email-marketing",
                "text": _t(
                    "May we email you trip ideas and offers for your kind of trip?",
                    "Dürfen wir Ihnen Tourenideen und Angebote per E-Mail schicken?",
                    "Pouvons-nous vous envoyer des idées de sorties et des offres par e-mail ?",
                ),
                "notice_version": notice_version,
            },
        ],
        "rules": [
            # A family outing needs no rating of one's experience.
            {"from": "goal", "when": {"is": "family"}, "to": "kit"},
            # A beginner owns no kit worth asking about yet.
            {"from": "experience", "when": {"at_most": 2}, "to": "email"},
        ],
        "outcomes": [
            {
                "id": "first-steps",
                "title": _t("First steps outside", "Erste Schritte draußen", "Premiers pas dehors"),
                "text": _t(
                    "<p>Start with <strong>short, well-marked routes</strong> and comfortable shoes.</p>"
                    "<p>Our beginners' guide has ten walks to try this month.</p>",
                    "<p>Beginnen Sie mit <strong>kurzen, gut markierten Wegen</strong> und bequemen "
                    "Schuhen.</p>"
                    "<p>Unser Einsteiger-Ratgeber hat zehn Touren für diesen Monat.</p>",
                    "<p>Commencez par des <strong>itinéraires courts et balisés</strong> et de bonnes "
                    "chaussures.</p><p>Notre guide du débutant propose dix balades ce mois-ci.</p>",
                ),
                "link": f"{SHOP}/guides/first-steps",
                "link_label": _t("Read the beginners' guide", "Zum Einsteiger-Ratgeber", "Lire le guide"),
            },
            {
                "id": "light-and-fast",
                "title": _t("Light and fast", "Leicht und schnell", "Léger et rapide"),
                "text": _t(
                    "Light shoes, a small pack and a <em>windproof</em> layer: everything you need "
                    "to move quickly.",
                    "Leichte Schuhe, ein kleiner Rucksack und eine <em>winddichte</em> Jacke: alles, "
                    "was Sie brauchen, um schnell unterwegs zu sein.",
                    "Des chaussures légères, un petit sac et une couche <em>coupe-vent</em> : tout "
                    "pour avancer vite.",
                ),
                "link": f"{SHOP}/collections/light-and-fast",
                "link_label": _t("See the collection", "Zur Kollektion", "Voir la collection"),
            },
            {
                "id": "long-trail",
                "title": _t(
                    "Ready for the long trail", "Bereit für die lange Tour", "Prêt pour le long chemin"
                ),
                "text": _t(
                    "A tent you can carry for days and a pack that fits: our trekking range.",
                    "Ein Zelt, das Sie tagelang tragen, und ein Rucksack, der passt: "
                    "unser Trekking-Sortiment.",
                    "Une tente à porter plusieurs jours et un sac ajusté : notre gamme trekking.",
                ),
                "link": f"{SHOP}/collections/trekking",
                "link_label": _t(
                    "See the trekking range", "Zum Trekking-Sortiment", "Voir la gamme trekking"
                ),
            },
        ],
    }


def _email_notice(brand: Brand) -> NoticeVersion:
    version = (
        NoticeVersion.objects.filter(notice__purpose__brand=brand, notice__purpose__slug="email-marketing")
        .filter(language=brand.default_language)
        .order_by("-version")
        .first()
    )
    assert version is not None, "the consent demo publishes the email-marketing notice"
    return version


def onboarding_quiz_ensure(*, brand: Brand) -> Quiz:
    """The onboarding quiz, published; created once (found again by its title). One a person
    archived stays archived."""
    quiz = Quiz.objects.filter(brand=brand, title=ONBOARDING_TITLE).order_by("pk").first()
    if quiz is None:
        document = onboarding_document(notice_version=_email_notice(brand).public_id)
        quiz = quiz_create(brand=brand, actor=DEMO_SEED, document=document)
    if quiz.status == QuizStatus.DRAFT:
        quiz_publish(quiz=quiz, actor=DEMO_SEED)
        quiz.refresh_from_db()
    return quiz


def _embed_origins(brand: Brand) -> Brand:
    local = [origin for origin in DEMO_EMBED_ORIGINS if embed_origin_problem(origin) is None]
    missing = [origin for origin in local if origin not in brand.embed_origins]
    if not missing:
        return brand
    return brand_update(brand=brand, actor=DEMO_SEED, embed_origins=[*brand.embed_origins, *missing])


@transaction.atomic
def seed_demo() -> tuple[Brand, str, Quiz]:
    """The preference demo (brand, purposes, topics, contacts, key), its embed origins and the
    published onboarding quiz. Idempotent."""
    brand, raw_key = seed_preferences_demo()
    brand = _embed_origins(brand)
    quiz = onboarding_quiz_ensure(brand=brand)
    _funnel_history(quiz)
    return brand, raw_key, quiz


FUNNEL_DAYS = 30
_QUESTIONS = ("goal", "experience", "kit", "email", "tips")
_OUTCOMES = ("first-steps", "light-and-fast", "long-trail")


def _funnel_history(quiz: Quiz) -> None:
    """The thirty days before today of the live version's funnel, as the page would have counted
    them (anonymous daily counts: no response, answer or contact behind them), so the console's
    funnel page shows its chart at once. Made-up but consistent (each step at most the one before
    it), the same on every machine; once per version."""
    version_id = quiz.live_version_id
    today = timezone.now().astimezone(UTC).date()
    if version_id is None or FunnelCount.objects.filter(version_id=version_id, day__lt=today).exists():
        return
    pick = random.Random(30)  # made-up counts, the same on every machine
    rows = []
    for days_ago in range(FUNNEL_DAYS, 0, -1):
        counts = {"viewed": pick.randint(40, 90)}
        reached = counts["started"] = round(counts["viewed"] * pick.uniform(0.55, 0.75))
        for key in _QUESTIONS:
            reached = round(reached * pick.uniform(0.82, 0.97))
            counts[f"answered:{key}"] = reached
        counts["completed"] = reached
        counts["opted_in:email-marketing"] = round(reached * pick.uniform(0.45, 0.7))
        shares = [pick.random() + 0.3 for _ in _OUTCOMES]
        given = [int(reached * share / sum(shares)) for share in shares[:-1]]
        for outcome, n in zip(_OUTCOMES, [*given, reached - sum(given)], strict=True):
            counts[f"outcome:{outcome}"] = n  # every completed run ends in one of them
        day = today - timedelta(days=days_ago)
        rows += [FunnelCount(version_id=version_id, day=day, step=key, count=n) for key, n in counts.items()]
    FunnelCount.objects.bulk_create(rows)
