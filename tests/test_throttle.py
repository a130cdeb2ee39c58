"""config.throttle, the one rate limiter behind the API (brands.auth.ApiKeyRateThrottle) and the
hosted pages: fixed windows counted in the cache."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from config.throttle import throttle_blocked, throttle_count

START = datetime(2026, 11, 23, 10, 0, 20, tzinfo=UTC)


def test_counts_up_to_the_limit_then_answers_the_seconds_left_in_the_window():
    with time_machine.travel(START, tick=False):
        results = [throttle_count(scope="s", ident="203.0.113.0", rate="3/min") for _ in range(4)]

    assert results == [None, None, None, 40]


def test_blocked_asks_without_counting():
    with time_machine.travel(START, tick=False):
        for _ in range(5):
            assert throttle_blocked(scope="s", ident="a", rate="2/min") is None
        throttle_count(scope="s", ident="a", rate="2/min")
        throttle_count(scope="s", ident="a", rate="2/min")

        assert throttle_blocked(scope="s", ident="a", rate="2/min") == 40


def test_scopes_and_identities_count_apart_and_a_new_window_starts_afresh():
    with time_machine.travel(START, tick=False):
        assert throttle_count(scope="api-key", ident="1", rate="1/min") is None
        assert throttle_count(scope="api-key", ident="1", rate="1/min") == 40
        assert throttle_count(scope="api-key", ident="2", rate="1/min") is None
        assert throttle_count(scope="bad-link", ident="1", rate="1/min") is None

    with time_machine.travel(START + timedelta(seconds=40), tick=False):
        assert throttle_count(scope="api-key", ident="1", rate="1/min") is None
