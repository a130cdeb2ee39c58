"""The console's URLs (namespace `console`), under /console/. Every view here declares its
access (console.access); tests/console/test_role_matrix.py walks them all."""

from django.urls import path

from console import views

app_name = "console"

urlpatterns = [
    path("", views.index, name="index"),
    path("language/", views.language, name="language"),
    path("invitations/<str:token>/", views.invitation, name="invitation"),
    path("<slug:brand_slug>/", views.overview, name="overview"),
    path("<slug:brand_slug>/members/", views.members, name="members"),
]
