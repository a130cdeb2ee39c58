"""apply_brand_config and export_brand_config: a brand's whole configuration from a file, applied
through the services in one transaction, safe to run again, and written back out unchanged."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import CommandError, call_command

from brands.models import Brand
from consent.models import NoticeVersion, Purpose
from preferences.brand_config import brand_config_export
from preferences.demo import seed_demo
from preferences.models import Topic

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "examples" / "acme.yaml"


def apply(*args: str) -> str:
    out = StringIO()
    call_command("apply_brand_config", *args, stdout=out)
    return out.getvalue()


def state(slug: str = "acme") -> dict:
    """Every configuration row of the brand, to compare before and after."""
    brand = Brand.objects.get(slug=slug)
    return {
        "brand": Brand.objects.filter(pk=brand.pk).values().get(),
        "purposes": list(Purpose.objects.filter(brand=brand).order_by("slug").values()),
        "versions": list(
            NoticeVersion.objects.filter(notice__brand=brand)
            .order_by("pk")
            .values("public_id", "content_hash")
        ),
        "topics": list(Topic.objects.filter(brand=brand).order_by("slug").values()),
    }


def write(tmp_path: Path, document: dict, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document) if name.endswith(".json") else yaml.safe_dump(document))
    return path


def test_the_example_sets_up_a_new_brand_and_a_second_run_changes_nothing(brand):
    first = apply("--brand", "acme", str(EXAMPLE))
    assert first.splitlines() == [
        "Applied the configuration of brand 'acme':",
        "  created: 4",
        "    purpose email-marketing",
        "    topic news",
        "    topic offers",
        "    topic orders",
        "  updated: 1",
        "    theme (name, primary_colour, logo_url, typeface, privacy_policy_url, contact_email, "
        "address, website, embed_origins)",
        "  unchanged: 0",
        "  new notice versions: 3",
        "    email-marketing en v1",
        "    email-marketing de v1",
        "    email-marketing fr v1",
        "  deleted: 0",
        "  not in the file, kept: 0",
    ]
    brand.refresh_from_db()
    assert (brand.name, brand.primary_colour, brand.typeface) == ("Acme Outdoor", "#0b6e4f", "humanist")
    purpose = Purpose.objects.get(brand=brand)
    assert (purpose.dpv_purpose, purpose.personal_data) == (
        "dpv:DirectMarketing",
        ["pd:EmailAddress", "pd:Preference"],
    )
    assert sorted(NoticeVersion.objects.values_list("language", "version")) == [
        ("de", 1),
        ("en", 1),
        ("fr", 1),
    ]
    offers = Topic.objects.get(slug="offers")
    assert (offers.purpose, offers.cadence_options, offers.double_opt_in) == (
        purpose,
        ["immediate", "weekly"],
        True,
    )
    assert Topic.objects.get(slug="orders").purpose is None
    before = state()

    second = apply("--brand", "acme", str(EXAMPLE))
    assert second.splitlines()[-1] == "Nothing changed."
    assert "  new notice versions: 0" in second.splitlines()
    assert "  unchanged: 5" in second.splitlines()
    assert state() == before


def test_a_changed_notice_text_publishes_one_new_version(brand, tmp_path):
    document = yaml.safe_load(EXAMPLE.read_text())
    apply("--brand", "acme", str(EXAMPLE))
    document["purposes"][0]["notices"]["de"]["text"] = "Neuer Text."
    out = apply("--brand", "acme", str(write(tmp_path, document)))
    assert "    email-marketing de v2" in out.splitlines()
    assert "  new notice versions: 1" in out.splitlines()
    assert NoticeVersion.objects.filter(language="de").count() == 2
    assert NoticeVersion.objects.count() == 4


def test_json_works_as_yaml_does(brand, tmp_path):
    document = yaml.safe_load(EXAMPLE.read_text())
    apply("--brand", "acme", str(write(tmp_path, document, "acme.json")))
    assert Topic.objects.filter(brand=brand).count() == 3


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d["purposes"][0]["notices"]["de"].update(text=""), "purposes[0].notices.de.text"),
        (
            lambda d: d["purposes"][0]["notices"].update(es={"title": "T", "text": "x"}),
            "purposes[0].notices.es",
        ),
        (
            lambda d: d["topics"][1].update(purpose="nope"),
            "topics[1].purpose: No purpose 'nope' in the file or the brand.",
        ),
        (lambda d: d["topics"][2].update(cadence_options=["hourly"]), "topics[2].cadence_options[0]"),
        (lambda d: d["topics"][1].update(slug="news"), "topics[1].slug: 'news' appears more than once."),
        (
            lambda d: d["theme"].update(primary_colour="green"),
            "theme.primary_colour: Use a colour such as #1f5f8b.",
        ),
        (
            lambda d: d["topics"][2].pop("transactional"),
            "topics[2].purpose: Only a transactional topic may go without a purpose.",
        ),
        (lambda d: d["purposes"][0].pop("name"), "purposes[0].name: Give the name of a new purpose."),
        (lambda d: d.update(colours=1), "colours: Unknown field."),
    ],
)
def test_an_invalid_file_names_the_path_and_changes_nothing(brand, tmp_path, change, expected):
    document = yaml.safe_load(EXAMPLE.read_text())
    change(document)
    before = state()
    with pytest.raises(CommandError) as raised:
        apply("--brand", "acme", str(write(tmp_path, document)))
    message = str(raised.value)
    assert message.startswith("The configuration is not valid; see errors. Nothing was changed.")
    assert expected in message
    assert state() == before


def test_a_late_refusal_rolls_back_what_came_before(brand, tmp_path):
    """The theme and the purpose are valid and applied first; a topic's service refusal (after
    them) undoes them too."""
    document = yaml.safe_load(EXAMPLE.read_text())
    document["topics"][0]["sms_purpose"] = "email-marketing"  # not offered by SMS: the model refuses
    before = state()
    with pytest.raises(
        CommandError, match=r"topics\[0\]\.sms_purpose: Only a marketing topic offered by SMS"
    ):
        apply("--brand", "acme", str(write(tmp_path, document)))
    assert state() == before


def test_topics_missing_from_the_file_are_reported_and_pruned_only_when_asked(brand, tmp_path):
    apply("--brand", "acme", str(EXAMPLE))
    document = yaml.safe_load(EXAMPLE.read_text())
    document["topics"] = [topic for topic in document["topics"] if topic["slug"] != "offers"]
    path = write(tmp_path, document)

    kept = apply("--brand", "acme", str(path))
    assert kept.splitlines()[-3:] == ["  not in the file, kept: 1", "    topic offers", "Nothing changed."]
    assert Topic.objects.filter(slug="offers").exists()

    pruned = apply("--brand", "acme", str(path), "--prune")
    assert "  deleted: 1" in pruned.splitlines()
    assert "    topic offers" in pruned.splitlines()
    assert not Topic.objects.filter(slug="offers").exists()


def test_dry_run_reports_and_changes_nothing(brand):
    before = state()
    out = StringIO()
    call_command("apply_brand_config", "--brand", "acme", str(EXAMPLE), "--dry-run", stdout=out)
    assert out.getvalue().splitlines()[:2] == [
        "Would apply the configuration of brand 'acme':",
        "  created: 4",
    ]
    assert state() == before


def test_a_missing_brand_is_created_only_when_asked(db, tmp_path):
    with pytest.raises(CommandError, match="No brand 'acme': create it with `create_brand acme --name NAME`"):
        apply("--brand", "acme", str(EXAMPLE))
    assert not Brand.objects.filter(slug="acme").exists()
    out = apply("--brand", "acme", str(EXAMPLE), "--create")
    assert out.splitlines()[0] == "Applied the configuration of brand 'acme' (brand created):"
    assert Brand.objects.get(slug="acme").name == "Acme Outdoor"


def test_an_invalid_file_with_create_creates_no_brand(db, tmp_path):
    document = yaml.safe_load(EXAMPLE.read_text())
    document["topics"][0]["channels"] = ["fax"]
    with pytest.raises(CommandError, match=r"topics\[0\]\.channels\[0\]"):
        apply("--brand", "acme", str(write(tmp_path, document)), "--create")
    assert not Brand.objects.filter(slug="acme").exists()


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("config.toml", "", "use a .yaml, .yml or .json file"),
        ("config.yaml", "theme: [unclosed", "not valid YAML"),
        ("config.json", "{", "not valid JSON"),
        ("config.yaml", "- a list", "The file must hold a mapping"),
        ("config.yaml", "!!python/object:os.system {}", "not valid YAML"),
    ],
)
def test_unreadable_files_are_refused(brand, tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(CommandError, match=message):
        apply("--brand", "acme", str(path))


def test_export_then_apply_is_a_no_op_on_the_demo_brand(db, tmp_path):
    seed_demo()
    out = StringIO()
    call_command("export_brand_config", "--brand", "demo", stdout=out)
    exported = out.getvalue()
    assert yaml.safe_load(exported) == brand_config_export(brand=Brand.objects.get(slug="demo"))
    before = state("demo")

    path = tmp_path / "demo.yaml"
    path.write_text(exported)
    result = apply("--brand", "demo", str(path))
    assert result.splitlines()[-1] == "Nothing changed."
    assert state("demo") == before

    as_json = StringIO()
    call_command("export_brand_config", "--brand", "demo", "--format", "json", stdout=as_json)
    assert json.loads(as_json.getvalue()) == yaml.safe_load(exported)


def test_export_of_the_example_gives_back_what_was_applied(brand):
    apply("--brand", "acme", str(EXAMPLE))
    exported = brand_config_export(brand=brand)
    document = yaml.safe_load(EXAMPLE.read_text())
    assert exported["theme"] == {**document["theme"]}
    purpose = exported["purposes"][0]
    assert purpose["notices"] == document["purposes"][0]["notices"]
    assert [topic["slug"] for topic in exported["topics"]] == ["news", "offers", "orders"]
    assert exported["topics"][2]["purpose"] is None
