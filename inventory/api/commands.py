"""Commands API under `/api/v1/orgs/<slug>/`: `things/<id>/commands/` (a thing's commands; POST sends one) and
`commands/` (every command of the organization, filtered by status, thing, operation and date).

Everyone in the organization reads commands. Owners and admins send them; members too for operations that allow
it (`members_may_command`). A command is answered asynchronously: the POST answers 202 with the command
`queued`, and its status moves to `sent`, then `acknowledged` (with the thing's `reply`), `failed`, `timed_out`
or, for a command waiting for an offline thing, `expired`.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from inventory import filtersets
from inventory.models import Command, Thing
from inventory.services import commands as svc
from stoneage.api import BigListMixin
from tenancy.api.base import OrgScopedViewSet
from tenancy.roles import ALL_ROLES, EDITORS


class CommandSerializer(serializers.ModelSerializer):
    thing_code = serializers.CharField(source="thing.code", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Command
        fields = [
            "id",
            "thing",
            "thing_code",
            "operation",
            "operation_name",
            "subject",
            "payload",
            "status",
            "reply",
            "error",
            "requested_by",
            "ttl",
            "expires_at",
            "created",
            "sent_at",
            "answered_at",
        ]
        read_only_fields = fields


class SendCommandSerializer(serializers.Serializer):
    operation = serializers.CharField(
        max_length=64, help_text="The command: the id or the name of one of the type's reply operations."
    )
    payload = serializers.JSONField(required=False, allow_null=True, default=None)
    ttl = serializers.IntegerField(
        required=False,
        min_value=0,
        max_value=2**31 - 1,
        help_text="Seconds it may wait for an offline thing (at most the operation's command TTL, its default).",
    )


class CommandListMixin(BigListMixin):
    queryset = Command.objects.select_related("requested_by", "thing")
    serializer_class = CommandSerializer
    filterset_class = filtersets.CommandFilterSet
    ordering_fields = ["created"]
    http_method_names = ["get", "head", "options"]
    read_roles = ALL_ROLES


THING_PARAMETER = OpenApiParameter("thing_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The thing.")


@extend_schema_view(
    list=extend_schema(parameters=[THING_PARAMETER]),
    retrieve=extend_schema(parameters=[THING_PARAMETER]),
    create=extend_schema(
        parameters=[THING_PARAMETER], request=SendCommandSerializer, responses={202: CommandSerializer}
    ),
)
class ThingCommandViewSet(CommandListMixin, OrgScopedViewSet):
    """A thing's commands, newest first; POST sends one (202: its delivery follows)."""

    http_method_names = ["get", "post", "head", "options"]
    write_roles = EDITORS

    def thing(self) -> Thing:
        if not hasattr(self, "_thing"):
            things = Thing.objects.for_organization(self.organization).select_related(
                "organization", "location", "thing_type"
            )
            self._thing = get_object_or_404(things, pk=self.kwargs["thing_id"])
        return self._thing

    def get_queryset(self):
        queryset = super().get_queryset()
        if getattr(self, "swagger_fake_view", False) or self.organization is None:
            return queryset
        return queryset.filter(thing=self.thing())

    def create(self, request, *args, **kwargs):
        thing = self.thing()
        data = SendCommandSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        wanted = data.validated_data["operation"]
        operations = svc.command_operations(thing.thing_type)
        operation = next((op for op in operations if str(op.pk) == wanted or op.name == wanted), None)
        if operation is None:
            names = ", ".join(op.name for op in operations) or "none"
            raise ValidationError({"operation": [f"Not a command of this thing's type (its commands: {names})."]})
        if not svc.may_command(self.role, operation):
            raise PermissionDenied("Only owners and admins send this command.")
        try:
            command = svc.send_command(
                thing,
                operation,
                data.validated_data["payload"],
                ttl=data.validated_data.get("ttl"),
                requested_by=request.user,
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages) from None
        return Response(CommandSerializer(command).data, status=status.HTTP_202_ACCEPTED)


class CommandViewSet(CommandListMixin, OrgScopedViewSet):
    """Every command of the organization, newest first; filter by `status` (repeatable), `thing`, `operation`,
    `created_after`, `created_before`."""
