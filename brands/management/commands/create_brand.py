from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from brands.audit import Actor
from brands.services import brand_create
from config.errors import Unprocessable


class Command(BaseCommand):
    help = "Create a brand (tenant). Exits 0 with a message if it already exists."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--language", default="en")
        parser.add_argument("--jurisdiction", default="EU")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            brand, created = brand_create(
                actor=Actor.command("create_brand"),
                slug=options["slug"],
                name=options["name"],
                default_language=options["language"],
                jurisdiction=options["jurisdiction"],
            )
        except Unprocessable as exc:
            problems = [
                f"{field}: {message}"
                for field, messages in (exc.errors or {}).items()
                for message in messages
            ]
            raise CommandError("; ".join(problems) or exc.detail) from None
        verb = "Created" if created else "Brand already exists:"
        self.stdout.write(f"{verb} {brand.slug} ({brand.name})")
