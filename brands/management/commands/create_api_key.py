from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from brands.audit import Actor
from brands.models import Brand, Scope
from brands.services import api_key_create
from config.errors import ApplicationError


class Command(BaseCommand):
    help = "Create an API key for a brand. The key is printed once, alone on the last line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--brand", required=True)
        parser.add_argument(
            "--scopes",
            required=True,
            help=f"Comma-separated, e.g. consent:read,consent:write; any of {', '.join(Scope.values)}",
        )
        parser.add_argument("--name", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        brand = Brand.objects.filter(slug=options["brand"]).first()
        if brand is None:
            raise CommandError(f"No brand '{options['brand']}'.")
        scopes = [s.strip() for s in options["scopes"].split(",") if s.strip()]
        try:
            issued = api_key_create(
                brand=brand, actor=Actor.command("create_api_key"), scopes=scopes, name=options["name"]
            )
        except ApplicationError as exc:
            raise CommandError(exc.detail) from None
        self.stdout.write(
            f"API key {issued.api_key.prefix}… for {brand.slug}, scopes {','.join(issued.api_key.scopes)}."
        )
        self.stdout.write("Store it now; it is not shown again:")
        self.stdout.write(issued.raw_key)
