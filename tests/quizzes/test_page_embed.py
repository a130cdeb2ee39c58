"""Embedding: the brand lists the origins that may frame its quizzes (theme API and
apply_brand_config, validated), and the quiz page says so in CSP frame-ancestors, without
X-Frame-Options; the embedding origin the frame script posts to is one of them."""

from __future__ import annotations

import re

import pytest
import yaml
from django.test import Client, override_settings

from brands.embed import embed_origin_problem, embed_origins_allowed
from brands.models import Brand
from brands.services import brand_update
from preferences.brand_config import brand_config_apply
from quizzes.models import Quiz, QuizVersion
from tests.actors import TEST_ACTOR
from tests.preferences.test_config_api import problem_errors

pytestmark = pytest.mark.django_db


def csp_directives(header: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in header.split(";"))


def test_the_quiz_page_may_be_framed_only_by_itself_and_the_brands_origins(
    client: Client, brand: Brand, quiz: Quiz, live_version: QuizVersion
):
    shown = client.get(f"/q/{quiz.public_id}/")
    assert csp_directives(shown["Content-Security-Policy"])["frame-ancestors"] == "'self'"
    assert "X-Frame-Options" not in shown
    brand_update(
        brand=brand, actor=TEST_ACTOR, embed_origins=["https://shop.example", "http://localhost:8123"]
    )
    shown = client.get(f"/q/{quiz.public_id}/")
    directives = csp_directives(shown["Content-Security-Policy"])
    assert directives["frame-ancestors"] == "'self' https://shop.example http://localhost:8123"
    assert directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert "X-Frame-Options" not in shown
    # Other hosted pages are never framed.
    assert client.get("/p/acme/link")["X-Frame-Options"] == "DENY"


def test_http_origins_saved_while_allowed_are_dropped_once_the_switch_is_off(
    client: Client, brand: Brand, quiz: Quiz, live_version: QuizVersion
):
    brand_update(
        brand=brand, actor=TEST_ACTOR, embed_origins=["https://shop.example", "http://127.0.0.1:9000"]
    )
    with override_settings(WEBHOOK_ALLOW_PRIVATE=False):
        shown = client.get(f"/q/{quiz.public_id}/")
    assert (
        csp_directives(shown["Content-Security-Policy"])["frame-ancestors"] == "'self' https://shop.example"
    )


def test_the_embedding_origin_is_posted_to_only_when_listed(
    client: Client, brand: Brand, quiz: Quiz, live_version: QuizVersion
):
    brand_update(brand=brand, actor=TEST_ACTOR, embed_origins=["https://shop.example"])
    listed = client.get(f"/q/{quiz.public_id}/", {"host": "https://shop.example"})
    assert listed.status_code == 303  # the host goes into the signed state
    html = client.get(listed["Location"]).content.decode()
    assert 'data-host-origin="https://shop.example"' in html
    unlisted = client.get(f"/q/{quiz.public_id}/", {"host": "https://evil.example"})
    assert unlisted.status_code == 200
    assert "data-host-origin" not in unlisted.content.decode()


@pytest.mark.parametrize(
    ("origin", "problem"),
    [
        ("https://shop.example", None),
        ("https://shop.example:8443", None),
        ("http://localhost:8123", None),
        ("http://127.0.0.1:8000", None),
        ("http://shop.example", "'http://shop.example' is not https: only https origins may embed a quiz."),
        (
            "https://shop.example/quiz",
            "'https://shop.example/quiz' is not an origin: write scheme and host in lower case, "
            "like https://shop.example.",
        ),
        (
            "https://Shop.example",
            "'https://Shop.example' is not an origin: write scheme and host in lower case, like https://shop.example.",
        ),
        (
            "https://shop.example/",
            "'https://shop.example/' is not an origin: write scheme and host in lower case, like https://shop.example.",
        ),
        (
            "shop.example",
            "'shop.example' is not an origin: write scheme and host in lower case, like https://shop.example.",
        ),
        (
            "https://shop.example:99999",
            "'https://shop.example:99999' is not an origin such as https://shop.example.",
        ),
        ("", "Give an origin such as https://shop.example."),
    ],
)
def test_an_embed_origin_is_an_exact_lower_case_https_origin(origin: str, problem: str | None):
    assert embed_origin_problem(origin) == problem


def test_local_http_origins_need_the_private_address_switch():
    with override_settings(WEBHOOK_ALLOW_PRIVATE=False):
        assert embed_origin_problem("http://localhost:8123") == (
            "'http://localhost:8123' is not https: only https origins may embed a quiz."
        )
        assert embed_origins_allowed(["http://localhost:8123", "https://a.example"]) == ["https://a.example"]


def test_the_theme_api_sets_the_embed_origins_and_refuses_bad_ones(brand: Brand, make_client):
    admin = make_client(brand, ["admin"])
    changed = admin.patch("/api/v1/theme", {"embed_origins": ["https://shop.example"]}, format="json")
    assert changed.status_code == 200
    assert changed.json()["embed_origins"] == ["https://shop.example"]
    refused = admin.patch(
        "/api/v1/theme", {"embed_origins": ["http://shop.example", "https://shop.example"]}, format="json"
    )
    assert refused.status_code == 422
    assert problem_errors(refused) == {
        "embed_origins": ["'http://shop.example' is not https: only https origins may embed a quiz."]
    }
    twice = admin.patch(
        "/api/v1/theme", {"embed_origins": ["https://a.example", "https://a.example"]}, format="json"
    )
    assert problem_errors(twice) == {"embed_origins": ["An origin is listed twice."]}
    brand.refresh_from_db()
    assert brand.embed_origins == ["https://shop.example"]


def test_apply_brand_config_sets_the_embed_origins(brand: Brand):
    brand_config_apply(
        brand=brand, actor=TEST_ACTOR, document={"theme": {"embed_origins": ["https://a.example"]}}
    )
    brand.refresh_from_db()
    assert brand.embed_origins == ["https://a.example"]


def test_the_schema_describes_the_embed_origins(client: Client):
    schema = yaml.safe_load(client.get("/api/schema/").content)
    theme_in = schema["components"]["schemas"]["PatchedThemeInRequest"]["properties"]["embed_origins"]
    assert theme_in["type"] == "array"
    assert re.search("https://shop.example", theme_in["description"])


def test_the_loader_is_served_at_q_embed_js_under_5_kb_gzipped(client: Client):
    import gzip

    loaded = client.get("/q/embed.js")
    assert loaded.status_code == 200
    assert loaded["Content-Type"] == "text/javascript; charset=utf-8"
    assert loaded["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert loaded["X-Content-Type-Options"] == "nosniff"
    size = len(gzip.compress(loaded.content, compresslevel=9))
    assert size < 5 * 1024, size
    source = loaded.content.decode()
    assert "import " not in source
    assert "require(" not in source
    assert "data-contact-token" in source
    assert "utm_" in source
    assert client.post("/q/embed.js").status_code == 405
