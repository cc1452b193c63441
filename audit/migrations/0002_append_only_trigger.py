"""On PostgreSQL, the database itself refuses to change or delete audit events.

The one UPDATE allowed sets `organization_id` and/or `actor_id` to NULL and changes nothing else: that is
ON DELETE SET NULL when an organization or user is deleted (neither column is hashed). DELETE is allowed
only in a transaction that ran `SET LOCAL stoneage.audit_prune = 'on'`, which only `manage.py prune_audit`
does, and it leaves a checkpoint event behind. On other databases the model's Python guards apply.
"""

from django.db import migrations

INSTALL = """
CREATE OR REPLACE FUNCTION audit_auditevent_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('stoneage.audit_prune', true) = 'on' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE'
       AND (to_jsonb(NEW) - 'organization_id' - 'actor_id') = (to_jsonb(OLD) - 'organization_id' - 'actor_id')
       AND (NEW.organization_id IS NULL OR NEW.organization_id = OLD.organization_id)
       AND (NEW.actor_id IS NULL OR NEW.actor_id = OLD.actor_id) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % of event % refused', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_auditevent_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_auditevent_append_only();
"""

REMOVE = """
DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_auditevent_append_only();
"""


def _run(schema_editor, sql):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(sql)  # no parameters: the `%` in RAISE are PL/pgSQL's, not placeholders


def install(apps, schema_editor):
    _run(schema_editor, INSTALL)


def remove(apps, schema_editor):
    _run(schema_editor, REMOVE)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(install, remove, elidable=False)]
