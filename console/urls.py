"""The console's URLs (namespace `console`), under /console/. Every view here declares its
access (console.access); tests/console/test_role_matrix.py walks them all."""

from django.urls import path

from console.views import account, audit, members, overview, rows

app_name = "console"

urlpatterns = [
    path("", account.index, name="index"),
    path("language/", account.language, name="language"),
    path("invitations/<str:token>/", account.invitation, name="invitation"),
    path("<slug:brand_slug>/", overview.overview, name="overview"),
    path("<slug:brand_slug>/members/", members.members, name="members"),
    path("<slug:brand_slug>/rows/consent-events/", rows.rows_events, name="rows_events"),
    path("<slug:brand_slug>/rows/contacts/", rows.rows_contacts, name="rows_contacts"),
    path("<slug:brand_slug>/audit/", audit.audit, name="audit"),
    path("<slug:brand_slug>/audit/export/", audit.audit_export, name="audit_export"),
]
