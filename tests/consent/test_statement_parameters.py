"""psycopg caches the parsing of a query only when it has at most
`MAX_CACHED_STATEMENT_PARAMS` parameters and `MAX_CACHED_STATEMENT_LENGTH` characters; past that
it parses the text on every call. The write path's statements stay under both, the ledger append
included (its projection upsert reads the event's values from the event's own INSERT instead of
sending them twice), whether they go through Django's cursor or config.db's prepared path."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from psycopg._queries import MAX_CACHED_STATEMENT_LENGTH, MAX_CACHED_STATEMENT_PARAMS

from brands.models import Scope
from config import db
from tests.preferences.conftest import PREFERENCE_SCOPES

pytestmark = pytest.mark.django_db

EVIDENCE = {"ip": "203.0.113.7", "user_agent": "Mozilla/5.0", "page_url": "https://shop.example/join"}


def test_every_statement_of_a_sign_up_is_short_enough_to_cache(
    brand, make_client, notice_version, monkeypatch
):
    client = make_client(brand, [Scope.CONSENT_READ, Scope.CONSENT_WRITE, *PREFERENCE_SCOPES])
    seen: list[tuple[str, int]] = []

    def capture(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append((sql, len(params or ())))
        return execute(sql, params, many, context)

    run = db._run

    def capture_prepared(statements: Any) -> Any:
        seen.extend((sql, len(params)) for sql, params in statements)
        return run(statements)

    monkeypatch.setattr(db, "_run", capture_prepared)

    body = {
        "contact": {"email": "ada@example.com"},
        "consents": [
            {"purpose": "email-marketing", "decision": "granted", "notice_version": notice_version.public_id}
        ],
        "evidence": EVIDENCE,
    }
    with connection.execute_wrapper(capture):
        response = client.post("/api/v1/contacts/cust-9/signup", body, format="json")
    assert response.status_code == 201, response.json()
    appends = [count for sql, count in seen if "WITH ev AS (INSERT INTO" in sql]
    assert len(appends) == 1
    assert max(count for _, count in seen) <= MAX_CACHED_STATEMENT_PARAMS, seen
    assert max(len(sql) for sql, _ in seen) <= MAX_CACHED_STATEMENT_LENGTH, seen
