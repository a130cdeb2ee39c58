"""The Jinja2 environment of the hosted pages (templates/jinja2/, settings.TEMPLATES "pages").

The hosted pages render with Jinja2 because Django's template language spent more time on the
preference centre than everything else in the request. Admin, DRF and the emails stay on the
Django template language (templates/ outside jinja2/).

What the templates get, beside Jinja2's own:

- `_`, `gettext`, `ngettext` and `{% trans %}` (jinja2.ext.i18n, new style: the translation is
  safe, its variables are escaped) bound to Django's translation machinery, so the msgids are
  those of locale/*/LC_MESSAGES/django.po. Jinja2's
  `{% trans trimmed x=… %}…{{ x }}…{% endtrans %}` gives the same msgid as Django's
  `{% blocktranslate trimmed with x=… %}`: `%(x)s` placeholders, `%` doubled, whitespace
  collapsed. `manage.py makemessages` reads these templates through
  preferences/management/commands/makemessages.py.
- globals: `url(name, *args)` (django.urls.reverse), `static(path)`, `get_current_language()`;
  `request` comes from Django's backend, `csrf_input`/`csrf_token` and `messages` from the
  context processors (settings.TEMPLATES).
- filters: `date(format)` (Django's localised formats, in the current time zone),
  `linebreaksbr`, `capfirst` and `lookup` (a mapping's value under a computed key).
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.template import defaultfilters
from django.templatetags.static import static
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.autoreload import file_changed
from django.utils.functional import SimpleLazyObject
from django.utils.html import format_html
from django.utils.translation import get_language, gettext, ngettext
from jinja2 import Environment, Undefined
from markupsafe import Markup


@lru_cache(maxsize=4096)
def _reverse(urlconf: str, script_prefix: str, name: str, args: tuple[Any, ...]) -> str:
    return reverse(name, urlconf=urlconf, args=args or None)


def url(name: str, *args: Any) -> str:
    """`{% url name *args %}`: django.urls.reverse, remembered per URLconf, script prefix and
    arguments (reversing is the dearest part of a page: the centre has a dozen links)."""
    urlconf = get_urlconf() or settings.ROOT_URLCONF
    try:
        return _reverse(urlconf, get_script_prefix(), name, args)
    except TypeError:  # an unhashable argument
        return reverse(name, urlconf=urlconf, args=args or None)


def csrf(request: HttpRequest) -> dict[str, Any]:
    """Context processor: `csrf_token` and `csrf_input`, computed once per page and only if the
    page uses them. The backend's own are lazy too, but mask a new token at every use."""
    token = SimpleLazyObject(lambda: get_token(request))
    field = SimpleLazyObject(
        lambda: format_html('<input type="hidden" name="csrfmiddlewaretoken" value="{}">', token)
    )
    return {"csrf_token": token, "csrf_input": field}


def date(value: Any, arg: str | None = None) -> str:
    """Django's `date` filter (`|date("DATE_FORMAT")`), on the value in the current time zone
    (as the Django template language converts an aware datetime before its `date` filter)."""
    if isinstance(value, datetime) and settings.USE_TZ and timezone.is_aware(value):
        value = timezone.localtime(value)
    return str(defaultfilters.date(value, arg))


def linebreaksbr(value: Any) -> Any:
    """Django's `linebreaksbr`: escapes (unless safe), then every newline becomes <br>."""
    return defaultfilters.linebreaksbr(value, autoescape=True)


def capfirst(value: Any) -> Any:
    """The first character upper-cased; a safe string stays safe."""
    text = str(value)
    result = text[:1].upper() + text[1:]
    return Markup(result) if hasattr(value, "__html__") else result  # noqa: S704 - it was safe


def lookup(mapping: Any, key: Any) -> Any:
    """`mapping|lookup(key)`: the value under a computed key, or None."""
    if not mapping:
        return None
    try:
        return mapping.get(key)
    except AttributeError:
        return None


# (language, msgid) → translation. The templates' msgids are constants, so this stays small;
# it is emptied with Django's own catalogues (a changed .mo under runserver, or a test that
# changes the languages or LOCALE_PATHS).
_translated: dict[tuple[str | None, str], str] = {}


def _translate(message: str) -> str:
    key = (get_language(), message)
    try:
        return _translated[key]
    except KeyError:
        if len(_translated) > 10_000:
            _translated.clear()
        translated = _translated[key] = gettext(message)
        return translated


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in {"LANGUAGES", "LANGUAGE_CODE", "LOCALE_PATHS"}:
        _translated.clear()


@receiver(file_changed)
def _file_changed(*, file_path: Path, **kwargs: Any) -> None:
    if file_path.suffix == ".mo":
        _translated.clear()


def _gettext(message: str, /, **variables: Any) -> Markup:
    """jinja2.ext.i18n's new-style gettext (the templates autoescape): the translation is safe,
    the variables are escaped into it, `%%` is a percent sign."""
    translated = Markup(_translate(message))  # noqa: S704 - our own catalogue, as in Django's tags
    return translated % variables if variables or "%" in translated else translated


def _ngettext(singular: str, plural: str, number: int, /, **variables: Any) -> Markup:
    variables.setdefault("num", number)
    return Markup(ngettext(singular, plural, number)) % variables  # noqa: S704 - as above


def environment(**options: Any) -> Environment:
    # An unknown variable is empty, as in the Django template language, also with DEBUG on
    # (where Django's backend would choose DebugUndefined, which prints it).
    options["undefined"] = Undefined
    # Always escaped: _gettext and _ngettext rely on it.
    options.pop("autoescape", None)
    env = Environment(autoescape=True, **options)
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    # The same "new style" functions, called directly: the extension's own pass the template
    # context through three calls for every message, which was a third of the centre's time.
    env.globals.update(_=_gettext, gettext=_gettext, ngettext=_ngettext)
    env.globals.update(url=url, static=static, get_current_language=get_language)
    env.filters.update(date=date, linebreaksbr=linebreaksbr, capfirst=capfirst, lookup=lookup)
    return env
