"""The API's request serializers are built once per thread and reused (config.serializers.reused):
each thread has its own instance, and validating through it answers exactly what a fresh
serializer's `is_valid` would, whatever the body before it was."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from rest_framework.exceptions import ValidationError

from config.serializers import reused
from preferences.serializers import SignupIn

GOOD = {
    "contact": {"email": "ada@example.com"},
    "consents": [{"purpose": "email-marketing", "decision": "granted", "notice_version": "nv_1"}],
}
BAD = {"contact": {"email": "not an address"}, "consents": [{"purpose": "x", "decision": "maybe"}], "typo": 1}


def fresh(body: dict[str, Any]) -> tuple[bool, Any]:
    serializer = SignupIn(data=body)
    ok = serializer.is_valid()
    return ok, (dict(serializer.validated_data) if ok else serializer.errors)


def through_reused(body: dict[str, Any]) -> tuple[bool, Any]:
    try:
        return True, dict(reused(SignupIn).run_validation(body))
    except ValidationError as exc:
        return False, exc.detail


@pytest.mark.parametrize("order", [[GOOD, BAD, GOOD], [BAD, GOOD, BAD]])
def test_reused_answers_what_a_fresh_serializer_answers_in_any_order(order):
    for body in order:
        assert through_reused(body) == fresh(body)


def test_each_thread_has_its_own_instance():
    mine = reused(SignupIn)
    assert reused(SignupIn) is mine
    theirs: list[Any] = []
    thread = threading.Thread(target=lambda: theirs.append(reused(SignupIn)))
    thread.start()
    thread.join()
    assert theirs[0] is not mine
    assert isinstance(theirs[0], SignupIn)
