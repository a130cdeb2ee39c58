"""The console's URLs (namespace `console`), under /console/. Every view here declares its
access (console.access); tests/console/test_role_matrix.py walks them all."""

from django.urls import path

from console.views import account, contacts, members, overview

app_name = "console"

urlpatterns = [
    path("", account.index, name="index"),
    path("language/", account.language, name="language"),
    path("invitations/<str:token>/", account.invitation, name="invitation"),
    path("<slug:brand_slug>/", overview.overview, name="overview"),
    path("<slug:brand_slug>/members/", members.members, name="members"),
    path("<slug:brand_slug>/contacts/", contacts.contacts, name="contacts"),
    path("<slug:brand_slug>/contacts/<int:contact_id>/", contacts.contact, name="contact"),
    path(
        "<slug:brand_slug>/contacts/<int:contact_id>/receipts/<uuid:event_id>/",
        contacts.receipt,
        name="contact-receipt",
    ),
]
