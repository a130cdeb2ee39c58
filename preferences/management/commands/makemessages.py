"""`manage.py makemessages`, which also reads the Jinja2 templates of the hosted pages.

Django's makemessages turns every template into Python for xgettext with `templatize`, which
only knows the Django template language: it would miss every `{% trans %}` block of
templates/jinja2/ (and `--no-obsolete` would then drop their translations). Here a template
under the Jinja2 engine's folders is instead parsed by that engine's own environment
(config/jinja2.py) and every message found in it (`_()`, `gettext()`, `ngettext()`,
`{% trans %}`) is written out as a `gettext()`/`ngettext()` call on its own line number, so
xgettext gives the very msgids the templates ask for at runtime, and the `#:` references
point at the template lines. Everything else is Django's command, unchanged.

The translations live in locale/{de,fr}/LC_MESSAGES/django.po, edited by hand or in any PO
editor; the compiled django.mo next to each is committed too. After a message changes in the
code or a template:

    .venv/bin/python manage.py makemessages -l de -l fr --no-obsolete \\
        --ignore=var --ignore=bench --ignore=tests
    # translate what is new or marked fuzzy in the two .po files
    .venv/bin/python manage.py compilemessages --ignore=.venv --ignore=.tools

makemessages keeps every translation. A message whose English changed comes back marked
`#, fuzzy` with its old translation, which Django does not use until a translator checks it
and removes the mark; a message no longer in the code is dropped (--no-obsolete). German uses
the formal "Sie", French "vous". tests/test_locale.py fails while a message of the .po files is
untranslated or fuzzy, or a .mo differs from its .po; tests/preferences/test_templates.py
while a template's message is not in them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.commands import makemessages
from django.template import engines
from jinja2.ext import extract_from_ast

JINJA_ENGINE = "pages"


def _jinja_dirs() -> list[Path]:
    engine: Any = engines[JINJA_ENGINE]
    return [Path(folder).resolve() for folder in engine.template_dirs]


def jinja_messages(source: str) -> list[tuple[int, str, list[str]]]:
    """(line, function, [msgid] or [singular, plural]) of every message of a Jinja2 template,
    as the hosted pages' environment parses it."""
    env: Any = engines[JINJA_ENGINE].env  # type: ignore[attr-defined]
    found = []
    for lineno, function, message in extract_from_ast(env.parse(source)):
        strings = [m for m in (message if isinstance(message, tuple) else (message,)) if m is not None]
        if strings:
            found.append((lineno, function, strings[:2] if function == "ngettext" else strings[:1]))
    return found


def jinja_messages_as_python(source: str) -> str:
    """The messages of a Jinja2 template as Python calls that xgettext reads, each on the line
    of the template where it is."""
    lines = [""] * (source.count("\n") + 1)
    for lineno, _, strings in jinja_messages(source):
        if len(strings) == 2:
            lines[lineno - 1] += f"ngettext({strings[0]!r}, {strings[1]!r}, n); "
        else:
            lines[lineno - 1] += f"gettext({strings[0]!r}); "
    return "\n".join(lines)


class JinjaAwareBuildFile(makemessages.BuildFile):
    @property
    def is_jinja(self) -> bool:
        path = Path(self.path).resolve()
        return any(folder in path.parents for folder in _jinja_dirs())

    def preprocess(self) -> None:
        if not (self.is_templatized and self.is_jinja):
            return super().preprocess()
        source = Path(self.path).read_text(encoding="utf-8")
        Path(self.work_path).write_text(jinja_messages_as_python(source), encoding="utf-8")
        return None


class Command(makemessages.Command):
    build_file_class = JinjaAwareBuildFile
