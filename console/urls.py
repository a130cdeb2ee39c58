"""The console's URLs (namespace `console`), under /console/. Every view here declares its
access (console.access); tests/console/test_role_matrix.py walks them all."""

from django.urls import include, path

from console.views import (
    account,
    audit,
    catalogue,
    connectors,
    contacts,
    integrations,
    members,
    overview,
    quiz_editor,
    quizzes,
    rows,
)
from console.views.quiz_funnel import quiz_funnel

app_name = "console"

# A brand's pages, under /console/<brand_slug>/: the slug is matched once, then the page by its
# literal path (Django compares literal routes without a regular expression).
brand_urlpatterns = [
    path("", overview.overview, name="overview"),
    path("members/", members.members, name="members"),
    path("topics/", catalogue.topics, name="topics"),
    path("topics/<slug:topic_slug>/", catalogue.topic, name="topic"),
    path("purposes/", catalogue.purposes, name="purposes"),
    path("purposes/<slug:purpose_slug>/", catalogue.purpose, name="purpose"),
    path(
        "purposes/<slug:purpose_slug>/notices/<str:language>/",
        catalogue.notice,
        name="notice",
    ),
    path("theme/", catalogue.theme, name="theme"),
    path("theme/preview.css", catalogue.theme_preview_css, name="theme_preview_css"),
    path("api-keys/", integrations.api_keys, name="api_keys"),
    path("endpoints/", integrations.endpoints, name="endpoints"),
    path("endpoints/<str:endpoint_id>/", integrations.endpoint, name="endpoint"),
    path("connectors/", connectors.connectors, name="connectors"),
    path("connectors/<str:connector_id>/", connectors.connector, name="connector"),
    path("contacts/", contacts.contacts, name="contacts"),
    path("contacts/<int:contact_id>/", contacts.contact, name="contact"),
    path(
        "contacts/<int:contact_id>/receipts/<uuid:event_id>/",
        contacts.receipt,
        name="contact-receipt",
    ),
    path("rows/consent-events/", rows.rows_events, name="rows_events"),
    path("rows/contacts/", rows.rows_contacts, name="rows_contacts"),
    path("rows/deliveries/", rows.rows_deliveries, name="rows_deliveries"),
    path("audit/", audit.audit, name="audit"),
    path("audit/export/", audit.audit_export, name="audit_export"),
    path("quizzes/", quizzes.quizzes, name="quizzes"),
    path("quizzes/<str:quiz_id>/", quiz_editor.quiz, name="quiz"),
    path("quizzes/<str:quiz_id>/map/", quizzes.quiz_map_page, name="quiz_map"),
    path("quizzes/<str:quiz_id>/preview/", quizzes.quiz_preview, name="quiz_preview"),
    path("quizzes/<str:quiz_id>/export/", quizzes.quiz_export, name="quiz_export"),
    path("quizzes/<str:quiz_id>/funnel/", quiz_funnel, name="quiz_funnel"),
]

urlpatterns = [
    path("", account.index, name="index"),
    path("language/", account.language, name="language"),
    path("invitations/<str:token>/", account.invitation, name="invitation"),
    path("<slug:brand_slug>/", include(brand_urlpatterns)),
]
