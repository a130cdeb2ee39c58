"""The database allows evidence rows only to be erased, and keeps checkpoints and purge records.

Evidence: an UPDATE must set `erased_at` on a row that had none and leave the personal fields
empty (`gpc` may stay or be cleared); anything else, and DELETE, is refused. Before this, setting
`erased_at` alone hid a forged IP from verify_ledger. Existing rows need no data migration: the
event hash has covered the evidence digest since the first version (consent.ledger), so only the
rule on what may change is new.

Ledger checkpoints and evidence purge records are append-only, with the ledger's own function
(consent/migrations/0002).
"""

from django.db import migrations

EVIDENCE = "consent_consentevidence"
APPEND_ONLY = ["consent_ledgercheckpoint", "consent_evidencepurge"]

_EVIDENCE_FUNCTION = """
CREATE OR REPLACE FUNCTION candor_evidence_erasure_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND (
        NEW IS NOT DISTINCT FROM OLD
        OR (
            OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL
            AND NEW.event_id = OLD.event_id
            AND NEW.salt = '' AND NEW.ip = '' AND NEW.user_agent = '' AND NEW.page_url = ''
            AND NEW.tc_string = '' AND NEW.gpp_string = ''
            AND (NEW.gpc IS NULL OR NEW.gpc IS NOT DISTINCT FROM OLD.gpc)
        )
    ) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'candor: % may only be erased (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;
"""


def install(apps, schema_editor):
    schema_editor.execute(_EVIDENCE_FUNCTION, params=None)
    schema_editor.execute(
        f"CREATE TRIGGER {EVIDENCE}_erasure_only BEFORE UPDATE OR DELETE ON {EVIDENCE} "
        "FOR EACH ROW EXECUTE FUNCTION candor_evidence_erasure_only();"
    )
    for table in APPEND_ONLY:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION candor_refuse_change();"
        )


def remove(apps, schema_editor):
    for table in APPEND_ONLY:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table};")
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {EVIDENCE}_erasure_only ON {EVIDENCE};")
    schema_editor.execute("DROP FUNCTION IF EXISTS candor_evidence_erasure_only();")


class Migration(migrations.Migration):
    dependencies = [("consent", "0005_ledger_checkpoint_evidence_purge")]
    operations = [migrations.RunPython(install, remove)]
