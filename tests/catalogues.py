"""The committed translations, read for the tests: locale/<language>/LC_MESSAGES/django.po as
translators edit it, and the django.mo compiled from it.

The .po reader knows what makemessages writes and PO editors keep: comments and flags, msgctxt,
msgid, msgid_plural, msgstr and msgstr[n], strings continued over several lines. Obsolete
entries (`#~`) are left out, as msgfmt leaves them out.
"""

from __future__ import annotations

import gettext
import re
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

LOCALE_DIR = Path(settings.BASE_DIR) / "locale"
LANGUAGES = ["de", "fr"]

_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(".*")\s*$')
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: list[str] = field(default_factory=list)  # one string, or one per plural form
    flags: set[str] = field(default_factory=set)
    line: int = 0

    @property
    def translated(self) -> bool:
        """What msgfmt compiles: not fuzzy, and every form filled in."""
        return "fuzzy" not in self.flags and bool(self.msgstr) and all(self.msgstr)


def po_path(language: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / language / "LC_MESSAGES" / "django.po"


def mo_path(language: str) -> Path:
    return po_path(language).with_suffix(".mo")


def _string(text: str, path: Path, number: int) -> str:
    def unescape(match: re.Match[str]) -> str:
        if match.group(1) not in _ESCAPES:
            raise ValueError(f"{path}:{number}: unknown escape \\{match.group(1)}")
        return _ESCAPES[match.group(1)]

    return re.sub(r"\\(.)", unescape, text[1:-1])


def read_po(path: Path) -> list[Entry]:
    """The entries of a .po file, the header (msgid "") first."""
    entries: list[Entry] = []
    entry = Entry()
    # The field the next string continues: ("msgid", None), ("msgstr", 0)…
    current: tuple[str, int | None] | None = None

    def finish() -> None:
        nonlocal entry, current
        if entry.msgstr:
            entries.append(entry)
        elif current is not None:
            raise ValueError(f"{path}:{entry.line}: an entry without msgstr")
        entry, current = Entry(), None

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            if entry.msgstr:
                finish()
            continue
        if line.startswith("#"):
            if entry.msgstr:
                finish()
            if line.startswith("#,"):
                entry.flags |= {flag.strip() for flag in line[2:].split(",")}
            continue
        if line.startswith('"'):
            if current is None:
                raise ValueError(f"{path}:{number}: a string outside any field")
            name, index = current
            text = _string(line, path, number)
            if name == "msgstr":
                entry.msgstr[index or 0] += text
            else:
                setattr(entry, name, getattr(entry, name) + text)
            continue
        match = _KEYWORD.match(line)
        if match is None:
            raise ValueError(f"{path}:{number}: cannot read {raw!r}")
        keyword, text = match.group(1), _string(match.group(2), path, number)
        if keyword in ("msgctxt", "msgid") and entry.msgstr:
            finish()
        if keyword.startswith("msgstr"):
            index = int(keyword[7:-1]) if "[" in keyword else None
            if index is not None and index != len(entry.msgstr):
                raise ValueError(f"{path}:{number}: {keyword} out of order")
            entry.msgstr.append(text)
            current = ("msgstr", index)
        else:
            if keyword == "msgid":
                entry.line = number
            setattr(entry, keyword, text)
            current = (keyword, None)
    finish()
    return entries


def po_messages(language: str, locale_dir: Path = LOCALE_DIR) -> dict[tuple[str | None, str], Entry]:
    """The messages of a language's .po file by (msgctxt, msgid), without the header."""
    entries = read_po(po_path(language, locale_dir))
    return {(entry.msgctxt, entry.msgid): entry for entry in entries if entry.msgid}


def read_mo(path: Path) -> dict[object, str]:
    """A compiled catalogue as Python's gettext reads it: msgid (or (msgid, form)) → translation,
    the header under ""."""
    with path.open("rb") as file:
        return dict(gettext.GNUTranslations(file)._catalog)  # type: ignore[attr-defined]
