from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.http import require_GET
from kombu import Connection

logger = logging.getLogger(__name__)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up. Touches nothing else."""
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """The database and the broker answer."""
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:
        logger.exception("readyz: database unreachable")
        checks["database"] = "unreachable"
    try:
        # A fresh connection from settings, not Celery's pool, so the answer is current.
        with Connection(
            settings.CELERY_BROKER_URL, transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        checks["broker"] = "ok"
    except Exception:
        logger.warning("readyz: broker unreachable", exc_info=True)
        checks["broker"] = "unreachable"
    ready = all(value == "ok" for value in checks.values())
    body: dict[str, object] = {"status": "ok" if ready else "unavailable", "checks": checks}
    if checks["database"] == "ok":
        # Read even while no worker runs; "delayed" does not fail readiness: taking the web
        # process out of rotation would refuse the unsubscribes themselves.
        from preferences.one_click import unsubscribe_delay_check

        try:
            body["unsubscribes"] = "delayed" if unsubscribe_delay_check().delayed else "ok"
        except Exception:
            logger.exception("readyz: the unsubscribe backlog could not be checked")
    return JsonResponse(body, status=200 if ready else 503)


def _api_problem(status_code: int, code: str, detail: str) -> JsonResponse:
    from config.api import PROBLEM_CONTENT_TYPE, problem_title

    body = {
        "type": f"urn:candor:problem:{code}",
        "title": problem_title(code, status_code),
        "status": status_code,
        "detail": detail,
    }
    return JsonResponse(body, status=status_code, content_type=PROBLEM_CONTENT_TYPE)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: under /api/ a problem, as every other API error; elsewhere Django's page."""
    if request.path.startswith("/api/"):
        return _api_problem(404, "not-found", "No API operation at this URL.")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: under /api/ a problem (the error itself is logged by Django, not shown)."""
    if request.path.startswith("/api/"):
        return _api_problem(500, "server-error", "Something went wrong on our side; it was logged.")
    return defaults.server_error(request)
