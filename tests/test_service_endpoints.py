from __future__ import annotations


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_database_and_broker(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


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


def test_api_404_for_unknown_path_does_not_500(client, db):
    assert client.get("/api/v1/nothing-here").status_code == 404


def test_admin_login_is_not_under_no_referrer(client, db):
    """Under no-referrer, browsers post `Origin: null`, which the admin's CSRF check refuses."""
    assert client.get("/admin/login/")["Referrer-Policy"] == "same-origin"


def test_readyz_reports_a_broker_that_does_not_answer(client, db, settings, tmp_path):
    settings.CELERY_BROKER_URL = f"redis+socket://{tmp_path / 'nothing-here.sock'}"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "broker": "unreachable"}
