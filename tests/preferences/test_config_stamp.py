"""A brand's config_stamp changes, in the same transaction, whenever its topics, purposes,
notices or notice versions change (database triggers, preferences/migrations/_config_triggers.py),
and not when a contact's data changes: the hosted pages remember the configuration under it."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from brands.models import Brand
from consent.models import Notice, Purpose
from consent.services import contact_upsert, notice_version_publish
from preferences.models import Topic
from preferences.services import SubscriptionChange, hold_start, preferences_update
from tests.actors import TEST_ACTOR


def stamp(brand: Brand) -> int:
    return Brand.objects.values_list("config_stamp", flat=True).get(pk=brand.pk)


@pytest.fixture
def stamps(brand, other_brand):
    """(brand's stamp, other brand's stamp) now; call again to compare."""
    return lambda: (stamp(brand), stamp(other_brand))


def test_every_change_to_a_topic_changes_its_brands_stamp_only(
    brand, other_brand, purpose, make_topic, stamps
):
    before = stamps()
    topic = make_topic(brand, "news", purpose)
    after_insert = stamps()
    Topic.objects.filter(pk=topic.pk).update(name="News, renamed")
    after_update = stamps()
    Topic.objects.filter(pk=topic.pk).delete()
    after_delete = stamps()

    assert len({before[0], after_insert[0], after_update[0], after_delete[0]}) == 4
    assert before[1] == after_insert[1] == after_update[1] == after_delete[1]


def test_purposes_notices_and_new_notice_versions_change_the_stamp(brand, other_brand, make_purpose, stamps):
    before = stamps()
    purpose = make_purpose(brand, "profiling")  # a purpose, its notice and a first version
    created = stamps()
    Purpose.objects.filter(pk=purpose.pk).update(name="Profiling, renamed")
    renamed = stamps()
    notice_version_publish(actor=TEST_ACTOR, purpose=purpose, language="fr", title="Profilage", text="Texte.")
    published = stamps()
    Notice.objects.filter(pk=purpose.notice.pk).update(created_at=purpose.notice.created_at)
    touched = stamps()

    assert len({before[0], created[0], renamed[0], published[0], touched[0]}) == 5
    assert before[1] == created[1] == renamed[1] == published[1] == touched[1]


def test_a_rolled_back_change_leaves_the_stamp_as_it_was(brand, purpose, make_topic):
    before = stamp(brand)

    def change_then_fail() -> None:
        with transaction.atomic():
            make_topic(brand, "news", purpose)
            Topic.objects.create(brand=brand, slug="news", name="Twice")  # the same slug again

    with pytest.raises(IntegrityError):
        change_then_fail()

    assert stamp(brand) == before


def test_a_contacts_preferences_and_holds_leave_the_stamp_alone(brand, contact, newsletter, notice_version):
    before = stamp(brand)
    preferences_update(
        brand=brand,
        external_id=contact.external_id,
        method="api",
        recorded_by="test",
        subscriptions=[
            SubscriptionChange(
                topic="newsletter",
                channel="email",
                status="subscribed",
                notice_version=notice_version.public_id,
            )
        ],
    )
    hold_start(brand=brand, external_id=contact.external_id, started_by="customer", weeks=1, recorded_by="t")
    contact_upsert(brand=brand, external_id=contact.external_id, locale="fr")

    assert stamp(brand) == before
