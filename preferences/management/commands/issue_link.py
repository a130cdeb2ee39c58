from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from brands.models import Brand
from consent.models import Contact
from preferences.models import Channel, Topic
from preferences.tokens import LinkKind, lifetime, link_url


class Command(BaseCommand):
    help = (
        "Print a signed link for a contact: 'manage' opens the preference centre, 'unsubscribe' is "
        "the one-click unsubscribe link of a topic (or of everything on a channel). The URL is alone "
        "on the last line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--brand", required=True, help="The brand's slug")
        parser.add_argument("--contact", required=True, help="The contact's external id")
        parser.add_argument(
            "--kind", required=True, choices=[LinkKind.MANAGE.value, LinkKind.UNSUBSCRIBE.value]
        )
        parser.add_argument("--topic", help="unsubscribe only: the topic's slug (default: the whole channel)")
        parser.add_argument("--channel", choices=Channel.values, help="unsubscribe only (default: email)")

    def handle(self, *args: Any, **options: Any) -> None:
        brand = Brand.objects.filter(slug=options["brand"]).first()
        if brand is None:
            raise CommandError(f"No brand '{options['brand']}'.")
        contact = Contact.objects.filter(
            brand=brand, external_id=options["contact"], erased_at__isnull=True
        ).first()
        if contact is None:
            raise CommandError(f"No contact '{options['contact']}' in brand '{brand.slug}'.")
        kind = LinkKind(options["kind"])
        topic: Topic | None = None
        channel: str | None = None
        if kind == LinkKind.MANAGE:
            if options["topic"] or options["channel"]:
                raise CommandError("--topic and --channel go only with --kind unsubscribe.")
        else:
            channel = options["channel"] or Channel.EMAIL.value
            if options["topic"]:
                topic = Topic.objects.filter(brand=brand, slug=options["topic"]).first()
                if topic is None:
                    raise CommandError(f"No topic '{options['topic']}' in brand '{brand.slug}'.")
                if topic.transactional:
                    raise CommandError(f"Topic '{topic.slug}' is transactional: it cannot be unsubscribed.")
                if channel not in topic.channels:
                    raise CommandError(f"Topic '{topic.slug}' is not offered on '{channel}'.")
        url = link_url(kind=kind, brand=brand, contact=contact, topic=topic, channel=channel)
        self.stdout.write(
            f"A {kind.value} link for {contact.external_id}, valid for {lifetime(kind).days} days:"
        )
        self.stdout.write(url)
