"""HTTP tokens of a thing (`things/<id>/http-tokens/`): bearer tokens for devices that cannot sign their requests to
the HTTP gateway (`inventory.devices.gateway`). Owners and admins issue them (the token is in the answer to the
create, and never again), list them and revoke them (`revoke/` or DELETE); auditors read them."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from inventory.api.views import THING_PARAMETER, InventoryViewSet
from inventory.devices import gateway_auth
from inventory.models import DeviceToken, Thing
from tenancy.roles import AUDIT_READERS


class DeviceTokenSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True, help_text="active, expired or revoked.")
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)

    class Meta:
        model = DeviceToken
        fields = [
            "id",
            "thing",
            "name",
            "prefix",
            "status",
            "expires_at",
            "revoked_at",
            "last_used_at",
            "created_by",
            "created",
        ]
        read_only_fields = ["thing"]


class NewDeviceTokenSerializer(DeviceTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The token, shown this once: give it to the device.")

    class Meta(DeviceTokenSerializer.Meta):
        fields = [*DeviceTokenSerializer.Meta.fields, "token"]


@extend_schema_view(
    **{name: extend_schema(parameters=[THING_PARAMETER]) for name in ("list", "create", "retrieve", "destroy")}
)
class DeviceTokenViewSet(InventoryViewSet):
    http_method_names = ["get", "post", "delete", "head", "options"]
    queryset = DeviceToken.objects.select_related("created_by")
    serializer_class = DeviceTokenSerializer
    read_roles = AUDIT_READERS
    ordering_fields = ["created", "expires_at"]

    def thing(self) -> Thing:
        if not hasattr(self, "_thing"):
            self._thing = get_object_or_404(
                Thing.objects.for_organization(self.organization), pk=self.kwargs["thing_id"]
            )
        return self._thing

    def get_queryset(self):
        queryset = super().get_queryset()
        if getattr(self, "swagger_fake_view", False) or self.organization is None:
            return queryset
        return queryset.filter(thing=self.thing())

    @extend_schema(responses={201: NewDeviceTokenSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            token, secret = gateway_auth.issue_token(
                self.thing(), created_by=request.user, name=data.get("name", ""), expires_at=data.get("expires_at")
            )
        except DjangoValidationError as exc:
            raise ValidationError(getattr(exc, "message_dict", None) or {"detail": exc.messages}) from None
        token.token = secret
        return Response(NewDeviceTokenSerializer(token, context=self.get_serializer_context()).data, status=201)

    def destroy(self, request, *args, **kwargs):
        gateway_auth.revoke_token(self.get_object())
        return Response(status=204)

    @extend_schema(request=None, parameters=[THING_PARAMETER], responses=DeviceTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, *args, **kwargs):
        """Revoke the token: the device's next request with it is refused."""
        return Response(self.get_serializer(gateway_auth.revoke_token(self.get_object())).data)
