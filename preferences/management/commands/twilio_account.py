from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from brands.models import Brand
from config.errors import Unprocessable
from preferences.sms import twilio_account_set


class Command(BaseCommand):
    help = (
        "Give a brand its Twilio account for the inbound SMS hook. The auth token is read from "
        "TWILIO_AUTH_TOKEN, else asked for (or read from standard input), never from the command "
        "line, where the shell's history and the process list would keep it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--brand", required=True, help="The brand's slug")
        parser.add_argument("--account-sid", required=True, help="AC followed by 32 hex digits")

    def handle(self, *args: Any, **options: Any) -> None:
        brand = Brand.objects.filter(slug=options["brand"]).first()
        if brand is None:
            raise CommandError(f"No brand '{options['brand']}'")
        token = os.environ.get("TWILIO_AUTH_TOKEN") or (
            getpass.getpass("Twilio auth token: ") if sys.stdin.isatty() else sys.stdin.readline()
        )
        try:
            twilio_account_set(brand=brand, account_sid=options["account_sid"], auth_token=token.strip())
        except Unprocessable as exc:
            problems = [message for messages in (exc.errors or {}).values() for message in messages]
            raise CommandError("; ".join(problems) or exc.detail) from None
        self.stdout.write(f"Twilio account set for {brand.slug}; its hook: /hooks/twilio/{brand.slug}/sms")
