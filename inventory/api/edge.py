"""Leaf nodes in the API (`/api/v1/orgs/<slug>/leaf-nodes/`): everyone in the organization reads them; owners and
admins create, change, deactivate, reactivate and delete them. Creating one provisions its NATS users; its code is
frozen; its credentials reach it only through its own bootstrap (`inventory.devices.leaf`)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from credentials.models import Host
from inventory.api.views import InventoryViewSet
from inventory.models import LeafNode, Location
from inventory.services import edge
from tenancy.api.base import OrgScopedRelatedField
from tenancy.roles import MANAGERS


class LeafNodeSerializer(serializers.ModelSerializer):
    location = OrgScopedRelatedField(queryset=Location.objects.all(), required=False, allow_null=True)
    nebula_host = OrgScopedRelatedField(
        queryset=Host.objects.all(),
        required=False,
        allow_null=True,
        help_text="A Nebula host of the organization: the leaf then reaches the hub over the overlay.",
    )
    online = serializers.BooleanField(read_only=True, help_text="Reported within 3 report intervals.")

    class Meta:
        model = LeafNode
        fields = [
            "id",
            "code",
            "name",
            "description",
            "domain",
            "location",
            "synced",
            "nebula_host",
            "report_interval",
            "active",
            "nats_user",
            "online",
            "last_seen_at",
            "last_status",
            "created",
            "updated",
        ]
        read_only_fields = ["id", "active", "nats_user", "online", "last_seen_at", "last_status", "created", "updated"]
        validators = []  # the model checks code and domain are free in the organization (`LeafNode.clean`)


def _refused(exc: DjangoValidationError) -> ValidationError:
    return ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages})


class LeafNodeViewSet(InventoryViewSet):
    """Leaf nodes (edge sites). Create one and it gets its NATS users (role `leaf-node`); the leaf fetches its
    credentials and `nats-leaf.conf` itself from `/api/v1/leaf/bootstrap/` with its own key. `code` is frozen;
    `deactivate` revokes its credentials (the hub drops it), `reactivate` gives it new ones."""

    queryset = LeafNode.objects.select_related("location", "nebula_host")
    serializer_class = LeafNodeSerializer
    search_fields = ["code", "name", "domain"]
    ordering_fields = ["code", "name", "last_seen_at", "created", "updated"]
    filterset_fields = ["active", "location"]
    write_roles = MANAGERS

    def perform_create(self, serializer):
        try:
            serializer.instance = edge.create_leaf_node(organization=self.organization, **serializer.validated_data)
        except DjangoValidationError as exc:
            raise _refused(exc) from None

    def perform_update(self, serializer):
        try:
            serializer.instance = edge.update_leaf_node(serializer.instance, **serializer.validated_data)
        except DjangoValidationError as exc:
            raise _refused(exc) from None

    def perform_destroy(self, instance):
        edge.delete_leaf_node(instance)

    def _act(self, change) -> Response:
        leaf = change(self.get_object())
        return Response(self.get_serializer(LeafNode.objects.get(pk=leaf.pk)).data)

    @extend_schema(request=None, responses=LeafNodeSerializer)
    @action(detail=True, methods=["post"])
    def deactivate(self, request, org_slug=None, pk=None):
        """Revoke the leaf's credentials: the hub drops its leaf connections."""
        return self._act(edge.deactivate_leaf_node)

    @extend_schema(request=None, responses=LeafNodeSerializer)
    @action(detail=True, methods=["post"])
    def reactivate(self, request, org_slug=None, pk=None):
        """New credentials for the leaf (the old ones stay revoked); it fetches its bootstrap again."""
        return self._act(edge.reactivate_leaf_node)
