"""Evidence gains the double opt-in proof (compliance #9). Its IP and user agent are personal:
the erasure-only trigger now demands them empty too, and the proof's non-personal part
(`opt_in_request`) must stay as it was. Written out, as a migration must not follow later code."""

from django.db import migrations, models

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
            AND NEW.opt_in_request_ip = '' AND NEW.opt_in_request_user_agent = ''
            AND NEW.opt_in_request::text IS NOT DISTINCT FROM OLD.opt_in_request::text
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

_BEFORE = _EVIDENCE_FUNCTION.replace(
    "            AND NEW.opt_in_request_ip = '' AND NEW.opt_in_request_user_agent = ''\n"
    "            AND NEW.opt_in_request::text IS NOT DISTINCT FROM OLD.opt_in_request::text\n",
    "",
)


class Migration(migrations.Migration):
    dependencies = [
        ("consent", "0010_expired_decision_and_expiry_method"),
    ]

    operations = [
        migrations.AddField(
            model_name="consentevidence",
            name="opt_in_request",
            field=models.JSONField(
                blank=True,
                help_text="requested_at and confirmation_email {template, language, digest, sent_at}",
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="consentevidence",
            name="opt_in_request_ip",
            field=models.CharField(
                blank=True, help_text="The sign-up request's IP, truncated like `ip`", max_length=45
            ),
        ),
        migrations.AddField(
            model_name="consentevidence",
            name="opt_in_request_user_agent",
            field=models.CharField(blank=True, max_length=512),
        ),
        migrations.RunSQL(_EVIDENCE_FUNCTION, _BEFORE),
    ]
