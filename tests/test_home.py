"""The root page (`/`) and the DEBUG-only demo link: what a newcomer opening the address
`make run` prints sees, and what production shows instead (nothing from the database)."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import include, path

from brands.models import Brand
from consent.demo import DEMO_CONTACT
from consent.models import Contact
from preferences.demo import seed_demo
from preferences.tokens import LinkKind, token_read

LINKS = ['href="/api/docs/"', 'href="/api/schema/"', 'href="/healthz"', 'href="/readyz"']


def hrefs(body: str) -> set[str]:
    return set(re.findall(r'href="([^"]+)"', body))


@pytest.fixture
def debug(settings):
    settings.DEBUG = True


@pytest.fixture
def production(settings):
    settings.DEBUG = False


def test_without_the_demo_brand_it_lists_the_documents_and_checks_and_no_demo(db, client, debug):
    response = client.get("/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    body = response.content.decode()
    assert "<h1>Candor is running</h1>" in body
    assert "Version 0.1.0, in development mode (DEBUG is on)." in body
    for link in LINKS:
        assert link in body
    assert 'href="/_dev/mail/"' in body
    assert "/_dev/demo-centre" not in body
    assert "issue_link" not in body
    assert 'href="/console/"' in body  # the console for brand staff
    # Plain links and text: nothing on the page needs a script.
    assert "<form" not in body
    assert "onclick" not in body


def test_with_the_demo_brand_it_links_to_a_page_that_issues_a_demo_link(db, client, debug):
    seed_demo()

    body = client.get("/").content.decode()

    assert 'href="/_dev/demo-centre"' in body
    assert "manage.py issue_link --brand demo --contact cust-42 --kind manage" in body
    # Nothing personal: no address, no token, no API key.
    assert "@example.com" not in body
    assert "cnd_" not in body
    assert "/p/demo/t/" not in body


def test_production_shows_no_version_no_demo_and_no_development_pages(db, client, production):
    seed_demo()

    response = client.get("/")

    assert response.status_code == 200
    body = response.content.decode()
    assert "<h1>Candor is running</h1>" in body
    assert "Production mode." in body
    assert "0.1.0" not in body
    assert "DEBUG" not in body
    assert hrefs(body) == {
        "#main",
        "/static/css/candor.css",
        "/api/docs/",
        "/api/schema/",
        "/healthz",
        "/readyz",
        "/console/",  # the staff's sign-in, as public as the API docs
    }
    assert "demo" not in body
    assert "@" not in body
    for url in ("/_dev/demo-centre", "/_dev/mail/", "/_dev/mail/20261123T101502.123456Z-hello.eml"):
        assert client.get(url).status_code == 404, url


def test_the_page_carries_the_hosted_pages_security_headers(db, client, debug):
    response = client.get("/")

    assert "default-src 'self'" in response["Content-Security-Policy"]
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["Cache-Control"] == "no-store"
    assert client.post("/").status_code == 405


@pytest.mark.parametrize(
    ("accept", "heading"),
    [("de-DE,de;q=0.9", "Candor läuft"), ("fr", "Candor fonctionne"), ("", "Candor is running")],
)
def test_it_speaks_the_browsers_language(db, client, debug, accept, heading):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE=accept)

    assert f"<h1>{heading}</h1>" in response.content.decode()
    assert response["Content-Language"] == (accept[:2] or "en")


def test_the_demo_centre_link_opens_the_demo_customers_centre_and_nobody_elses(db, client, debug):
    brand, _ = seed_demo()

    response = client.get("/_dev/demo-centre")

    assert response.status_code == 303
    location = response["Location"]
    assert location.startswith("/p/demo/t/")
    token = token_read(location.rsplit("/", 1)[1], kind=LinkKind.MANAGE)
    assert (token.brand_id, token.contact_id) == (brand.pk, Contact.objects.get(external_id=DEMO_CONTACT).pk)
    assert client.get(location).status_code in (200, 303)


def test_the_demo_centre_link_is_404_without_the_demo_contact(db, client, debug):
    Brand.objects.create(slug="demo", name="Not seeded")

    assert client.get("/_dev/demo-centre").status_code == 404
    assert "/_dev/demo-centre" not in client.get("/").content.decode()


def _console(request):  # pragma: no cover - only resolved, never called
    raise AssertionError


urlpatterns = [
    path("console/", _console),
    path("", include("config.urls")),
]


def test_the_console_link_appears_once_the_console_exists(db, debug, settings):
    settings.ROOT_URLCONF = __name__

    body = Client().get("/").content.decode()

    assert 'href="/console/"' in body
