"""The console's URLs (namespace `console`), under /console/. Every view here declares its
access (console.access); tests/console/test_role_matrix.py walks them all."""

from django.urls import path

from console.views import (
    account,
    audit,
    catalogue,
    connectors,
    contacts,
    integrations,
    members,
    overview,
    quizzes,
    rows,
)
from console.views.quiz_funnel import quiz_funnel

app_name = "console"

urlpatterns = [
    path("", account.index, name="index"),
    path("language/", account.language, name="language"),
    path("invitations/<str:token>/", account.invitation, name="invitation"),
    path("<slug:brand_slug>/", overview.overview, name="overview"),
    path("<slug:brand_slug>/members/", members.members, name="members"),
    path("<slug:brand_slug>/topics/", catalogue.topics, name="topics"),
    path("<slug:brand_slug>/topics/<slug:topic_slug>/", catalogue.topic, name="topic"),
    path("<slug:brand_slug>/purposes/", catalogue.purposes, name="purposes"),
    path("<slug:brand_slug>/purposes/<slug:purpose_slug>/", catalogue.purpose, name="purpose"),
    path(
        "<slug:brand_slug>/purposes/<slug:purpose_slug>/notices/<str:language>/",
        catalogue.notice,
        name="notice",
    ),
    path("<slug:brand_slug>/theme/", catalogue.theme, name="theme"),
    path("<slug:brand_slug>/theme/preview.css", catalogue.theme_preview_css, name="theme_preview_css"),
    path("<slug:brand_slug>/api-keys/", integrations.api_keys, name="api_keys"),
    path("<slug:brand_slug>/endpoints/", integrations.endpoints, name="endpoints"),
    path("<slug:brand_slug>/endpoints/<str:endpoint_id>/", integrations.endpoint, name="endpoint"),
    path("<slug:brand_slug>/connectors/", connectors.connectors, name="connectors"),
    path("<slug:brand_slug>/connectors/<str:connector_id>/", connectors.connector, name="connector"),
    path("<slug:brand_slug>/contacts/", contacts.contacts, name="contacts"),
    path("<slug:brand_slug>/contacts/<int:contact_id>/", contacts.contact, name="contact"),
    path(
        "<slug:brand_slug>/contacts/<int:contact_id>/receipts/<uuid:event_id>/",
        contacts.receipt,
        name="contact-receipt",
    ),
    path("<slug:brand_slug>/rows/consent-events/", rows.rows_events, name="rows_events"),
    path("<slug:brand_slug>/rows/contacts/", rows.rows_contacts, name="rows_contacts"),
    path("<slug:brand_slug>/rows/deliveries/", rows.rows_deliveries, name="rows_deliveries"),
    path("<slug:brand_slug>/audit/", audit.audit, name="audit"),
    path("<slug:brand_slug>/audit/export/", audit.audit_export, name="audit_export"),
    path("<slug:brand_slug>/quizzes/", quizzes.quizzes, name="quizzes"),
    path("<slug:brand_slug>/quizzes/<str:quiz_id>/", quizzes.quiz, name="quiz"),
    path("<slug:brand_slug>/quizzes/<str:quiz_id>/map/", quizzes.quiz_map_page, name="quiz_map"),
    path("<slug:brand_slug>/quizzes/<str:quiz_id>/preview/", quizzes.quiz_preview, name="quiz_preview"),
    path("<slug:brand_slug>/quizzes/<str:quiz_id>/export/", quizzes.quiz_export, name="quiz_export"),
    path("<slug:brand_slug>/quizzes/<str:quiz_id>/funnel/", quiz_funnel, name="quiz_funnel"),
]
