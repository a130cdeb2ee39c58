"""Notice texts and brand languages: only languages the hosted pages speak, whoever writes them
(the admin, the API, a configuration file), and the same text twice is one version."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from brands.models import Brand
from brands.services import brand_create, brand_update
from config.errors import Unprocessable
from consent.models import NoticeVersion
from consent.services import notice_text_set, notice_version_publish
from tests.actors import TEST_ACTOR


def test_a_notice_in_a_language_the_pages_do_not_speak_is_refused(purpose):
    with pytest.raises(Unprocessable) as refused:
        notice_version_publish(
            actor=TEST_ACTOR, purpose=purpose, language="es", title="Noticias", text="Texto."
        )
    assert refused.value.errors == {"language": ["Use one of the supported languages: en, de, fr."]}
    with pytest.raises(Unprocessable) as refused:
        notice_version_publish(actor=TEST_ACTOR, purpose=purpose, language="en", title=" ", text="")
    assert refused.value.errors == {
        "title": ["Give the notice's title."],
        "text": ["Give the notice's text."],
    }
    assert NoticeVersion.objects.count() == 2


def test_the_same_text_twice_is_one_version_and_a_change_is_the_next(purpose):
    current = NoticeVersion.objects.get(language="de")
    same, published = notice_text_set(
        actor=TEST_ACTOR, purpose=purpose, language="de", title=current.title, text=current.text
    )
    assert (same, published) == (current, False)
    changed, published = notice_text_set(
        actor=TEST_ACTOR, purpose=purpose, language="de", title=current.title, text="Neu."
    )
    assert (changed.version, published) == (2, True)
    # Back to the first text: a new version too (version 1 is history, not current).
    back, published = notice_text_set(
        actor=TEST_ACTOR, purpose=purpose, language="de", title=current.title, text=current.text
    )
    assert (back.version, published) == (3, True)
    assert NoticeVersion.objects.filter(language="de").count() == 3


def test_a_brand_speaks_first_in_a_supported_language(db):
    with pytest.raises(Unprocessable) as refused:
        brand_create(actor=TEST_ACTOR, slug="shop", name="Shop", default_language="es")
    assert refused.value.errors == {"default_language": ["Use one of the supported languages: en, de, fr."]}
    assert not Brand.objects.filter(slug="shop").exists()
    brand, _ = brand_create(actor=TEST_ACTOR, slug="shop", name="Shop", default_language="fr")
    with pytest.raises(Unprocessable):
        brand_update(actor=TEST_ACTOR, brand=brand, default_language="xx")
    assert Brand.objects.get(slug="shop").default_language == "fr"


@pytest.fixture
def staff(client, db):
    user = User.objects.create_superuser("root", "root@example.com", "a-long-password-123")
    client.force_login(user)
    return client


def test_the_admin_shows_the_services_refusal_of_a_notice_language(staff, purpose):
    response = staff.post(
        "/admin/consent/noticeversion/add/",
        {"purpose": purpose.pk, "language": "es", "title": "Noticias", "text": "Texto."},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "language": ["Use one of the supported languages: en, de, fr."]
    }
    assert NoticeVersion.objects.count() == 2
