"""config.i18n: translations remembered per language, for the hosted pages."""

from __future__ import annotations

from django.utils import translation
from markupsafe import Markup

from config import i18n
from preferences.labels import CHANNEL_LABELS


def test_the_translator_translates_into_the_language_active_when_it_was_asked_for():
    with translation.override("de"):
        german = i18n.translator()
    with translation.override("fr"):
        french = i18n.translator()

    assert german("Unsubscribe from %(what)s", what="E-Mails") == "E-Mails abbestellen"
    assert french("Privacy policy") == "Politique de confidentialité"
    assert german("Privacy policy") == "Datenschutzerklärung"
    with translation.override("de"):
        assert i18n.translator() is german  # one per language


def test_the_translation_is_safe_and_its_variables_are_escaped():
    with translation.override("en"):
        translated = i18n.translator()("Unsubscribe from %(what)s", what="<b>all</b>")

    assert isinstance(translated, Markup)
    assert translated == "Unsubscribe from &lt;b&gt;all&lt;/b&gt;"


def test_a_message_without_variables_keeps_a_doubled_percent_sign_only_when_it_formats():
    with translation.override("en"):
        gettext_markup = i18n.translator()
        assert gettext_markup("100%% yours", n=1) == "100% yours"
        assert gettext_markup("Plain") == "Plain"


def test_labels_come_back_as_plain_strings_in_the_active_language():
    with translation.override("de"):
        german = i18n.labels_in_language(CHANNEL_LABELS)
    with translation.override("en"):
        english = i18n.labels_in_language(CHANNEL_LABELS)

    assert german["email"] == "E-Mail"
    assert english["email"] == "Email"
    assert type(german["sms"]) is str


def test_once_per_language_makes_each_languages_value_once():
    made: list[str | None] = []

    def make() -> str:
        made.append(translation.get_language())
        return f"made in {translation.get_language()}"

    with translation.override("de"):
        assert i18n.once_per_language("test.once", make) == "made in de"
        assert i18n.once_per_language("test.once", make) == "made in de"
    with translation.override("fr"):
        assert i18n.once_per_language("test.once", make) == "made in fr"

    assert made == ["de", "fr"]


def test_everything_remembered_is_forgotten_when_the_languages_change(settings):
    with translation.override("de"):
        before = i18n.translator()
        i18n.once_per_language("test.forget", lambda: "old")

    settings.LANGUAGES = [*settings.LANGUAGES]  # setting_changed: the catalogues may differ now

    with translation.override("de"):
        assert i18n.translator() is not before
        assert i18n.once_per_language("test.forget", lambda: "new") == "new"
