"""Brand-authored quiz text through nh3 (quizzes.markup): hostile input in, the exact safe output
out, for each of the three cleaners, and on the hosted page wherever a brand's text appears."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.test import Client
from django.utils.safestring import SafeString

from brands.models import Brand
from quizzes import markup
from quizzes.services import quiz_create, quiz_publish
from tests.actors import TEST_ACTOR
from tests.quizzes.test_page import answer, follow, page, state_of

REL = 'target="_blank" rel="noopener noreferrer nofollow"'

HOSTILE = {
    "script": "Your <b>goal</b>?<script>alert(1)</script>",
    "handlers": '<strong onclick="x()">Bold</strong> <em style="color:red">it</em><br>next',
    "onerror": '<img src=x onerror="alert(1)">Hi',
    "javascript": '<a href="javascript:alert(1)">click</a>',
    "https": '<a href="https://shop.example/race?a=1&b=2" style="x" onmouseover="y">Race</a>',
    "paragraphs": '<p>One</p>\n<p>Two <a href="http://plain.example">insecure</a></p>',
    "style": "<style>body{display:none}</style>Text",
    "entities": 'Fish &amp; chips <3 "quoted"',
    "relative": '<a href="/account">rel</a> <a href="data:text/html,hi">data</a>',
    "frames": '<iframe src="https://evil.example"></iframe>Ok<svg onload=alert(1)>S</svg>',
}

# name: (plain, inline, help_text, rich)
EXPECTED = {
    "script": ("Your goal?", "Your goal?", "Your goal?", "Your goal?"),
    "handlers": (
        "Bold it\nnext",
        "<strong>Bold</strong> <em>it</em><br>next",
        "<strong>Bold</strong> <em>it</em><br>next",
        "<strong>Bold</strong> <em>it</em><br>next",
    ),
    "onerror": ("Hi", "Hi", "Hi", "Hi"),
    "javascript": ("click", "click", "click", "click"),
    "https": (
        "Race",
        "Race",
        f'<a href="https://shop.example/race?a=1&amp;b=2" {REL}>Race</a>',
        f'<a href="https://shop.example/race?a=1&amp;b=2" {REL}>Race</a>',
    ),
    "paragraphs": (
        "One\nTwo insecure",
        "One\nTwo insecure",
        "One\nTwo insecure",
        "<p>One</p><p>Two insecure</p>",
    ),
    "style": ("Text", "Text", "Text", "Text"),
    "entities": (
        'Fish & chips <3 "quoted"',
        'Fish &amp; chips &lt;3 "quoted"',
        'Fish &amp; chips &lt;3 "quoted"',
        'Fish &amp; chips &lt;3 "quoted"',
    ),
    "relative": ("rel data", "rel data", "rel data", "rel data"),
    "frames": ("OkS", "OkS", "OkS", "OkS"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_cleaner_answers_exactly_its_safe_subset(name: str):
    plain, inline, help_text, rich = EXPECTED[name]
    text = HOSTILE[name]
    assert markup.plain(text) == plain
    assert not isinstance(markup.plain(text), SafeString)  # the template escapes it
    assert (markup.inline(text), markup.help_text(text), markup.rich(text)) == (inline, help_text, rich)
    assert all(
        isinstance(cleaned, SafeString)
        for cleaned in (markup.inline(text), markup.help_text(text), markup.rich(text))
    )


def hostile_document(document: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(document)
    document["title"]["en"] = '<em>Find</em> your plan<script>alert("t")</script>'
    goal = document["questions"][0]
    goal["text"]["en"] = (
        '<strong>Your</strong> goal? <a href="https://shop.example">shop</a><img src=x onerror=alert(1)>'
    )
    goal["help"] = {"en": '<em>Pick</em> one, see <a href="https://shop.example/help" onclick="x()">help</a>'}
    goal["options"][0]["label"]["en"] = '<b style="color:red">Run</b> a marathon<script>x()</script>'
    document["outcomes"][1]["title"] = {"en": "<h1>Race</h1> plan"}
    document["outcomes"][1]["text"] = {
        "en": '<p>Go <strong>fast</strong>.</p>\n<p><a href="javascript:alert(1)">Now</a> or '
        '<a href="https://shop.example/race">the shop</a></p><style>*{}</style>'
    }
    return document


def test_the_hosted_page_renders_brand_text_only_through_the_cleaners(
    client: Client, brand: Brand, quiz_document: dict[str, Any]
):
    quiz = quiz_create(brand=brand, actor=TEST_ACTOR, document=hostile_document(quiz_document))
    quiz_publish(quiz=quiz, actor=TEST_ACTOR)
    first = client.get(page(quiz))
    html = first.content.decode()
    # The title: plain text everywhere (the paragraph, and the page's <title> through the question).
    assert '<p class="quiz__title"><span>Find your plan</span></p>' in html
    # The question: strong survives; the link and the image do not (it is the heading and legend).
    assert "<h1><span><strong>Your</strong> goal? shop</span></h1>" in html
    assert "<title>Your goal? shop – " in html
    # Its help: em and an https link, opened outside the frame, without the handler.
    assert (
        '<div class="field__hint" id="answer-hint"><span><em>Pick</em> one, see '
        f'<a href="https://shop.example/help" {REL}>help</a></span></div>'
    ) in html
    # An option's label: plain text.
    assert '<label for="answer-1"><span>Run a marathon</span></label>' in html
    for hostile in ("alert(", "x()", "onerror", "onclick", "style=", "<img", "<b ", "javascript:"):
        assert hostile not in html, hostile
    shown = first
    for value in ("marathon", "4", None, "yes"):
        shown = follow(client, answer(client, quiz, state_of(shown.content.decode()), value))
    done = shown.content.decode()
    assert "<h1><span>Race plan</span></h1>" in done
    assert (
        '<div class="quiz__outcome-text"><p>Go <strong>fast</strong>.</p><p>Now or '
        f'<a href="https://shop.example/race" {REL}>the shop</a></p></div>'
    ) in done
    for hostile in ("alert(", "javascript:", "<style", "*{}", "<h1>Race"):
        assert hostile not in done, hostile
