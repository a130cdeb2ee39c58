"""Translations remembered per language, for what every hosted page translates again and again.

Django's gettext looks the active language up in a thread-local and walks its catalogues on
every call; the preference centre makes about eighty such calls per request for the same few
dozen constant messages. Here each (language, message) is looked up once per process. The
memory is emptied whenever Django's own catalogues may have changed: a changed .mo file under
runserver, or a test that changes LANGUAGES, LANGUAGE_CODE or LOCALE_PATHS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.autoreload import file_changed
from django.utils.translation import get_language, gettext, override
from markupsafe import Markup

Translator = Callable[..., Markup]
T = TypeVar("T")

_LIMIT = 10_000  # (language, message) pairs; the messages are constants, so this is never near
_messages: dict[tuple[str | None, str], str] = {}
_labels: dict[tuple[int, str | None], dict[Any, str]] = {}
_made: dict[tuple[str, str | None], Any] = {}
_translators: dict[str | None, Translator] = {}


def translate(message: str) -> str:
    """gettext(message) in the active language, remembered."""
    key = (get_language(), message)
    try:
        return _messages[key]
    except KeyError:
        if len(_messages) > _LIMIT:
            _messages.clear()
        translated = _messages[key] = gettext(message)
        return translated


def labels_in_language(labels: Mapping[Any, Any]) -> dict[Any, str]:
    """A module-level mapping of lazily translated labels, as plain strings in the active
    language (evaluated once per language)."""
    key = (id(labels), get_language())
    try:
        return _labels[key]
    except KeyError:
        translated = _labels[key] = {name: str(label) for name, label in labels.items()}
        return translated


def once_per_language(key: str, make: Callable[[], T]) -> T:
    """What `make()` returns in the active language, made once per language: for output that
    depends on nothing but the language (an empty form's choices, say)."""
    memo_key = (key, get_language())
    try:
        return cast("T", _made[memo_key])
    except KeyError:
        made = _made[memo_key] = make()
        return made


def translator() -> Translator:
    """jinja2.ext.i18n's "new style" gettext for the active language: the translation is safe,
    the variables are escaped into it, `%%` is a percent sign. Templates get it per render
    (config.jinja2.i18n), so no call asks for the language again."""
    language = get_language()
    try:
        return _translators[language]
    except KeyError:
        pass
    table: dict[str, tuple[Markup, bool]] = {}

    def gettext_markup(message: str, /, **variables: Any) -> Markup:
        try:
            translated, formats = table[message]
        except KeyError:
            with override(language):  # whichever language is active when it is called
                # Our own catalogue, trusted as Django's {% translate %} trusts it.
                translated = Markup(gettext(message))  # noqa: S704
            formats = "%" in translated
            if len(table) < _LIMIT:
                table[message] = (translated, formats)
        return translated % variables if variables or formats else translated

    _translators[language] = gettext_markup
    return gettext_markup


def forget() -> None:
    _messages.clear()
    _labels.clear()
    _made.clear()
    _translators.clear()


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in {"LANGUAGES", "LANGUAGE_CODE", "LOCALE_PATHS"}:
        forget()


@receiver(file_changed)
def _file_changed(*, file_path: Path, **kwargs: Any) -> None:
    if file_path.suffix == ".mo":
        forget()
