"""The translations: locale/{de,fr}/LC_MESSAGES/django.po is where they live and what translators
edit; the committed django.mo next to each is what Django reads. The workflow is described in
preferences/management/commands/makemessages.py.

These fail while a message is untranslated or fuzzy, while a .po file lacks a message of the code
or the templates (makemessages was not run), and while a .mo file differs from its .po
(compilemessages was not run). tests/preferences/test_templates.py checks the messages of
the hosted pages' templates against the .po files without gettext's tools.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from tests.catalogues import LANGUAGES, mo_path, po_messages, po_path, read_mo, read_po

PLURAL_FORMS = {"de": "nplurals=2; plural=(n != 1);", "fr": "nplurals=2; plural=(n > 1);"}
# The commands of the workflow, as preferences/management/commands/makemessages.py gives them.
MAKEMESSAGES = ["makemessages", "-l", "de", "-l", "fr", "--no-obsolete"]
MAKEMESSAGES += ["--ignore=var", "--ignore=bench", "--ignore=tests"]
COMPILEMESSAGES = ["compilemessages", "--ignore=.venv", "--ignore=.tools"]

needs_gettext = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("xgettext", "msgmerge", "msgfmt")),
    reason="needs GNU gettext (xgettext, msgmerge, msgfmt): apt-get install gettext (.ci/run does)",
)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_po_file_names_its_language_and_plural_forms(language):
    header, *entries = read_po(po_path(language))

    assert header.msgid == ""
    assert f"\nLanguage: {language}\n" in header.msgstr[0]
    assert f"\nPlural-Forms: {PLURAL_FORMS[language]}\n" in header.msgstr[0]
    assert [entry.msgid for entry in entries if entry.msgid_plural and len(entry.msgstr) != 2] == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_of_the_po_file_is_translated(language):
    """Django shows the English of an empty or fuzzy entry: msgfmt leaves both out."""
    untranslated = [
        f"line {entry.line}: {entry.msgid!r}{' (fuzzy)' if 'fuzzy' in entry.flags else ''}"
        for entry in read_po(po_path(language))[1:]
        if not entry.translated
    ]

    assert untranslated == [], f"translate these in {po_path(language)}"


@needs_gettext
def test_the_committed_mo_files_are_compiled_from_the_po_files(tmp_path, settings, monkeypatch):
    for language in LANGUAGES:
        folder = tmp_path / "locale" / language / "LC_MESSAGES"
        folder.mkdir(parents=True)
        shutil.copyfile(po_path(language), folder / "django.po")
    # compilemessages compiles every locale folder under the current one and in LOCALE_PATHS:
    # only the copies here, never the committed files.
    settings.LOCALE_PATHS = [tmp_path / "locale"]
    monkeypatch.chdir(tmp_path)

    call_command(*COMPILEMESSAGES, stdout=io.StringIO())

    for language in LANGUAGES:
        compiled = read_mo(tmp_path / "locale" / language / "LC_MESSAGES" / "django.mo")
        committed = read_mo(mo_path(language))
        differences = sorted(
            repr(key) for key in compiled.keys() | committed.keys() if compiled.get(key) != committed.get(key)
        )
        assert differences == [], f"{mo_path(language)} is stale: run manage.py {' '.join(COMPILEMESSAGES)}"


@needs_gettext
def test_the_po_files_hold_the_messages_of_the_code_and_the_templates(tmp_path):
    """makemessages, run on a copy of the project, would neither add nor drop a message."""
    base = Path(django_settings.BASE_DIR)
    copy = tmp_path / "candor"
    shutil.copytree(base, copy, ignore=shutil.ignore_patterns(".*", "var", "bench", "tests", "__pycache__"))
    # makemessages reads no database: name this checkout's, so the copy starts no server of its own.
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": django_settings.DATABASE_URL,
    }

    made_by = subprocess.run(  # noqa: S603 - our own interpreter and command
        [sys.executable, "manage.py", *MAKEMESSAGES], cwd=copy, env=env, capture_output=True, text=True
    )

    assert made_by.returncode == 0, made_by.stderr

    for language in LANGUAGES:
        committed = po_messages(language)
        made = po_messages(language, locale_dir=copy / "locale")
        assert sorted(made.keys() - committed.keys()) == [], (
            f"not in {po_path(language)} yet: run manage.py {' '.join(MAKEMESSAGES)}, then translate"
        )
        assert sorted(committed.keys() - made.keys()) == [], (
            f"no longer in the code, still in {po_path(language)}: run manage.py {' '.join(MAKEMESSAGES)}"
        )
        changed_plurals = [key for key in made if made[key].msgid_plural != committed[key].msgid_plural]
        assert changed_plurals == []
