"""The hosted quiz page's one-request step (what static/quizzes/step.js sends): a POST with
`Candor-Quiz-Step: 1` is answered with the page a plain POST would redirect to, and that page's
address in `Candor-Quiz-Page`; what it writes and counts is what the POST/redirect/GET run
writes and counts. The funnel's counts commit without waiting for a disk flush, but never turn
a surrounding transaction's commit into one that does not wait."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection, transaction
from django.test import Client

from brands.models import Brand
from consent.models import Contact
from quizzes.models import Answer, FunnelCount, Quiz, QuizVersion, Response
from quizzes.responses import funnel_count
from quizzes.views import PAGE_HEADER, STEP_HEADER, Run
from tests.quizzes.test_page import (
    answer,
    assert_the_anonymous_run_landed,
    follow,
    page,
    quiz_token,
    state_of,
    steps,
)

pytestmark = pytest.mark.django_db

STEP = {f"HTTP_{STEP_HEADER.upper().replace('-', '_')}": "1"}


def step(client: Client, quiz: Quiz, shown: Any, value: Any = None, **extra: Any) -> Any:
    """Answer the page `shown` as the page's script does."""
    data: dict[str, Any] = {"state": state_of(shown.content.decode()), **extra}
    if value is not None:
        data["answer"] = value
    return client.post(page(quiz), data, **STEP)


def without_state(html: str) -> str:
    """A page with its state token left out (two tokens of one state differ in their signing time)."""
    return re.sub(r'name="state" value="[^"]+"', 'name="state" value=""', html)


def urls_equal_but_signing_time(a: str, b: str) -> bool:
    """Two addresses of the quiz page with the same query and the same run in their states."""
    (pa, qa), (pb, qb) = ((urlsplit(u).path, parse_qs(urlsplit(u).query)) for u in (a, b))
    runs = [Run.loads(q.pop("state")[0]) for q in (qa, qb)]
    return pa == pb and qa == qb and runs[0] == runs[1] and runs[0] is not None


def test_a_whole_run_by_the_script_is_one_request_a_step_and_writes_and_counts_as_without_it(
    client: Client, quiz: Quiz, live_version: QuizVersion
):
    shown = client.get(page(quiz))
    headings = []
    for value in ("marathon", "4", None, "yes"):
        answered = step(client, quiz, shown, value)
        assert answered.status_code == 200, answered.content.decode()[:500]
        address = answered[PAGE_HEADER]
        assert address.startswith(f"/q/{quiz.public_id}/?state=")
        # The page answered is the page its address shows (what a reload or Back shows).
        assert without_state(client.get(address).content.decode()) == without_state(answered.content.decode())
        headings.append(re.search(r"<h1>(.*?)</h1>", answered.content.decode(), re.S).group(1))
        shown = answered
    assert headings == [
        "<span>How fit are you today?</span>",
        "<span>What do you own already?</span>",
        "<span>May we send you training tips by email?</span>",
        "<span>Race plan</span>",
    ]
    assert 'href="https://shop.example/race"' in shown.content.decode()
    # Each page above was also read once by its address, which counts nothing.
    assert_the_anonymous_run_landed(live_version)


def test_without_the_header_the_same_post_still_redirects(
    client: Client, quiz: Quiz, live_version: QuizVersion
):
    shown = client.get(page(quiz))
    plain = answer(client, quiz, state_of(shown.content.decode()), "marathon")
    assert plain.status_code == 303
    assert PAGE_HEADER not in plain
    scripted = step(client, quiz, shown, "marathon")
    assert urls_equal_but_signing_time(scripted[PAGE_HEADER], plain["Location"])
    assert without_state(follow(client, plain).content.decode()) == without_state(scripted.content.decode())


def test_save_by_the_script_shows_saved_and_names_the_saved_page(
    client: Client, brand: Brand, quiz: Quiz, live_version: QuizVersion, contact: Contact
):
    opened = client.get(page(quiz), {"token": quiz_token(brand, contact)})
    level = step(client, quiz, client.get(opened["Location"]), "marathon")
    saved = step(client, quiz, level, action="save")
    assert saved.status_code == 200
    assert saved[PAGE_HEADER].endswith("&saved=1")
    html = saved.content.decode()
    assert "Saved. Your answers so far are stored." in html
    assert "How fit are you today?" in html
    assert without_state(client.get(saved[PAGE_HEADER]).content.decode()) == without_state(html)
    stored = Response.objects.get()
    assert (stored.contact_id, stored.completed_at) == (contact.pk, None)
    assert list(Answer.objects.values_list("question__key", "value")) == [("goal", "marathon")]


def test_a_wrong_answer_by_the_script_comes_back_as_without_it_and_names_no_page(
    client: Client, quiz: Quiz, live_version: QuizVersion
):
    shown = client.get(page(quiz))
    scripted = step(client, quiz, shown, "swim")
    plain = answer(client, quiz, state_of(shown.content.decode()), "swim")
    assert (scripted.status_code, plain.status_code) == (422, 422)
    assert PAGE_HEADER not in scripted
    assert without_state(scripted.content.decode()) == without_state(plain.content.decode())
    assert 'id="error-summary"' in scripted.content.decode()
    assert steps(live_version) == {"viewed": 1}


def test_a_forged_state_or_another_sites_post_by_the_script_is_refused_as_without_it(
    client: Client, quiz: Quiz, live_version: QuizVersion
):
    state = state_of(client.get(page(quiz)).content.decode())
    forged = client.post(page(quiz), {"state": state[:-3] + "abc", "answer": "marathon"}, **STEP)
    assert forged.status_code == 400
    assert PAGE_HEADER not in forged
    foreign = client.post(
        page(quiz), {"state": state, "answer": "marathon"}, HTTP_ORIGIN="https://evil.example", **STEP
    )
    assert foreign.status_code == 403
    assert PAGE_HEADER not in foreign
    assert steps(live_version) == {"viewed": 1}
    assert not Response.objects.exists()


# --- The funnel's commits ---------------------------------------------------------------------


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_count_on_its_own_is_written_and_leaves_the_connection_as_it_was(live_version: QuizVersion):
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO on")
    try:
        funnel_count(version_id=live_version.pk, steps=["viewed", "started"])
        funnel_count(version_id=live_version.pk, steps=["viewed"])  # each written at once (tests)
        assert synchronous_commit() == "on"  # the setting lasted for its statement alone
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")
    assert dict(FunnelCount.objects.values_list("step", "count")) == {"viewed": 2, "started": 1}


@pytest.mark.django_db(transaction=True)
def test_a_count_inside_a_transaction_leaves_its_commit_durable(live_version: QuizVersion):
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO on")
    try:
        with transaction.atomic():
            funnel_count(version_id=live_version.pk, steps=["viewed"])
            assert synchronous_commit() == "on"  # the consent written beside it waits for the disk
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET synchronous_commit")
    assert dict(FunnelCount.objects.values_list("step", "count")) == {"viewed": 1}
