"""The Jinja2 environment of the hosted pages (templates/jinja2/, settings.TEMPLATES "pages").

The hosted pages render with Jinja2 because Django's template language spent more time on the
preference centre than everything else in the request. Admin, DRF and the emails stay on the
Django template language (templates/ outside jinja2/).

What the templates get, beside Jinja2's own:

- `_`, `gettext`, `ngettext` and `{% trans %}` (jinja2.ext.i18n, new style: the translation is
  safe, its variables are escaped) bound to Django's translation machinery, so the msgids are
  those of locale/*/LC_MESSAGES/django.po; `_` and `gettext` come per render from the
  `bound` context processor (config.i18n remembers each translation). Jinja2's
  `{% trans trimmed x=… %}…{{ x }}…{% endtrans %}` gives the same msgid as Django's
  `{% blocktranslate trimmed with x=… %}`: `%(x)s` placeholders, `%` doubled, whitespace
  collapsed. `manage.py makemessages` reads these templates through
  preferences/management/commands/makemessages.py.
- globals: `url(name, *args)` (django.urls.reverse), `static(path)`, `get_current_language()`;
  `request` comes from Django's backend, `csrf_input`/`csrf_token`, `_`/`gettext` and
  `messages` from the context processors (settings.TEMPLATES).
- filters: `date(format)` (Django's localised formats, in the current time zone), `long_date`,
  `linebreaksbr`, `capfirst` and `lookup` (a mapping's value under a computed key).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.template import defaultfilters
from django.templatetags.static import static as django_static
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils import timezone
from django.utils.translation import get_language, gettext, ngettext
from jinja2 import Environment, Undefined
from markupsafe import Markup

from config.csrf import csrf_field, csrf_token
from config.i18n import translator


@lru_cache(maxsize=256)
def static(path: str) -> str:
    """`{% static path %}`, remembered: the storage's URL for a path does not change while the
    process runs (the manifest is read once)."""
    return django_static(path)


@lru_cache(maxsize=4096)
def _reverse(urlconf: str, script_prefix: str, name: str, args: tuple[Any, ...]) -> str:
    return reverse(name, urlconf=urlconf, args=args or None)


def _url_for(urlconf: str, script_prefix: str) -> Callable[..., str]:
    def url(name: str, *args: Any) -> str:
        try:
            return _reverse(urlconf, script_prefix, name, args)
        except TypeError:  # an unhashable argument
            return reverse(name, urlconf=urlconf, args=args or None)

    return url


def url(name: str, *args: Any) -> str:
    """`{% url name *args %}`: django.urls.reverse, remembered per URLconf, script prefix and
    arguments (reversing is the dearest part of a page: the centre has a dozen links)."""
    return _url_for(get_urlconf() or settings.ROOT_URLCONF, get_script_prefix())(name, *args)


class _Once:
    """A value made on first use and then kept: `{{ x }}` renders it (as safe HTML)."""

    __slots__ = ("_make", "_value")

    def __init__(self, make: Callable[[], str]) -> None:
        self._make = make
        self._value: str | None = None

    def __html__(self) -> str:
        if self._value is None:
            self._value = self._make()
        return self._value

    __str__ = __html__


# What a page drawn to be kept for many requests (console.pages.render_kept) has where its CSRF
# field goes: markup no escaped value can produce, replaced by each request's own field.
CSRF_HOLE = "<!--csrf_input-->"


def csrf(request: HttpRequest) -> dict[str, Any]:
    """Context processor: `csrf_token` and `csrf_input`, computed once per page and only if the
    page uses them (masked by config.csrf). The backend's own are lazy too, but mask a new token
    at every use. A page drawn to be kept (`request.csrf_hole`) gets CSRF_HOLE for its field and no token."""
    if getattr(request, "csrf_hole", False):
        return {"csrf_token": None, "csrf_input": Markup(CSRF_HOLE)}  # noqa: S704 - a constant
    token = _Once(lambda: csrf_token(request))  # letters and digits: nothing to escape
    field = _Once(lambda: csrf_field(token))
    return {"csrf_token": token, "csrf_input": field}


def bound(request: HttpRequest) -> dict[str, Any]:
    """Context processor: what the pages call most, bound once per render instead of looking
    up the language, URLconf and script prefix at every call. `_` and `gettext` (what
    `{% trans %}` calls) translate into the language active while the page renders
    (config.i18n.translator); `url` reverses as the global `url` does."""
    gettext_markup = translator()
    urls = _url_for(get_urlconf() or settings.ROOT_URLCONF, get_script_prefix())
    return {"_": gettext_markup, "gettext": gettext_markup, "url": urls}


def date(value: Any, arg: str | None = None) -> str:
    """Django's `date` filter (`|date("DATE_FORMAT")`), on the value in the current time zone
    (as the Django template language converts an aware datetime before its `date` filter)."""
    if isinstance(value, datetime) and settings.USE_TZ and timezone.is_aware(value):
        value = timezone.localtime(value)
    return str(defaultfilters.date(value, arg))


def long_date(value: Any) -> str:
    """A date written out as people write it in the current language: "23 November 2026",
    "23. November 2026", "23 novembre 2026" (English's DATE_FORMAT would say "Nov. 23, 2026")."""
    language = (get_language() or settings.LANGUAGE_CODE).split("-")[0]
    return date(value, "j F Y" if language == "en" else "DATE_FORMAT")


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


def _gettext(message: str, /, **variables: Any) -> Markup:
    """The global `_` and `gettext`, for macros imported without the page's context: the same
    translator, looked up per call."""
    return translator()(message, **variables)


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
    env.filters.update(
        date=date, long_date=long_date, linebreaksbr=linebreaksbr, capfirst=capfirst, lookup=lookup
    )
    return env
