from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from brands.demo import demo_owner_ensure
from quizzes.demo import seed_demo


class Command(BaseCommand):
    help = (
        "Create or complete the demo brand 'demo' with its onboarding quiz (idempotent); print the "
        "quiz's address, its console owner's sign-in and its API key."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        brand, raw_key, quiz = seed_demo()
        base = settings.PUBLIC_BASE_URL
        self.stdout.write(f"Demo brand '{brand.slug}' is ready at {base}")
        self.stdout.write(f"  API docs:  {base}/api/docs/")
        self.stdout.write(f"  Quiz:      {base}/q/{quiz.public_id}/ (README: Embed the demo quiz)")
        self.stdout.write(f"  Try:       curl -H 'Authorization: Bearer {raw_key}' {base}/api/v1/purposes")
        owner = demo_owner_ensure(brand=brand)
        self.stdout.write(f"Console:     {base}/console/ (the demo brand's owner)")
        self.stdout.write(f"  email:     {owner.email}")
        self.stdout.write(f"  password:  {owner.password}")
        self.stdout.write(f"  2nd factor: add {owner.otpauth_uri} to an authenticator app,")
        self.stdout.write(f"             or use the recovery code {owner.recovery_code} (once)")
        self.stdout.write("Demo API key (admin scope):")
        self.stdout.write(raw_key)
