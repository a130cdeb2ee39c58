"""Settings for `make bench`: the project's own settings plus the ceiling app.

The database always comes from BENCH_DATABASE_URL (never DATABASE_URL), because the
harness drops and recreates it on every run.
"""

from __future__ import annotations

import os

DEFAULT_BENCH_DATABASE_URL = "postgres://candor:candor@127.0.0.1:5432/candor_bench"
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", DEFAULT_BENCH_DATABASE_URL)

from config.settings import *  # noqa: E402, F403
from config.settings import INSTALLED_APPS  # noqa: E402

INSTALLED_APPS = [*INSTALLED_APPS, "bench.ceiling"]
ROOT_URLCONF = "bench.urls"
WSGI_APPLICATION = "bench.wsgi.application"
