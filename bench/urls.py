"""The project's URLs plus the ceiling views under /bench/."""

from __future__ import annotations

from django.urls import path

from bench.ceiling import views
from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    *project_urlpatterns,
    path("bench/constant", views.ConstantApi.as_view(), name="bench-constant"),
    path("bench/read/<int:pk>", views.ReadOneApi.as_view(), name="bench-read"),
    path("bench/insert", views.InsertOneApi.as_view(), name="bench-insert"),
]
