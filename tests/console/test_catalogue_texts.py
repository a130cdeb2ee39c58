"""The catalogue edits what the configuration API edits: a topic's name and description per
language (Topic.translations) and a purpose's DPV purpose, through the same services, audited
with the staff member as the actor; a bad value is refused and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest

from consent.models import Purpose
from preferences.models import Topic
from tests.actors import audit_mark, audit_rows
from tests.console.test_catalogue import EDITOR, topic_form


@pytest.fixture
def editor(brand, make_staff, signed_in):
    return signed_in(make_staff(brand, "editor"))


@pytest.fixture
def viewer(brand, make_staff, signed_in):
    return signed_in(make_staff(brand, "viewer"))


def test_the_topic_form_shows_each_languages_texts(brand, topics, editor):
    page = editor.get("/console/acme/topics/newsletter/").content.decode()

    assert 'name="name_de"' in page
    assert 'value="Rundbrief"' in page
    assert 'name="description_fr"' in page
    assert 'lang="fr"' in page
    assert 'name="name_en"' not in page  # the brand's own language is the topic's name itself


def test_an_editor_translates_a_topic_and_the_audit_records_it(brand, topics, editor):
    mark = audit_mark()
    response = editor.post(
        "/console/acme/topics/newsletter/",
        {
            "action": "save",
            **topic_form(
                name_de="Neuigkeiten", description_de="", name_fr="", description_fr="Nos nouvelles"
            ),
        },
    )

    assert response.status_code == 302
    assert Topic.objects.get(brand=brand, slug="newsletter").translations == {
        "de": {"name": "Neuigkeiten"},
        "fr": {"description": "Nos nouvelles"},
    }
    assert audit_rows(brand, since_id=mark) == [
        (
            "staff",
            EDITOR,
            "topic.updated",
            "topic",
            "newsletter",
            {"translations": {"de": {"name": "Rundbrief"}}},
            {"translations": {"de": {"name": "Neuigkeiten"}, "fr": {"description": "Nos nouvelles"}}},
            "",
        )
    ]


def test_a_translation_for_a_language_the_form_does_not_offer_is_kept(brand, topics, editor):
    Topic.objects.filter(brand=brand, slug="newsletter").update(
        translations={"en": {"name": "News (en)"}, "de": {"name": "Rundbrief"}}
    )
    response = editor.post("/console/acme/topics/newsletter/", {"action": "save", **topic_form()})

    assert response.status_code == 302
    assert Topic.objects.get(brand=brand, slug="newsletter").translations == {
        "en": {"name": "News (en)"},
        "de": {"name": "Rundbrief"},
    }


def test_a_new_topic_takes_its_translations(brand, purpose, editor):
    form: dict[str, Any] = {
        "action": "create",
        "slug": "tips",
        "name": "Tips",
        "description": "",
        "name_de": "Tipps",
        "name_fr": "Astuces",
        "purpose": "email-marketing",
        "channels": ["email"],
        "cadence_options": ["weekly"],
        "default_cadence": "weekly",
        "position": "0",
    }
    assert editor.post("/console/acme/topics/", form).status_code == 302
    assert Topic.objects.get(brand=brand, slug="tips").translations == {
        "de": {"name": "Tipps"},
        "fr": {"name": "Astuces"},
    }


def test_a_too_long_translation_is_refused_and_nothing_written(brand, topics, editor):
    mark = audit_mark()
    response = editor.post(
        "/console/acme/topics/newsletter/", {"action": "save", **topic_form(name_fr="x" * 201)}
    )

    assert response.status_code == 400
    assert "Ensure this value has at most 200 characters (it has 201)." in response.content.decode()
    assert Topic.objects.get(brand=brand, slug="newsletter").translations == {"de": {"name": "Rundbrief"}}
    assert audit_rows(brand, since_id=mark) == []


def test_a_viewer_reads_the_translations(brand, topics, viewer):
    page = viewer.get("/console/acme/topics/newsletter/").content.decode()
    assert '<dd lang="de">Rundbrief</dd>' in page
    assert "<form" not in page.split("<main", 1)[1].split("</main>", 1)[0].replace('method="get"', "")


def purpose_form(**changes: str) -> dict[str, str]:
    form = {
        "action": "save",
        "name": "Email Marketing",
        "description": "",
        "legal_basis": "consent",
        "consent_type": "express",
        "lifetime_days": "",
        "dpv_purpose": "dpv:Marketing",
    }
    form.update(changes)
    return form


def test_an_editor_sets_a_purposes_dpv_purpose_and_the_audit_records_it(brand, purpose, editor):
    page = editor.get("/console/acme/purposes/email-marketing/").content.decode()
    assert '<option value="dpv:Marketing" selected>Marketing</option>' in page

    mark = audit_mark()
    response = editor.post(
        "/console/acme/purposes/email-marketing/", purpose_form(dpv_purpose="dpv:ServiceProvision")
    )

    assert response.status_code == 302
    assert Purpose.objects.get(pk=purpose.pk).dpv_purpose == "dpv:ServiceProvision"
    assert audit_rows(brand, since_id=mark) == [
        (
            "staff",
            EDITOR,
            "purpose.updated",
            "purpose",
            "email-marketing",
            {"dpv_purpose": "dpv:Marketing"},
            {"dpv_purpose": "dpv:ServiceProvision"},
            "",
        )
    ]


def test_an_unknown_dpv_purpose_is_refused_and_nothing_written(brand, purpose, editor):
    mark = audit_mark()
    response = editor.post(
        "/console/acme/purposes/email-marketing/", purpose_form(dpv_purpose="dpv:Surveillance")
    )

    assert response.status_code == 400
    assert "Select a valid choice. dpv:Surveillance is not one of the available choices." in (
        response.content.decode()
    )
    assert Purpose.objects.get(pk=purpose.pk).dpv_purpose == "dpv:Marketing"
    assert audit_rows(brand, since_id=mark) == []
