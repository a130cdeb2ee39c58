"""Settings for `make bench`: the project's own settings plus the ceiling app.

The database always comes from BENCH_DATABASE_URL (never DATABASE_URL), because the
harness drops and recreates it on every run; without it, the bench's own embedded server
(var/postgres-bench, which `make bench` starts).
"""

from __future__ import annotations

import os

from bench import DATABASE, POSTGRES_ROOT
from config.embedded_postgres import EmbeddedPostgres

_embedded = EmbeddedPostgres(POSTGRES_ROOT).url(DATABASE)
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL") or _embedded

from config.settings import *  # noqa: E402, F403
from config.settings import INSTALLED_APPS  # noqa: E402

INSTALLED_APPS = [*INSTALLED_APPS, "bench.ceiling"]
ROOT_URLCONF = "bench.urls"
WSGI_APPLICATION = "bench.wsgi.application"
# No mail server on a bench machine; production settings accept only a real one (EMAIL_URL).
EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"
