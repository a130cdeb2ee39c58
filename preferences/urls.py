"""The hosted pages of one brand, under /p/<brand_slug>/ (included from config/urls.py)."""

from __future__ import annotations

from django.urls import path

from preferences import views

app_name = "pages"

urlpatterns = [
    path("", views.centre, name="centre"),
    path("theme.css", views.theme, name="theme"),
    path("t/<str:token>", views.landing, name="landing"),
    path("u/<str:token>", views.one_click, name="one-click"),
    path("c/<str:token>", views.confirm, name="confirm"),
    path("link", views.link_request, name="link-request"),
    path("subscriptions", views.subscriptions_save, name="subscriptions"),
    path("consents/<slug:purpose_slug>", views.consent_save, name="consent"),
    path("confirmation/<slug:topic_slug>/resend", views.confirmation_resend, name="confirmation-resend"),
    path("pause", views.pause, name="pause"),
    path("resume", views.resume, name="resume"),
    path("unsubscribe-all/<slug:channel>", views.unsubscribe_all, name="unsubscribe-all"),
    path("unsubscribe-all/<slug:channel>/undo", views.unsubscribe_all_undo, name="unsubscribe-all-undo"),
    path("about-you/<slug:name>", views.fact_edit, name="fact-edit"),
    path("about-you/<slug:name>/delete", views.fact_delete, name="fact-delete"),
    path("my-data", views.export, name="export"),
    path("delete", views.erase, name="erase"),
    path("deleted", views.erased, name="erased"),
    path("verify/<slug:action>", views.step_up_verify_view, name="verify"),
    path("sign-out", views.sign_out, name="sign-out"),
]
