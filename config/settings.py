"""Candor settings: one file, configured by environment variables only.

Every variable is listed in .env.example with its development default. With
DEBUG=false the process refuses to start on a development secret.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.embedded_postgres import RUN_ROOT as EMBEDDED_POSTGRES_ROOT
from config.embedded_postgres import EmbeddedPostgres
from config.embedded_valkey import EmbeddedValkey
from config.env import (
    email_settings,
    env_bool,
    env_date,
    env_int,
    env_list,
    env_rate,
    env_str,
    recorded_public_base_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"  # noqa: S105 - refused in production below
DEV_IDENTIFIER_PEPPER = "dev-insecure-identifier-pepper"

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY", DEV_SECRET_KEY)
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", "")
# Keys the HMAC pseudonym of emails (proof that survives erasure). Keep it outside the database.
IDENTIFIER_PEPPER = env_str("IDENTIFIER_PEPPER", DEV_IDENTIFIER_PEPPER)

if not DEBUG:
    for _name, _value, _dev in (
        ("SECRET_KEY", SECRET_KEY, DEV_SECRET_KEY),
        ("IDENTIFIER_PEPPER", IDENTIFIER_PEPPER, DEV_IDENTIFIER_PEPPER),
    ):
        if not _value or _value == _dev or len(_value) < 32:
            raise ImproperlyConfigured(
                f"{_name} must be set to a secret of at least 32 characters when DEBUG is false"
            )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
# Where people and webhooks reach this instance: every absolute link is made from it. In a
# checkout without it, commands such as issue_link take the address a running `make run` serves
# on (it records it in var/run/public_base_url), so their links open on the right port.
PUBLIC_BASE_URL = env_str(
    "PUBLIC_BASE_URL",
    (DEBUG and recorded_public_base_url(VAR_DIR / "run" / "public_base_url")) or "http://127.0.0.1:8000",
).rstrip("/")
CSRF_TRUSTED_ORIGINS = [PUBLIC_BASE_URL]

INSTALLED_APPS = [
    "config",  # connection hooks (config.apps)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served as our own static files
    "brands",
    "sync",
    "consent",
    "preferences",
    "quizzes",
    # The brand console (/console/): staff sign-in with allauth (and its MFA), htmx fragments.
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_htmx",
    "console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.HostedPageHeadersMiddleware",
    "config.middleware.ApiHeadersMiddleware",
    "config.middleware.RequestSizeLimitMiddleware",
    "django.middleware.common.CommonMiddleware",
    # The API (/api/v1/) goes from here straight to its view: it has no use for what follows
    # (config.middleware, "The API lane"). What the API needs goes above this line.
    "config.middleware.ApiLaneStart",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's AuthenticationMiddleware, with the person read along with the session row.
    "console.backends.SignedInMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # /console/: the staff's language, strict CSP and no-store (console.middleware).
    "console.middleware.ConsoleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.ApiLaneEnd",  # must stay last
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
APPEND_SLASH = False

# Two template engines. The hosted pages (/p/…) render with Jinja2 from templates/jinja2/
# (config/jinja2.py; preferences.views._pages._render asks that engine by name): it renders the
# preference centre several times faster than the Django template language. Admin, DRF and
# the emails (templates/emails/) stay on the Django template language. No template name exists
# in both folders, so neither engine ever picks up the other's files; `404.html`, which
# django.views.defaults.page_not_found asks every engine for, is the Jinja2 one.
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        "NAME": "pages",
        "DIRS": [BASE_DIR / "templates" / "jinja2"],
        "APP_DIRS": False,
        "OPTIONS": {
            "environment": "config.jinja2.environment",
            "extensions": ["jinja2.ext.i18n"],
            # The backend adds request itself (and a csrf_input that config.jinja2.csrf replaces).
            "context_processors": [
                "config.jinja2.csrf",
                "config.jinja2.bound",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
# PostgreSQL only. Without DATABASE_URL (a checkout: `make run`, `make test`, manage.py), the
# embedded server under var/postgres, which those commands start (config/embedded_postgres.py).
DATABASE_URL = env_str("DATABASE_URL", "")
if not DATABASE_URL:
    if not DEBUG:
        raise ImproperlyConfigured("DATABASE_URL must be set when DEBUG is false")
    DATABASE_URL = EmbeddedPostgres(EMBEDDED_POSTGRES_ROOT).url()
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must be a postgres:// URL: Candor runs on PostgreSQL only")
# The hand-written SELECTs of config.db run as prepared statements (Django's own queries
# bind client-side and are never prepared). Turn off behind a pooler that cannot keep
# prepared statements (PgBouncer in transaction mode before 1.21).
DATABASE_PREPARED_STATEMENTS = env_bool("DATABASE_PREPARED_STATEMENTS", True)
DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
    0 if DATABASE_PREPARED_STATEMENTS else None
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (rate limits) --------------------------------------------------
CACHE_URL = env_str("CACHE_URL", "locmem://")
# How long an API key lookup is cached; revocation deletes the entry in the (shared) cache.
API_KEY_CACHE_SECONDS = env_int("API_KEY_CACHE_SECONDS", 30)
if CACHE_URL.startswith("redis://") or CACHE_URL.startswith("rediss://"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL == "locmem://":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ImproperlyConfigured(f"CACHE_URL must be locmem:// or redis://…, not {CACHE_URL!r}")

# --- Celery ---------------------------------------------------------------
# Redis in production. In a checkout without CELERY_BROKER_URL: the embedded Valkey (the same
# protocol, config/embedded_valkey.py) on a socket under var/valkey, which `make run` starts.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
if not CELERY_BROKER_URL:
    if not DEBUG:
        raise ImproperlyConfigured("CELERY_BROKER_URL must be set when DEBUG is false")
    CELERY_BROKER_URL = EmbeddedValkey().url()
# A publish after commit must not hold the request while the broker is down (kombu retries the
# connection for seconds by default). It fails at once and the sweepers pick the work up.
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {"max_retries": 0}
CELERY_TASK_PUBLISH_RETRY = False
# Celery's Django fixup closes the database connection around every task unless this is set;
# a new PostgreSQL connection per webhook delivery cost two thirds of the worker's time.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 1000, minimum=1)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = env_str("CELERY_BEAT_SCHEDULE_FILENAME", "") or str(
    VAR_DIR / "celerybeat-schedule"
)
# Periodic tasks (run by `celery -A config beat`). Each expires after one interval, so a beat
# that runs while no worker does leaves no backlog of identical sweeps behind.
DELIVERIES_SWEEP_SECONDS = env_int("DELIVERIES_SWEEP_SECONDS", 2, minimum=1)
ONE_CLICK_SWEEP_SECONDS = env_int("ONE_CLICK_SWEEP_SECONDS", 5, minimum=1)
INBOUND_SWEEP_SECONDS = env_int("INBOUND_SWEEP_SECONDS", 5, minimum=1)
# Accepted one-click unsubscribes waiting longer than this (the worker is down) raise an alert:
# one ERROR log line and one email to OPS_ALERT_EMAIL per incident, and /readyz reports it.
UNSUBSCRIBE_DELAY_ALERT_SECONDS = env_int("UNSUBSCRIBE_DELAY_ALERT_SECONDS", 900, minimum=60)
OPS_ALERT_EMAIL = env_list("OPS_ALERT_EMAIL", "")
HOLDS_END_EXPIRED_SECONDS = env_int("HOLDS_END_EXPIRED_SECONDS", 60, minimum=1)
CONSENTS_EXPIRE_SECONDS = env_int("CONSENTS_EXPIRE_SECONDS", 60, minimum=1)
EVENTS_PRUNE_SECONDS = env_int("EVENTS_PRUNE_SECONDS", 3600, minimum=60)
# How often each brand's chain heads are signed as a ledger checkpoint (when they changed).
LEDGER_CHECKPOINT_SECONDS = env_int("LEDGER_CHECKPOINT_SECONDS", 3600, minimum=60)
EVIDENCE_RETENTION_PURGE_SECONDS = env_int("EVIDENCE_RETENTION_PURGE_SECONDS", 3600, minimum=60)
# How often the console's dashboard rollups read each brand's new changes (console.rollups).
ROLLUPS_REFRESH_SECONDS = env_int("ROLLUPS_REFRESH_SECONDS", 60, minimum=5)
# How often polled connectors (Salesforce) are asked for the opt-outs made in the vendor: each
# poll costs two or three of the org's daily API requests (576 a day at 300 s).
CONNECTORS_POLL_SECONDS = env_int("CONNECTORS_POLL_SECONDS", 300, minimum=5)
# How often every active connector's vendor state is compared with Candor's and repaired
# (sync.delivery.connectors.reconcile): daily by default.
CONNECTOR_RECONCILE_EVERY = env_int("CONNECTOR_RECONCILE_EVERY", 86400, minimum=60)
# A backfill or reconcile run's lease: a run untouched this long is resumed by another worker.
CONNECTOR_RUN_LEASE_SECONDS = env_int("CONNECTOR_RUN_LEASE_SECONDS", 120, minimum=1)
# How long one backfill task works before handing the rest to the next (so a worker is shared).
CONNECTOR_BACKFILL_CHUNK_SECONDS = env_int("CONNECTOR_BACKFILL_CHUNK_SECONDS", 30, minimum=1)
CELERY_BEAT_SCHEDULE = {
    # Re-enqueues events and deliveries left pending (broker down, worker died mid-task).
    "deliveries-sweep": {
        "task": "sync.tasks.deliveries_sweep",
        "schedule": float(DELIVERIES_SWEEP_SECONDS),
        "options": {"expires": DELIVERIES_SWEEP_SECONDS},
    },
    # Applies one-click unsubscribes whose nudge was lost (ONE_CLICK_NUDGE_SECONDS covers the rest).
    "one-click-apply": {
        "task": "preferences.tasks.one_click_apply",
        "schedule": float(ONE_CLICK_SWEEP_SECONDS),
        "options": {"expires": ONE_CLICK_SWEEP_SECONDS},
    },
    # Applies vendors' opt-outs whose nudge was lost (INBOUND_NUDGE_SECONDS covers the rest).
    "inbound-signals-apply": {
        "task": "sync.tasks.inbound_signals_apply",
        "schedule": float(INBOUND_SWEEP_SECONDS),
        "options": {"expires": INBOUND_SWEEP_SECONDS},
    },
    # Alerts once when accepted unsubscribes wait too long (/readyz checks too: it runs even
    # while no worker does, when this task cannot).
    "unsubscribe-delay-check": {
        "task": "preferences.tasks.unsubscribe_delay_check",
        "schedule": 60.0,
        "options": {"expires": 60},
    },
    # Forgets which steps past quiz runs counted (a run's state lasts a day).
    "quiz-funnel-steps-forget": {
        "task": "quizzes.tasks.funnel_steps_forget",
        "schedule": 3600.0,
        "options": {"expires": 3600},
    },
    # Forgets the sign-up IP and user agent of double opt-in requests never confirmed in time.
    "confirmation-requests-forget": {
        "task": "preferences.tasks.confirmation_requests_forget",
        "schedule": 3600.0,
        "options": {"expires": 3600},
    },
    "holds-end-expired": {
        "task": "preferences.tasks.holds_end_expired",
        "schedule": float(HOLDS_END_EXPIRED_SECONDS),
        "options": {"expires": HOLDS_END_EXPIRED_SECONDS},
    },
    # Records implied (and other time-limited) consent that ran out: consent.expired.
    "consents-expire": {
        "task": "consent.tasks.consents_expire",
        "schedule": float(CONSENTS_EXPIRE_SECONDS),
        "options": {"expires": CONSENTS_EXPIRE_SECONDS},
    },
    # Drops feed events older than EVENT_RETENTION_DAYS.
    "events-prune": {
        "task": "sync.tasks.events_prune",
        "schedule": float(EVENTS_PRUNE_SECONDS),
        "options": {"expires": EVENTS_PRUNE_SECONDS},
    },
    # Signed checkpoints of every brand's chain heads (consent.checkpoints).
    "ledger-checkpoints": {
        "task": "consent.tasks.ledger_checkpoints",
        "schedule": float(LEDGER_CHECKPOINT_SECONDS),
        "options": {"expires": LEDGER_CHECKPOINT_SECONDS},
    },
    # Clears personal evidence past each brand's evidence_retention_days (consent.retention).
    "evidence-retention-purge": {
        "task": "consent.tasks.evidence_retention_purge",
        "schedule": float(EVIDENCE_RETENTION_PURGE_SECONDS),
        "options": {"expires": EVIDENCE_RETENTION_PURGE_SECONDS},
    },
    # The console's dashboard figures: each brand's changes since the last run, webhook health.
    "rollups-refresh": {
        "task": "console.tasks.rollups_refresh",
        "schedule": float(ROLLUPS_REFRESH_SECONDS),
        "options": {"expires": ROLLUPS_REFRESH_SECONDS},
    },
    # Opt-outs made in polled vendors (Salesforce), read since each connector's watermark.
    "connectors-poll": {
        "task": "sync.tasks.connectors_poll",
        "schedule": float(CONNECTORS_POLL_SECONDS),
        "options": {"expires": CONNECTORS_POLL_SECONDS},
    },
    # Starts a reconcile run for every active connector (none while one is running).
    "connectors-reconcile": {
        "task": "sync.tasks.connectors_reconcile",
        "schedule": float(CONNECTOR_RECONCILE_EVERY),
        "options": {"expires": CONNECTOR_RECONCILE_EVERY},
    },
    # Hands a backfill or reconcile run whose worker died to another one.
    "connector-runs-resume": {
        "task": "sync.tasks.connector_runs_resume",
        "schedule": 30.0,
        "options": {"expires": 30},
    },
    # Deletes staff sessions past their end (console.sessions).
    "staff-sessions-clear": {
        "task": "console.tasks.sessions_clear_expired",
        "schedule": 3600.0,
        "options": {"expires": 3600},
    },
    # Emails a brand once about each endpoint with opt-outs unacknowledged for 15 business days.
    "opt-outs-overdue-notify": {
        "task": "sync.tasks.opt_outs_overdue_notify",
        "schedule": 3600.0,
        "options": {"expires": 3600},
    },
}

# --- Email -------------------------------------------------------------------
# Development mail is filed under var/mail/, one .eml per message, listed at /_dev/mail/ under
# DEBUG (config/mail.py); a relative file:// folder is taken from the checkout.
_email = email_settings(env_str("EMAIL_URL", "file://var/mail"))
if "EMAIL_FILE_PATH" in _email:
    _email["EMAIL_FILE_PATH"] = str(BASE_DIR / str(_email["EMAIL_FILE_PATH"]))
globals().update(_email)
EMAIL_FILE_PATH = str(_email.get("EMAIL_FILE_PATH", ""))  # config.mail.MailboxBackend's folder
# Mail carries addresses, links and sign-in codes: production refuses a backend that files or
# drops it (like the development secrets above), and console:// there withholds every message
# with a warning instead of printing it (config.mail.WithheldBackend).
if not DEBUG and _email["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend":
    _email["EMAIL_BACKEND"] = EMAIL_BACKEND = "config.mail.WithheldBackend"
DEVELOPMENT_EMAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
    "config.mail.MailboxBackend",
}
if not DEBUG and _email["EMAIL_BACKEND"] in DEVELOPMENT_EMAIL_BACKENDS:
    raise ImproperlyConfigured(
        "EMAIL_URL must name a real mail server (smtp://, smtp+tls:// or smtps://) when DEBUG is false"
    )
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Candor <no-reply@localhost>")

# --- Global Privacy Control ------------------------------------------------------
# The date /.well-known/gpc.json gives as lastUpdate: when this service's GPC handling last changed.
GPC_LAST_UPDATE = env_date("GPC_LAST_UPDATE", "2026-11-23")

# --- Auth, i18n, static ---------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Translations of the hosted pages and emails: edited in locale/*/LC_MESSAGES/django.po, compiled
# to the committed .mo files (preferences/management/commands/makemessages.py has the workflow).
LOCALE_PATHS = [BASE_DIR / "locale"]

# --- The brand console: staff accounts (django-allauth and its MFA) ------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",  # the operators' admin
    # allauth's, with the signed-in person read with the session row (console.backends)
    "console.backends.StaffBackend",
]
LOGIN_URL = "/console/account/login/"
LOGIN_REDIRECT_URL = "/console/"
LOGOUT_REDIRECT_URL = "/console/account/login/"
# A staff session ends with the browser (ACCOUNT_SESSION_REMEMBER) and, however active, after
# STAFF_SESSION_SECONDS (8 hours: a working day). Contacts' sessions are separate
# (PREFERENCE_SESSION_SECONDS).
STAFF_SESSION_SECONDS = env_int("STAFF_SESSION_SECONDS", 8 * 3600, minimum=300)
SESSION_COOKIE_AGE = STAFF_SESSION_SECONDS
# Django's database sessions with the person's id as a column, read with the person in one
# prepared statement (console.sessions). Only staff have them (contacts' are signed cookies).
SESSION_ENGINE = "console.sessions"
# How many rendered audit log pages each process keeps (console.kept; 0: none). A page is kept
# under the log's entry count, its filters and its language, so it is never out of date.
CONSOLE_KEPT_PAGES = env_int("CONSOLE_KEPT_PAGES", 128, minimum=0)
ACCOUNT_SESSION_REMEMBER = False
# Email is the login; nobody picks a username (allauth fills Django's in).
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "Candor: "
# Sign-up only through an owner's invitation (console.adapter).
ACCOUNT_ADAPTER = "console.adapter.ConsoleAccountAdapter"
# allauth's own limits, made explicit: failed logins per IP and per address, login attempts
# per IP; a request past one gets 429 (templates/429.html).
ACCOUNT_RATE_LIMITS = {
    "login": env_str("CONSOLE_LOGIN_RATE", "30/m/ip"),
    "login_failed": env_str("CONSOLE_LOGIN_FAILED_RATE", "10/m/ip,5/5m/key"),
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_TOTP_ISSUER = "Candor"
# Browsers allow WebAuthn on http://127.0.0.1 and localhost only; allauth must be told so.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG
# Days an owner's invitation link works (once).
CONSOLE_INVITATION_DAYS = env_int("CONSOLE_INVITATION_DAYS", 7, minimum=1)

# --- Security headers -------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
# same-origin, not no-referrer, site-wide: with no-referrer browsers send `Origin: null` on
# same-origin form posts, which the admin's CSRF check refuses. The hosted pages (/p/, /q/)
# set no-referrer themselves (config.middleware) and accept that Origin with the token check.
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SESSION_COOKIE_SECURE = True
    # Staff sessions (the console, the admin): only this origin over HTTPS can set the cookie.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_SECURE = True
    # Only this origin over HTTPS can set it (hosted pages rely on it, see config.middleware).
    CSRF_COOKIE_NAME = "__Host-csrftoken"
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# --- Hosted pages and signed links ------------------------------------------------
# Days a `manage` link opens the preference centre; an `unsubscribe` link works for at least
# 90 days (CAN-SPAM asks 30, CASL 60); `confirm` links last 72 hours.
LINK_MANAGE_DAYS = env_int("LINK_MANAGE_DAYS", 30, minimum=1)
LINK_UNSUBSCRIBE_DAYS = env_int("LINK_UNSUBSCRIBE_DAYS", 180, minimum=90)
# Idle seconds before the session a manage link was swapped for ends.
PREFERENCE_SESSION_SECONDS = env_int("PREFERENCE_SESSION_SECONDS", 3600, minimum=60)
# Seconds a quiz token (POST /api/v1/contacts/{id}/quiz-tokens) links a quiz response to a contact.
QUIZ_TOKEN_SECONDS = env_int("QUIZ_TOKEN_SECONDS", 30 * 60, minimum=60)
# Seconds each process keeps a published quiz's row (its status, live version and brand) for the
# hosted quiz page; a change saved in another process shows there within them (0: read each time).
QUIZ_PAGE_CACHE_SECONDS = env_int("QUIZ_PAGE_CACHE_SECONDS", 5, minimum=0)
# Seconds each process gathers the quiz funnel's anonymous counts before writing them in one
# statement (0: each count written at once).
QUIZ_FUNNEL_FLUSH_SECONDS = env_int("QUIZ_FUNNEL_FLUSH_SECONDS", 1, minimum=0)
# Bad link tokens per IP, and "email me a new link" requests per address and per IP.
LINK_BAD_TOKEN_RATE = env_rate("LINK_BAD_TOKEN_RATE", "10/min")
# Twilio's inbound-text webhook, per sending IP (Twilio sends from a pool of addresses).
SMS_HOOK_RATE = env_rate("SMS_HOOK_RATE", "300/min")
# A connected vendor's webhook calls, per connector (vendors send from pools of addresses).
CONNECTOR_HOOK_RATE = env_rate("CONNECTOR_HOOK_RATE", "6000/min")
LINK_REQUEST_RATE = env_rate("LINK_REQUEST_RATE", "3/hour")
LINK_REQUEST_IP_RATE = env_rate("LINK_REQUEST_IP_RATE", "30/hour")
# A one-click unsubscribe is accepted at once and applied by the worker; each web process asks
# the worker at most once per this many seconds (beat sweeps the rest every few seconds).
ONE_CLICK_NUDGE_SECONDS = env_int("ONE_CLICK_NUDGE_SECONDS", 1, minimum=0)
# Vendors' opt-outs (sync.delivery.connectors.inbound): a worker is nudged at most this often per
# process after a vendor's call, and beat sweeps what a lost nudge left every INBOUND_SWEEP_SECONDS.
INBOUND_NUDGE_SECONDS = env_int("INBOUND_NUDGE_SECONDS", 1, minimum=0)
# Downloading, erasing or changing the email address on the hosted page needs a single-use
# code sent by email: valid for at most 10 minutes (ASVS 6.5.5), dead after a few wrong tries.
STEP_UP_CODE_MINUTES = env_int("STEP_UP_CODE_MINUTES", 10, minimum=1)
if STEP_UP_CODE_MINUTES > 10:
    raise ImproperlyConfigured("STEP_UP_CODE_MINUTES must be 10 or less.")
STEP_UP_MAX_ATTEMPTS = env_int("STEP_UP_MAX_ATTEMPTS", 5, minimum=1)
STEP_UP_CODES_PER_HOUR = env_int("STEP_UP_CODES_PER_HOUR", 5, minimum=1)

# --- API ------------------------------------------------------------------
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 64 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = API_MAX_BODY_BYTES
# Requests per minute per API key; 429 with Retry-After beyond it.
API_RATE_LIMIT = env_rate("API_RATE_LIMIT", "1200/min")
# How long an Idempotency-Key is remembered.
IDEMPOTENCY_TTL_HOURS = env_int("IDEMPOTENCY_TTL_HOURS", 24, minimum=1)
# How far in the future a client-supplied occurred_at may be (clock skew).
CONSENT_CLOCK_SKEW_SECONDS = env_int("CONSENT_CLOCK_SKEW_SECONDS", 300, minimum=0)
# Days the changes feed keeps outbox events (sync.outbox.events.events_prune); the ledger is kept.
EVENT_RETENTION_DAYS = env_int("EVENT_RETENTION_DAYS", 30, minimum=1)
# Days an erased contact's sealed addresses wait for a vendor that erases by address (Klaviyo) to
# be told (sync.delivery.connectors.erasure_notices); then they go, told or not.
ERASURE_NOTICE_DAYS = env_int("ERASURE_NOTICE_DAYS", 30, minimum=1)

# --- Webhooks ---------------------------------------------------------------
# Deliver to http:// URLs and to private, loopback and link-local addresses. Only for
# development and tests (on by default when DEBUG is): in production receivers are public HTTPS.
# Cloud metadata addresses are refused even then.
WEBHOOK_ALLOW_PRIVATE = env_bool("WEBHOOK_ALLOW_PRIVATE", DEBUG)
# Seconds one delivery attempt may take (connect, send, answer).
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 15, minimum=1)
# Claims in flight at once per endpoint (each a worker sending up to 20 of the endpoint's
# deliveries one at a time), so a slow receiver cannot take every worker.
WEBHOOK_MAX_IN_FLIGHT = env_int("WEBHOOK_MAX_IN_FLIGHT", 4, minimum=1)
# Days of nothing but failed attempts before an endpoint is disabled and its owners are told.
WEBHOOK_DISABLE_AFTER_DAYS = env_int("WEBHOOK_DISABLE_AFTER_DAYS", 5, minimum=1)
# Seconds a process remembers which endpoints a brand has (changes clear it in a shared cache;
# the sweeper catches up on anything a stale entry missed).
WEBHOOK_ENDPOINT_CACHE_SECONDS = env_int("WEBHOOK_ENDPOINT_CACHE_SECONDS", 30, minimum=0)

# --- Connectors ---------------------------------------------------------------
# Fernet keys (comma-separated, each 32 url-safe base64 bytes: Fernet.generate_key()) for the
# connectors' credentials at rest: the first encrypts, every one decrypts (rotation: put the new
# key first, run `manage.py rotate_connector_keys`, then drop the old one). Unset under DEBUG (and
# in tests), a key derived from SECRET_KEY stands in; unset in production, connectors cannot be
# created or used (409 / failed attempts) and nothing falls back to a derived key.
CONNECTOR_KEYS = env_list("CONNECTOR_KEYS", "")
# Taken from DEBUG as the process starts (tests run with DEBUG false but started as development).
CONNECTOR_DERIVED_KEY = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["brands.auth.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["brands.auth.HasScopes"],
    "DEFAULT_PARSER_CLASSES": ["config.api.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "config.api.ApiContentNegotiation",
    "DEFAULT_THROTTLE_CLASSES": ["brands.auth.ApiKeyRateThrottle"],
    "EXCEPTION_HANDLER": "config.api.problem_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "config.schema.CandorAutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DATETIME_FORMAT": "iso-8601",
    # ?format= belongs to our endpoints (receipts take format=dpv), not to renderer selection.
    "URL_FORMAT_OVERRIDE": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Candor API",
    "DESCRIPTION": "Consent ledger, preferences and sync for zero-party data.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # /api/docs/ loads Swagger UI from this service's static files, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Logging: no tokens, keys, emails or phone numbers are ever logged ----------------
# Every line goes through config.logfilters.RedactingFormatter (link tokens become fingerprints,
# API keys their public prefix, addresses and numbers placeholders), tracebacks included. The
# filter also redacts the records of the loggers that name request paths, for any other handler.
_REDACTED = ["redact"]
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "config.logfilters.RedactLinkTokens"},
        # Celery's per-run lines about the periodic sweeps (the sweeps log their own work).
        "quiet_periodic": {"()": "config.logfilters.QuietPeriodicTasks"},
    },
    "formatters": {
        "plain": {
            "()": "config.logfilters.RedactingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": [*_REDACTED, "quiet_periodic"],
        }
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's defaults give "django" a console handler of its own (DEBUG) and mail_admins
        # (the full request, cookies and tokens included, by email); its records go to ours.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.request": {"filters": _REDACTED},
        "django.security.csrf": {"filters": _REDACTED},  # its failures name the path
        "django.server": {"handlers": ["console"], "filters": _REDACTED, "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
        # httpx logs every request's URL at INFO; a webhook URL may carry the receiver's token.
        "httpx": {"level": "WARNING"},
    },
}
# The worker keeps these handlers instead of installing Celery's own, unredacted ones.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
