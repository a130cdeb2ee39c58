from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from brands.audit import Actor
from brands.models import Brand
from brands.services import brand_create
from config.errors import ApplicationError
from preferences.brand_config import ApplySummary, brand_config_apply


def read_config_file(path: Path) -> Any:
    """The document in a .yaml/.yml (safe loader: plain data only) or .json file."""
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise CommandError(f"{path}: use a .yaml, .yml or .json file.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"{path}: cannot be read ({exc}).") from None
    try:
        return json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise CommandError(f"{path}: not valid {'JSON' if suffix == '.json' else 'YAML'}: {exc}") from None


class Command(BaseCommand):
    help = (
        "Apply a brand's whole configuration (theme, purposes with their notice texts, topics) "
        "from a YAML or JSON file, in one transaction. Safe to run again: what already matches "
        "is left alone and an unchanged notice text publishes no new version. Purposes are never "
        "deleted; topics missing from the file are listed, and deleted only with --prune."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="A .yaml, .yml or .json file")
        parser.add_argument("--brand", required=True, help="The brand's slug")
        parser.add_argument(
            "--create",
            action="store_true",
            help="Create the brand when it does not exist (its name from the file's theme.name)",
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Delete the brand's topics the file does not name (only those no contact has used)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check and report what would change, then change nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        document = read_config_file(options["file"])
        slug = options["brand"]
        try:
            with transaction.atomic():
                brand = Brand.objects.filter(slug=slug).first()
                created = False
                if brand is None and not options["create"]:
                    raise CommandError(
                        f"No brand '{slug}': create it with `create_brand {slug} --name NAME`, "
                        "or pass --create."
                    )
                actor = Actor.command("apply_brand_config")
                if brand is None:
                    theme = document.get("theme") if isinstance(document, dict) else None
                    name = theme.get("name") if isinstance(theme, dict) else None
                    brand, created = brand_create(
                        actor=actor, slug=slug, name=name if isinstance(name, str) else slug
                    )
                summary = brand_config_apply(
                    brand=brand, actor=actor, document=document, prune=options["prune"]
                )
                if options["dry_run"]:
                    transaction.set_rollback(True)
        except ApplicationError as exc:
            lines = [
                f"  {path}: {message}"
                for path, messages in (exc.errors or {}).items()
                for message in messages
            ]
            raise CommandError("\n".join([f"{exc.detail} Nothing was changed.", *lines])) from None
        self._report(slug, summary, created=created, dry_run=options["dry_run"])

    def _report(self, slug: str, summary: ApplySummary, *, created: bool, dry_run: bool) -> None:
        write = self.stdout.write
        prefix = "Would apply" if dry_run else "Applied"
        write(f"{prefix} the configuration of brand '{slug}'{' (brand created)' if created else ''}:")
        for title, entries in (
            ("created", summary.created),
            ("updated", summary.updated),
            ("unchanged", summary.unchanged),
            ("new notice versions", summary.notices_published),
            ("deleted", summary.deleted),
            ("not in the file, kept", summary.not_named),
        ):
            write(f"  {title}: {len(entries)}")
            for entry in entries:
                write(f"    {entry}")
        if not summary.changed and not created:
            write("Nothing changed.")
