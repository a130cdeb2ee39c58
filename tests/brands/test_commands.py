from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from brands.models import ApiKey, Brand, hash_api_key
from consent.demo import demo_api_key
from consent.models import ConsentEvent, NoticeVersion, Purpose

ROOT = Path(__file__).resolve().parents[2]


def test_create_brand_is_idempotent(db):
    out = StringIO()
    call_command("create_brand", "shop", "--name", "Shop", stdout=out)
    call_command("create_brand", "shop", "--name", "Shop", stdout=out)
    assert out.getvalue().splitlines() == [
        "Created shop (Shop)",
        "Brand already exists: shop (Shop)",
    ]
    assert Brand.objects.filter(slug="shop").count() == 1


def test_create_brand_rejects_bad_slug(db):
    with pytest.raises(CommandError):
        call_command("create_brand", "Not A Slug", "--name", "x")
    assert not Brand.objects.exists()


def test_create_api_key_prints_the_key_alone_on_the_last_line(brand, client):
    out = StringIO()
    call_command("create_api_key", "--brand", "acme", "--scopes", "consent:read,consent:write", stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    stored = ApiKey.objects.get()
    assert stored.key_hash == hash_api_key(key)
    assert key.startswith(stored.prefix)
    assert key not in str(stored.__dict__)  # only the hash is stored
    assert client.get("/api/v1/purposes", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--brand", "nope", "--scopes", "consent:read"], "No brand"),
        (["--brand", "acme", "--scopes", "consent:read,root"], "Unknown or missing scopes"),
    ],
)
def test_create_api_key_errors(brand, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_api_key", *args)
    assert not ApiKey.objects.exists()


def test_seed_demo_is_idempotent_and_its_key_works(db, client):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=StringIO())
    key = out.getvalue().strip().splitlines()[-1]
    assert key == demo_api_key()
    assert Purpose.objects.filter(brand__slug="demo").count() == 5
    # Every purpose has its notice in each language of the hosted pages.
    for language in ("en", "de", "fr"):
        assert NoticeVersion.objects.filter(notice__brand__slug="demo", language=language).count() == 5
    assert list(
        Purpose.objects.filter(brand__slug="demo", sale_or_sharing=True).values_list("slug", flat=True)
    ) == ["ad-partners"]
    assert ApiKey.objects.count() == 1
    purposes = client.get("/api/v1/purposes", HTTP_AUTHORIZATION=f"Bearer {key}").json()
    assert {p["slug"] for p in purposes} == {
        "email-marketing",
        "sms-marketing",
        "personalisation",
        "ad-partners",
        "customer-updates",
    }
    preferences = client.get(
        "/api/v1/contacts/cust-42/preferences", HTTP_AUTHORIZATION=f"Bearer {key}"
    ).json()
    rows = {(row["topic"], row["channel"]): row for row in preferences["subscriptions"]}
    assert set(rows) == {
        ("newsletter", "email"),
        ("offers", "email"),
        ("offers", "sms"),
        ("restock-alerts", "sms"),
        ("restock-alerts", "email"),
        ("orders", "email"),
        ("orders", "sms"),
    }
    assert rows[("offers", "sms")]["cadence_options"] == ["immediate", "daily", "weekly"]
    # Nothing is pre-ticked for a contact who never consented; transactional mail is on.
    assert rows[("newsletter", "email")]["status"] == "not_set"
    assert rows[("orders", "email")]["status"] == "subscribed"


def test_the_demos_german_customer_was_granted_the_german_notice(db, client):
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())  # a second run grants nothing again

    events = list(
        ConsentEvent.objects.filter(contact__external_id="cust-43").select_related("notice_version")
    )
    assert [(e.purpose.slug, e.decision, e.method) for e in events] == [
        ("email-marketing", "granted", "import")
    ]
    version = events[0].notice_version
    assert (version.language, version.title) == ("de", "E-Mails von Demo Outfitters")
    auth = f"Bearer {demo_api_key()}"
    contact = client.get("/api/v1/contacts/cust-43", HTTP_AUTHORIZATION=auth).json()
    assert (contact["locale"], contact["email"]) == ("de", "grete@example.com")
    purposes = client.get("/api/v1/purposes", HTTP_AUTHORIZATION=auth).json()
    email = next(p for p in purposes if p["slug"] == "email-marketing")
    # What the tour picks for a German contact: the German entry of notice_versions.
    german = next(v for v in email["notice_versions"] if v["language"] == "de")
    assert german["id"] == version.public_id
    assert all({"en", "de", "fr"} <= {v["language"] for v in p["notice_versions"]} for p in purposes)


@pytest.mark.parametrize(
    "env",
    [
        {"DEBUG": "false"},
        {
            "DEBUG": "false",
            "SECRET_KEY": "dev-insecure-secret-key-change-me",
            "IDENTIFIER_PEPPER": "p" * 40,
        },
        {"DEBUG": "false", "SECRET_KEY": "s" * 40},
        {"DEBUG": "maybe"},
    ],
)
def test_production_refuses_development_secrets(env):
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "IDENTIFIER_PEPPER", "DEBUG")}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr


def test_production_starts_with_real_secrets():
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "s" * 40,
        "IDENTIFIER_PEPPER": "p" * 40,
        "DATABASE_URL": "postgres://candor@db.invalid/candor",  # `check` connects to nothing
        "CELERY_BROKER_URL": "redis://broker.invalid:6379/0",
        "EMAIL_URL": "smtp+tls://mail.invalid",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("DATABASE_URL", "DATABASE_URL must be set when DEBUG is false"),
        ("CELERY_BROKER_URL", "CELERY_BROKER_URL must be set when DEBUG is false"),
    ],
)
def test_production_refuses_to_start_without_its_servers(missing, message):
    """No embedded database or broker in production: a forgotten URL stops the process."""
    env = {k: v for k, v in os.environ.items() if k != missing}
    env |= {"DEBUG": "false", "SECRET_KEY": "s" * 40, "IDENTIFIER_PEPPER": "p" * 40}
    env |= {
        name: url
        for name, url in (
            ("DATABASE_URL", "postgres://candor@db.invalid/candor"),
            ("CELERY_BROKER_URL", "redis://broker.invalid:6379/0"),
        )
        if name != missing
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert message in result.stderr
