"""The project's URLs plus the ceiling views under /api/v1/bench/.

The ceilings sit in the API lane (config.middleware), as the API does: a ceiling is the cheapest
request the stack can serve, and a page measured against it pays for the middleware it needs."""

from __future__ import annotations

from django.urls import path

from bench.ceiling import views
from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    *project_urlpatterns,
    path("api/v1/bench/constant", views.ConstantApi.as_view(), name="bench-constant"),
    path("api/v1/bench/read/<int:pk>", views.ReadOneApi.as_view(), name="bench-read"),
    path("api/v1/bench/insert", views.InsertOneApi.as_view(), name="bench-insert"),
]
