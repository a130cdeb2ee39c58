"""The end-to-end setup for docs/screenshots.py: the embedded servers of tests/conftest.py and the
browser, live server and demo brand of tests/e2e/conftest.py."""

from tests.conftest import _empty_cache, django_db_modify_db_settings
from tests.e2e.conftest import _transactional, browser, customer, demo, new_page, playwright, server

__all__ = [
    "_empty_cache",
    "_transactional",
    "browser",
    "customer",
    "demo",
    "django_db_modify_db_settings",
    "new_page",
    "playwright",
    "server",
]
