"""The hosted quiz page and its embed loader, under /q/ (included from config/urls.py)."""

from __future__ import annotations

from django.urls import path

from quizzes import views

app_name = "quizzes"

urlpatterns = [
    path("embed.js", views.embed_loader, name="embed"),
    path("<str:public_id>/", views.quiz_page, name="page"),
]
