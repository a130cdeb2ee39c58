"""The OpenAPI document (/api/schema/): every operation reads as documentation for a brand's
engineer, and names its problem answers, 413 and Idempotency-Key, so a schema-driven fuzzer
(Schemathesis) finds every answer the API gives described."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
WRITES = ("post", "put", "patch")


@pytest.fixture
def schema(client: Any, db: None) -> dict[str, Any]:
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in ("get", "put", "post", "patch", "delete")
    ]


def test_every_operation_has_a_summary_a_description_and_a_tag(schema):
    found = operations(schema)
    assert len(found) >= 20
    for path, method, operation in found:
        assert operation["summary"], (path, method)
        assert operation["tags"][0][0].isupper(), (path, method)
        description = operation["description"]
        assert "Needs an API key with `" in description, (path, method)
        # The view classes' docstrings (notes for this code's readers) stay out.
        for internal in ("required_scopes", "HasScopes", "principal()", "brands.auth"):
            assert internal not in description, (path, method, internal)


def test_every_operation_names_its_problem_answers(schema):
    assert schema["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "detail"]
    for path, method, operation in operations(schema):
        expected = {"401", "403", "404", "422", "429"}
        if method in WRITES:
            expected |= {"400", "409", "411", "413", "415"}
        for status in expected:
            answer = operation["responses"][status]
            assert answer["content"] == {"application/problem+json": {"schema": PROBLEM_REF}}, (
                path,
                method,
                status,
            )
            assert answer["description"], (path, method, status)
        assert "Retry-After" in operation["responses"]["429"]["headers"]


def test_every_write_documents_idempotency_key(schema):
    for path, method, operation in operations(schema):
        headers = [p["name"] for p in operation.get("parameters", []) if p["in"] == "header"]
        if method in WRITES:
            assert headers == ["Idempotency-Key"], (path, method)
