from __future__ import annotations


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_database_and_broker(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "broker": "ok"},
        "unsubscribes": "ok",
    }


def test_readyz_reports_broker_down(client, db, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "unreachable"


def test_openapi_schema_lists_the_consent_api(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/v1/purposes",
        "/api/v1/contacts/{external_id}",
        "/api/v1/contacts/{external_id}/consents",
        "/api/v1/contacts/{external_id}/consents/history",
        "/api/v1/consent-events/{event_id}/receipt",
    ):
        assert path in paths, path
    assert client.get("/api/docs/").status_code == 200


def test_an_unknown_api_url_is_a_problem_not_a_page(client, db):
    for path in ("/api/v1/nothing-here", "/api/nothing", "/api/v1/contacts/a/b/c"):
        response = client.get(path)
        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"
        assert response["Cache-Control"] == "no-store"
        assert response.json() == {
            "type": "urn:candor:problem:not-found",
            "title": "Not found",
            "status": 404,
            "detail": "No API operation at this URL.",
        }
    page = client.get("/nothing-here")  # off the API: Django's own page
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")


def test_a_crash_under_the_api_answers_a_problem_without_the_error(client, db, monkeypatch):
    from consent import api as consent_api

    def crash(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(consent_api.PurposeListApi, "get", crash)
    from brands.models import Scope
    from brands.services import api_key_create, brand_create
    from tests.actors import TEST_ACTOR

    brand, _ = brand_create(actor=TEST_ACTOR, slug="crash", name="Crash")
    key = api_key_create(actor=TEST_ACTOR, brand=brand, scopes=[Scope.ADMIN]).raw_key
    client.raise_request_exception = False
    response = client.get("/api/v1/purposes", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:candor:problem:server-error",
        "title": "Internal server error",
        "status": 500,
        "detail": "Something went wrong on our side; it was logged.",
    }
    assert b"secret internals" not in response.content


def test_admin_login_is_not_under_no_referrer(client, db):
    """Under no-referrer, browsers post `Origin: null`, which the admin's CSRF check refuses."""
    assert client.get("/admin/login/")["Referrer-Policy"] == "same-origin"


def test_readyz_reports_a_broker_that_does_not_answer(client, db, settings, tmp_path):
    settings.CELERY_BROKER_URL = f"redis+socket://{tmp_path / 'nothing-here.sock'}"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "broker": "unreachable"}
