#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.core.management import execute_from_command_line

    from config.embedded_postgres import database_url_for_checkout

    # In a checkout with no DATABASE_URL: the embedded PostgreSQL under var/postgres, the one a
    # running `make run` serves, or started for this command alone and stopped after it.
    with database_url_for_checkout():
        execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
