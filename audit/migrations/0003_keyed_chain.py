"""Key the audit chains: each event records the id of the key that chained it (see `audit.keys`).

Events written before this migration were chained with plain SHA-256 and keep verifying as such. So that no
chain stays unkeyed (a chain of plain SHA-256 links can be recomputed by anyone who can write to the
database), every existing chain gets a `key_start` event, chained with the first key of
`STONEAGE_AUDIT_KEYS` onto its last unkeyed hash: from there on, `verify_audit` accepts keyed links only.
"""

from django.db import migrations, models
from django.utils import timezone

from audit import keys
from audit.hashing import json_safe, keyed_hash

ACTION_CHOICES = [
    ("create", "Create"),
    ("update", "Update"),
    ("delete", "Delete"),
    ("bulk_create", "Bulk create"),
    ("bulk_update", "Bulk update"),
    ("bulk_delete", "Bulk delete"),
    ("login", "Login"),
    ("logout", "Logout"),
    ("login_failed", "Failed login"),
    ("token_rejected", "API token rejected"),
    ("api_request", "API request"),
    ("credential_read", "Credential read"),
    ("checkpoint", "Retention checkpoint"),
    ("key_start", "Audit key start"),
]


def start_keyed_chains(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    AuditChainHead = apps.get_model("audit", "AuditChainHead")
    db = schema_editor.connection.alias
    heads = AuditChainHead.objects.using(db).select_for_update().filter(sequence__gt=0).order_by("chain")
    key = None  # loaded only when there is a chain to key: a new installation needs none yet
    for head in heads:
        last = AuditEvent.objects.using(db).filter(chain=head.chain, sequence=head.sequence).first()
        if last is not None and last.key_id:
            continue
        key = key or keys.signing_key()
        event = AuditEvent(
            timestamp=timezone.now(),
            organization_id=last.organization_id if last else None,
            organization_slug=last.organization_slug if last else "",
            actor_name="system:migrate",
            action="key_start",
            extra=json_safe({"unkeyed_through_sequence": head.sequence}),
            chain=head.chain,
            sequence=head.sequence + 1,
            prev_hash=head.hash,
            key_id=key.id,
        )
        event.hash = keyed_hash(event.prev_hash, event, key.secret)
        event.save(using=db, force_insert=True)
        AuditChainHead.objects.using(db).filter(chain=head.chain).update(sequence=event.sequence, hash=event.hash)


def refuse_with_keyed_events(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    if AuditEvent.objects.using(schema_editor.connection.alias).exclude(key_id="").exists():
        raise RuntimeError(
            "The audit log holds keyed events, which the audit log before migration 0003 cannot verify; "
            "unapplying it would leave chains that fail verification."
        )


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(
                blank=True,
                default="",
                help_text="Id of the key that chained the event; empty for events from before the log was keyed.",
                max_length=8,
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(choices=ACTION_CHOICES, max_length=20),
        ),
        migrations.RunPython(start_keyed_chains, refuse_with_keyed_events, elidable=False),
    ]
