"""On PostgreSQL, trigram indexes for the audit log's `search` (AuditEventViewSet.search_fields; see
stoneage.search_indexes). The log's order is served by `audit_event_org_time` (and the timestamp index)."""

from django.db import migrations

from stoneage.search_indexes import trigram_indexes


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_keyed_chain"),
    ]

    operations = [
        trigram_indexes(
            "audit_auditevent",
            {
                "audit_event_search_object_id": '"object_id"::text',
                "audit_event_search_object_repr": '"object_repr"::text',
                "audit_event_search_actor_name": '"actor_name"::text',
                "audit_event_search_request_id": '"request_id"::text',
                "audit_event_search_extra_path": "(\"extra\" ->> 'path')",
            },
        ),
    ]
