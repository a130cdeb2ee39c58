"""What stops a quiz from being published, in the staff member's language.

quizzes.document and quizzes.services describe a draft's problems in English (the API serves
the same words); the builder shows them in the console's language. Each known text is a
whole-text pattern whose groups (ids, numbers) carry into its translation; a text not known
here (the JSON Schema validator's own words, say) is shown as it came. Tests drive the real
checks, so a text that drifts from its pattern here fails them."""

from __future__ import annotations

import re

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

_ID = r"'(?P<{}>[^']*)'"

KNOWN: tuple[tuple[re.Pattern[str], Promise], ...] = tuple(
    (re.compile(pattern.format(id=_ID.format("id"), other=_ID.format("other"))), text)
    for pattern, text in (
        (
            r"Give this text in the quiz's language \((?P<language>\w+)\)\.",
            _("Give this text in the quiz's language (%(language)s)."),
        ),
        (
            r"The question id {id} is used twice or reserved\.",
            _("The question id '%(id)s' is used twice or reserved."),
        ),
        (r"A choice question needs at least one option\.", _("A choice question needs at least one option.")),
        (r"The option id {id} is used twice\.", _("The option id '%(id)s' is used twice.")),
        (r"A scale's maximum must be above its minimum\.", _("A scale's maximum must be above its minimum.")),
        (r"A consent question names the notice shown\.", _("A consent question names the notice shown.")),
        (r"No outcome has the id {id}\.", _("No outcome has the id '%(id)s'.")),
        (r"The outcome id {id} is used twice\.", _("The outcome id '%(id)s' is used twice.")),
        (r"No question has the id {id}\.", _("No question has the id '%(id)s'.")),
        (
            r"An outcome is named only on a rule to the end, by its id\.",
            _("An outcome is named only on a rule to the end, by its id."),
        ),
        (
            r"{id} does not apply to a (?P<kind>\w+) question\.",
            _("'%(id)s' does not apply to a %(kind)s question."),
        ),
        (r"The question {id} has no option {other}\.", _("The question '%(id)s' has no option '%(other)s'.")),
        (
            r"(?P<number>-?\d+) is outside the scale (?P<low>-?\d+)–(?P<high>-?\d+)\.",
            _("%(number)s is outside the scale %(low)s–%(high)s."),
        ),
        (r"No path leads to {id}\.", _("No path leads to '%(id)s'.")),
        (r"The branches loop back to {id}\.", _("The branches loop back to '%(id)s'.")),
        (r"From {id} no path reaches the end\.", _("From '%(id)s' no path reaches the end.")),
        (r"The brand has no purpose {id}\.", _("The brand has no purpose '%(id)s'.")),
        (r"The brand has no notice version {id}\.", _("The brand has no notice version '%(id)s'.")),
        (
            r"That notice is for the purpose {id}, not {other}\.",
            _("That notice is for the purpose '%(id)s', not '%(other)s'."),
        ),
        (r"The brand has no topic {id}\.", _("The brand has no topic '%(id)s'.")),
        (
            r"The topic {id} is not sent by (?P<channel>\w+)\.",
            _("The topic '%(id)s' is not sent by %(channel)s."),
        ),
        (
            r"The topic {id} offers no (?P<cadence>\w+) cadence\.",
            _("The topic '%(id)s' offers no %(cadence)s cadence."),
        ),
    )
)


def problem_text(message: str) -> str:
    """A problem's text in the active language, where it is one the builder knows."""
    for pattern, translation in KNOWN:
        found = pattern.fullmatch(message)
        if found is not None:
            return str(translation) % found.groupdict()
    return message
