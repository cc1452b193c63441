from rest_framework import serializers

from audit.models import AuditEvent
from stoneage.api import FieldPlanMixin


class AuditEventSerializer(FieldPlanMixin, serializers.ModelSerializer):
    organization = serializers.CharField(source="organization_slug", read_only=True)
    actor = serializers.IntegerField(source="actor_id", read_only=True, allow_null=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "timestamp",
            "action",
            "organization",
            "actor",
            "actor_name",
            "request_id",
            "ip",
            "user_agent",
            "object_type",
            "object_id",
            "object_repr",
            "before",
            "after",
            "changed_fields",
            "extra",
            "chain",
            "sequence",
            "prev_hash",
            "hash",
            "key_id",
        ]
        read_only_fields = fields
