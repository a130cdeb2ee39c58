"""Brand-authored quiz text, made safe to render on the hosted quiz page (nh3).

A quiz document is written by the brand's staff or by any holder of an `admin` key, and shown
inside the brand's own site: whatever it says must never run script there or restyle the page.
Every text goes through one of three cleaners before a template sees it:

- `plain`: the quiz title, option labels, the scale's end labels, an outcome's title and its
  link's label. No markup at all: tags are dropped (their words kept; a script's or a style's
  content dropped with them) and entities read as the characters they stand for. The result is
  a plain `str` that the template escapes like any other text (these texts also land in
  `<title>`, in attributes and inside form labels, where markup has no place).
- `inline`: a question's text. `strong`, `em` and `br`, nothing else: the text is the page's
  heading and the label (or legend) of the answer's control, where a link would be a control
  inside a control and a paragraph a block inside a heading.
- `rich`: a question's help text and an outcome's text. `inline`'s tags and `a` with an `https`
  address, nothing else on it; every link gets `rel="noopener noreferrer nofollow"` and
  `target="_blank"` (inside an embed, a link that opened in the frame would replace the quiz).
  An outcome's text may also have paragraphs (`p`).

No `style`, `class` or event attribute survives anywhere; `javascript:`, `data:`, `http:` and
relative addresses are removed from links (the words stay, not a link). The marked-up
cleaners answer Django's `SafeString` (Jinja's autoescape and Django's `linebreaksbr` both leave
it as it is; markupsafe's `Markup` would be escaped by the latter); newlines still become line
breaks in the template.
The results are remembered per text: a version's texts never change, so each is cleaned once
per process.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache

import nh3
from django.utils.safestring import SafeString, mark_safe

LINK_REL = "noopener noreferrer nofollow"
INLINE_TAGS = frozenset({"strong", "em", "br"})
LINK_TAGS = INLINE_TAGS | {"a"}
BLOCK_TAGS = LINK_TAGS | {"p"}
DROPPED_WITH_CONTENT = frozenset({"script", "style"})

_plain = nh3.Cleaner(tags=set(), clean_content_tags=set(DROPPED_WITH_CONTENT), attributes={})
_inline = nh3.Cleaner(tags=set(INLINE_TAGS), clean_content_tags=set(DROPPED_WITH_CONTENT), attributes={})


def _with_links(tags: frozenset[str]) -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(tags),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes={"a": {"href"}},
        url_schemes={"https"},
        url_relative="deny",
        link_rel=LINK_REL,
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )


_help = _with_links(LINK_TAGS)
_outcome = _with_links(BLOCK_TAGS)

# A newline right after a closing paragraph would become a <br> between two paragraphs.
_AFTER_PARAGRAPH = re.compile(r"</p>\s*\n\s*")
# A link whose address was removed: nh3 keeps the element (and the attributes it sets); its words
# stay, as words, not as an anchor that looks like a link and goes nowhere.
_NO_ADDRESS = re.compile(rf'<a target="_blank" rel="{LINK_REL}">(.*?)</a>', re.DOTALL)
# A line break in a plain text stays a line break (the template draws it), not two words glued.
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)

CACHE_SIZE = 4096


@lru_cache(maxsize=CACHE_SIZE)
def plain(text: str) -> str:
    """The text with every tag removed, as characters (the template escapes it)."""
    return html.unescape(_plain.clean(_BREAK.sub("\n", text)))


@lru_cache(maxsize=CACHE_SIZE)
def inline(text: str) -> SafeString:
    """A question's text: strong, em and br only."""
    return mark_safe(_inline.clean(text))  # noqa: S308 - nh3's output is the safe subset


@lru_cache(maxsize=CACHE_SIZE)
def help_text(text: str) -> SafeString:
    """A question's help: inline's tags and https links."""
    return mark_safe(_NO_ADDRESS.sub(r"\1", _help.clean(text)))  # noqa: S308 - nh3's safe subset


@lru_cache(maxsize=CACHE_SIZE)
def rich(text: str) -> SafeString:
    """An outcome's text: paragraphs, inline's tags and https links."""
    cleaned = _NO_ADDRESS.sub(r"\1", _outcome.clean(text))
    return mark_safe(_AFTER_PARAGRAPH.sub("</p>", cleaned))  # noqa: S308 - nh3's safe subset
