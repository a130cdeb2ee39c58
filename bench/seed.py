"""Seeding the bench database. Runs in-process with bench.settings already set up."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.db import connection, transaction

from bench.ceiling.models import Row
from brands.models import Scope
from brands.services import api_key_create, brand_create
from consent.models import ConsentEvent, Contact, Decision, Method
from consent.services import consent_record, contact_upsert, notice_version_publish, purpose_create

BRAND_SLUG = "bench"
PURPOSE_SLUG = "newsletter"


@dataclass(frozen=True)
class Seeded:
    brand_id: int
    raw_key: str
    purpose_id: int
    purpose_slug: str
    notice_version_id: int
    notice_version_public_id: str
    contacts: int
    ceiling_rows: int
    seconds: float


def external_id(number: int) -> str:
    return f"c{number}"


def seed_base(*, contacts: int, ceiling_rows: int, log: callable) -> Seeded:
    """A brand, an API key, a purpose with a notice version, `contacts` contacts each with
    one granted consent (through the real service, so chains and the outbox are genuine),
    and `ceiling_rows` rows for the read ceiling."""
    started = time.monotonic()
    with connection.cursor() as cursor:
        # Seeding only: commits need not wait for the WAL flush. The benchmark's server
        # processes open their own sessions with the server's default (on).
        cursor.execute("SET synchronous_commit TO off")
    brand, _ = brand_create(slug=BRAND_SLUG, name="Bench brand", jurisdiction="DE")
    issued = api_key_create(brand=brand, scopes=[Scope.CONSENT_READ, Scope.CONSENT_WRITE], name="bench")
    purpose = purpose_create(
        brand=brand, slug=PURPOSE_SLUG, name="Newsletter", description="News about our products, weekly."
    )
    notice = notice_version_publish(
        purpose=purpose,
        language="en",
        title="Our newsletter",
        text="We would like to email you our weekly newsletter. You can unsubscribe at any time.",
    )
    for number in range(1, contacts + 1):
        contact_upsert(brand=brand, external_id=external_id(number), email=f"person{number}@example.com")
        consent_record(
            brand=brand,
            external_id=external_id(number),
            purpose_slug=PURPOSE_SLUG,
            decision=Decision.GRANTED,
            notice_version_id=notice.public_id,
            method=Method.IMPORT,
            recorded_by="bench:seed",
        )
        if number % 2000 == 0:
            log(f"  seeded {number}/{contacts} contacts with a granted consent")
    Row.objects.bulk_create([Row(value=f"row {n}") for n in range(1, ceiling_rows + 1)], batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO DEFAULT")
        cursor.execute("VACUUM ANALYZE")
    return Seeded(
        brand_id=brand.pk,
        raw_key=issued.raw_key,
        purpose_id=purpose.pk,
        purpose_slug=purpose.slug,
        notice_version_id=notice.pk,
        notice_version_public_id=notice.public_id,
        contacts=contacts,
        ceiling_rows=ceiling_rows,
        seconds=time.monotonic() - started,
    )
