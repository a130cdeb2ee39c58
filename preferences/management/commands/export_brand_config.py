from __future__ import annotations

import json
from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser

from brands.models import Brand
from preferences.brand_config import brand_config_export


class _Dumper(yaml.SafeDumper):
    """Multi-line texts (notices) as readable blocks."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump_config(document: dict[str, Any], *, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


class Command(BaseCommand):
    help = (
        "Print a brand's whole configuration (theme, purposes with their current notice texts, "
        "topics) in the format apply_brand_config reads: applying it back changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--brand", required=True, help="The brand's slug")
        parser.add_argument("--format", choices=["yaml", "json"], default="yaml")

    def handle(self, *args: Any, **options: Any) -> None:
        brand = Brand.objects.filter(slug=options["brand"]).first()
        if brand is None:
            raise CommandError(f"No brand '{options['brand']}'.")
        self.stdout.write(dump_config(brand_config_export(brand=brand), fmt=options["format"]), ending="")
