"""The preference centre's quiz answers, under /p/<brand_slug>/told-us/ (included from
config/urls.py beside preferences.urls)."""

from __future__ import annotations

from django.urls import path

from quizzes import told_us_views

app_name = "told-us"

urlpatterns = [
    path("<str:quiz>/<slug:key>", told_us_views.answer_correct_view, name="correct"),
    path("<str:quiz>/<slug:key>/delete", told_us_views.answer_delete_view, name="delete"),
]
