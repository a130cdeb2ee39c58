from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from brands.audit_api import AuditListApi
from brands.views import jwks
from config.api_docs import ApiDocsView
from config.home import demo_centre, dev_mail_list, dev_mail_message, home
from config.views import healthz, not_found, readyz, server_error
from consent import api as consent_api
from console.views.account import rate_limited
from preferences import api as preferences_api
from preferences import config_api
from preferences import views as preferences_views
from preferences.views.sms_hook import twilio_sms
from quizzes import api as quizzes_api
from quizzes import traits_api as quizzes_traits_api
from sync.delivery import api as delivery_api
from sync.delivery.connectors import api as connector_api
from sync.delivery.connectors.hooks import vendor_hook
from sync.outbox import api as feed_api

api_v1 = [
    # GET is consent_api's list (consent:read); POST and the rest are the configuration (admin).
    path("purposes", config_api.PurposeListApi.as_view(), name="purposes"),
    path("purposes/<str:slug>", config_api.PurposeApi.as_view(), name="purpose"),
    path("purposes/<str:slug>/notice", config_api.NoticeApi.as_view(), name="purpose-notice"),
    path("topics", config_api.TopicListApi.as_view(), name="topics"),
    path("topics/<str:slug>", config_api.TopicApi.as_view(), name="topic"),
    path("theme", config_api.ThemeApi.as_view(), name="theme"),
    path("config", config_api.BrandConfigApi.as_view(), name="config"),
    path("audit", AuditListApi.as_view(), name="audit"),
    path("contacts/<str:external_id>", consent_api.ContactApi.as_view(), name="contact"),
    path(
        "contacts/<str:external_id>/consents",
        consent_api.ContactConsentsApi.as_view(),
        name="consents",
    ),
    path(
        "contacts/<str:external_id>/consents/history",
        consent_api.ConsentHistoryApi.as_view(),
        name="consent-history",
    ),
    path(
        "consent-events/<str:event_id>/receipt",
        consent_api.ConsentReceiptApi.as_view(),
        name="receipt",
    ),
    path(
        "contacts/<str:external_id>/export",
        preferences_api.ContactExportApi.as_view(),
        name="contact-export",
    ),
    path(
        "contacts/<str:external_id>/preferences",
        preferences_api.ContactPreferencesApi.as_view(),
        name="preferences",
    ),
    path(
        "contacts/<str:external_id>/signup",
        preferences_api.ContactSignupApi.as_view(),
        name="signup",
    ),
    path(
        "contacts/<str:external_id>/unsubscribe-headers",
        preferences_api.UnsubscribeHeadersApi.as_view(),
        name="unsubscribe-headers",
    ),
    path("ledger/checkpoints", consent_api.CheckpointListApi.as_view(), name="ledger-checkpoints"),
    path(
        "ledger/checkpoints/latest",
        consent_api.CheckpointLatestApi.as_view(),
        name="ledger-checkpoint-latest",
    ),
    path("events", feed_api.EventFeedApi.as_view(), name="events"),
    path("endpoints", delivery_api.EndpointListApi.as_view(), name="endpoints"),
    path("endpoints/<str:endpoint_id>", delivery_api.EndpointApi.as_view(), name="endpoint"),
    path(
        "endpoints/<str:endpoint_id>/rotate-secret",
        delivery_api.EndpointSecretRotateApi.as_view(),
        name="endpoint-rotate-secret",
    ),
    path(
        "endpoints/<str:endpoint_id>/deliveries",
        delivery_api.EndpointDeliveriesApi.as_view(),
        name="endpoint-deliveries",
    ),
    path(
        "endpoints/<str:endpoint_id>/redeliver",
        delivery_api.EndpointRedeliverApi.as_view(),
        name="endpoint-redeliver",
    ),
    path("endpoints/<str:endpoint_id>/test", delivery_api.EndpointTestApi.as_view(), name="endpoint-test"),
    path("connectors", connector_api.ConnectorListApi.as_view(), name="connectors"),
    path("connectors/<str:connector_id>", connector_api.ConnectorApi.as_view(), name="connector"),
    path(
        "connectors/<str:connector_id>/test", connector_api.ConnectorTestApi.as_view(), name="connector-test"
    ),
    path(
        "connectors/<str:connector_id>/deliveries",
        connector_api.ConnectorDeliveriesApi.as_view(),
        name="connector-deliveries",
    ),
    path(
        "connectors/<str:connector_id>/backfill",
        connector_api.ConnectorBackfillApi.as_view(),
        name="connector-backfill",
    ),
    path(
        "connectors/<str:connector_id>/reconcile",
        connector_api.ConnectorReconcileApi.as_view(),
        name="connector-reconcile",
    ),
    # Quizzes (quizzes/api.py): `schema` before the public ids it would otherwise be taken for.
    path("quizzes", quizzes_api.QuizListApi.as_view(), name="quizzes"),
    path("quizzes/schema", quizzes_api.QuizSchemaApi.as_view(), name="quiz-schema"),
    path("quizzes/<str:public_id>", quizzes_api.QuizApi.as_view(), name="quiz"),
    path("quizzes/<str:public_id>/problems", quizzes_api.QuizProblemsApi.as_view(), name="quiz-problems"),
    path("quizzes/<str:public_id>/publish", quizzes_api.QuizPublishApi.as_view(), name="quiz-publish"),
    path("quizzes/<str:public_id>/archive", quizzes_api.QuizArchiveApi.as_view(), name="quiz-archive"),
    path("quizzes/<str:public_id>/funnel", quizzes_api.QuizFunnelApi.as_view(), name="quiz-funnel"),
    path(
        "contacts/<str:external_id>/traits",
        quizzes_traits_api.ContactTraitsApi.as_view(),
        name="contact-traits",
    ),
    path(
        "contacts/<str:external_id>/quiz-tokens",
        quizzes_api.QuizTokenApi.as_view(),
        name="quiz-tokens",
    ),
]

urlpatterns = [
    path("", home, name="home"),
    # DEBUG only (404 otherwise): config/home.py.
    path("_dev/demo-centre", demo_centre, name="dev-demo-centre"),
    path("_dev/mail/", dev_mail_list, name="dev-mail"),
    path("_dev/mail/<str:name>", dev_mail_message, name="dev-mail-message"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path(".well-known/candor/<slug:brand_slug>/jwks.json", jwks, name="brand-jwks"),
    path("api/v1/", include((api_v1, "api"))),
    path("p/<slug:brand_slug>/", include("preferences.urls")),
    path("p/<slug:brand_slug>/told-us/", include("quizzes.told_us_urls")),
    path("q/", include("quizzes.urls")),
    path(".well-known/gpc.json", preferences_views.gpc_json, name="gpc-json"),
    path("hooks/twilio/<slug:brand_slug>/sms", twilio_sms, name="twilio-sms"),
    path("hooks/<slug:vendor>/<slug:connector_id>", vendor_hook, name="vendor-hook"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", ApiDocsView.as_view(url_name="schema"), name="docs"),
    path("admin/", admin.site.urls),
    # The brand console: allauth's sign-in pages first (a brand's slug cannot shadow them).
    path("console/account/", include("allauth.urls")),
    path("console/", include("console.urls")),
]

handler404 = not_found
handler500 = server_error
# allauth answers a request past its rate limits with ROOT_URLCONF.handler429.
handler429 = rate_limited
