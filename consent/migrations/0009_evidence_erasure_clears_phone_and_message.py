"""Evidence gained `phone` and `message` (texts' own consent, alongside the erasure-only trigger):
erasure must clear them too, so the trigger's rule now names every personal field, the list
in ConsentEvidence.ERASED_VALUES. Written out here, as a migration must not follow later code."""

from django.db import migrations

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
            AND NEW.phone = '' AND NEW.message IS NULL
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

_BEFORE = _EVIDENCE_FUNCTION.replace("            AND NEW.phone = '' AND NEW.message IS NULL\n", "")


class Migration(migrations.Migration):
    dependencies = [("consent", "0008_rightsrequest_via_sms")]
    operations = [migrations.RunSQL(_EVIDENCE_FUNCTION, _BEFORE)]
