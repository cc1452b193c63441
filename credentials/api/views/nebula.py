"""Nebula API under `/api/v1/orgs/<slug>/nebula/`: the organization's CA, its networks and hosts.

Who may do what:

- CAs: everyone in the organization reads them and downloads `ca.crt` (public material). Only platform
  operators rotate a CA.
- Networks: everyone reads them (names and address ranges); owners and admins manage them.
- Hosts: owners and admins manage them; auditors read them (never a config). A host's config carries its
  private key when we generated it, so only owners and admins download it, and every download is audited.
"""

from __future__ import annotations

from django.db.models import Count
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from credentials.api.serializers.nebula import (
    CertificateAuthoritySerializer,
    HostSerializer,
    NetworkSerializer,
    ReactivateSerializer,
    RotationResultSerializer,
    RotationSerializer,
)
from credentials.downloads.nebula import CONFIG_CONTENT_TYPE, config_response, text_download
from credentials.filtersets.nebula import HostFilterSet, NetworkFilterSet
from credentials.models import CertificateAuthority, Host, Network
from credentials.services import nebula as svc
from stoneage.api import BigListMixin
from tenancy.api.base import OrgScopedViewSet, is_platform_operator
from tenancy.roles import ALL_ROLES, MANAGERS, Role

#: Read host rows (certificates, addresses, firewall rules); configs stay with MANAGERS.
HOST_READERS = MANAGERS | {Role.AUDITOR}
PEM_CONTENT_TYPE = "application/x-pem-file"
YAML_CONTENT_TYPE = CONFIG_CONTENT_TYPE


class _TextRenderer(BaseRenderer):
    """Lets clients ask for a text download's media type; errors are rendered as their message."""

    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if isinstance(data, dict) and set(data) == {"detail"}:
            data = data["detail"]
        return str(data).encode(self.charset)


class PemRenderer(_TextRenderer):
    media_type = PEM_CONTENT_TYPE
    format = "pem"


class YamlRenderer(_TextRenderer):
    media_type = YAML_CONTENT_TYPE
    format = "yaml"


# --- Certificate authorities --------------------------------------------------------------------------------------


class CertificateAuthorityViewSet(OrgScopedViewSet):
    """The organization's Nebula certificate authority (read-only; platform operators rotate it)."""

    queryset = CertificateAuthority.objects.all()
    serializer_class = CertificateAuthoritySerializer
    read_roles = ALL_ROLES
    # Rotation is checked in the action: only platform operators, who act as owners everywhere.
    action_roles = {"rotate": ALL_ROLES}
    filterset_fields = ["version", "rotation_phase"]
    ordering_fields = ["created", "not_after"]

    @extend_schema(
        operation_id="v1_orgs_nebula_cas_ca_crt_retrieve",
        responses={(200, PEM_CONTENT_TYPE): OpenApiResponse(OpenApiTypes.STR, description="The CA bundle (PEM).")},
    )
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, PemRenderer])
    def ca_crt(self, request, org_slug=None, pk=None):
        """The CA certificates hosts must trust now, as `pki.ca` carries them (two during a rotation)."""
        ca = self.get_object()
        return text_download(ca.bundle, PEM_CONTENT_TYPE, "ca.crt", private=False)

    @extend_schema(request=RotationSerializer, responses=RotationResultSerializer)
    @action(detail=True, methods=["post"])
    def rotate(self, request, org_slug=None, pk=None):
        """Three-phase rotation: `prepare` (trust old and new), `commit` (re-sign active hosts with the new CA),
        `finish` (drop the old one). Hosts need their new config between phases."""
        if not is_platform_operator(request):
            raise PermissionDenied("Only platform operators rotate a certificate authority.")
        ca = self.get_object()
        serializer = RotationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = svc.rotate_ca(ca, serializer.validated_data["phase"], version=serializer.validated_data.get("version"))
        return Response(
            RotationResultSerializer(
                {"phase": result.phase, "hosts_resigned": result.hosts_resigned, "ca": result.ca},
                context=self.get_serializer_context(),
            ).data
        )


# --- Networks -----------------------------------------------------------------------------------------------------


class NetworkViewSet(OrgScopedViewSet):
    """Nebula networks (IPv4 ranges) of the organization's CA."""

    queryset = Network.objects.select_related("ca").annotate(host_count=Count("hosts"))
    serializer_class = NetworkSerializer
    filterset_class = NetworkFilterSet
    search_fields = ["name", "description", "cidr"]
    ordering_fields = ["name", "cidr", "created"]
    read_roles = ALL_ROLES

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = svc.create_network(organization=self.organization, **data)
        serializer.instance.host_count = 0

    def perform_update(self, serializer):
        network = svc.update_network(serializer.instance, **serializer.validated_data)
        network.host_count = network.hosts.count()
        serializer.instance = network

    def perform_destroy(self, instance):
        svc.delete_network(instance)


# --- Hosts --------------------------------------------------------------------------------------------------------


HOST_CONFIG_RESPONSE = {
    (200, YAML_CONTENT_TYPE): OpenApiResponse(OpenApiTypes.STR, description="The host's Nebula config (YAML).")
}


class HostViewSet(BigListMixin, OrgScopedViewSet):
    """Nebula hosts. Create one with a device's public key (the device keeps its private key) or without (we
    generate the key pair and deliver the private key in the config). The list pages with cursors."""

    queryset = Host.objects.select_related("network")
    serializer_class = HostSerializer
    filterset_class = HostFilterSet
    search_fields = ["hostname", "overlay_ip", "fingerprint"]
    ordering_fields = ["hostname", "overlay_ip", "not_after", "created"]
    read_roles = HOST_READERS
    action_roles = {"config": MANAGERS}

    def shape_list(self, queryset):
        # The list shows the network's id only, and never the private key.
        return queryset.select_related(None).defer("private_key")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        serializer.instance = svc.create_host(organization=self.organization, **data)

    def perform_update(self, serializer):
        serializer.instance = svc.update_host(serializer.instance, **serializer.validated_data)

    @extend_schema(responses=HOST_CONFIG_RESPONSE)
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, YamlRenderer])
    def config(self, request, org_slug=None, pk=None):
        """The host's Nebula config, rendered now (current CA bundle, blocklist, lighthouses, relays). It holds
        the private key of a generated key pair; the download is recorded in the audit log."""
        return config_response(request, self.get_object())

    def _host_action(self, change) -> Response:
        host = change(self.get_object())
        return Response(self.get_serializer(host).data)

    @extend_schema(request=None, responses=HostSerializer)
    @action(detail=True, methods=["post"])
    def renew(self, request, org_slug=None, pk=None):
        """A fresh certificate for the same identity and key."""
        return self._host_action(svc.renew_host)

    @extend_schema(request=None, responses=HostSerializer)
    @action(detail=True, methods=["post"])
    def deactivate(self, request, org_slug=None, pk=None):
        """Revoke the host's certificate: it joins the blocklist of every host of the CA."""
        return self._host_action(svc.deactivate_host)

    @extend_schema(request=ReactivateSerializer, responses=HostSerializer)
    @action(detail=True, methods=["post"])
    def reactivate(self, request, org_slug=None, pk=None):
        """Issue a new certificate; the revoked one stays blocked until it expires. A key pair generated here is
        replaced as well unless `rekey` is false."""
        serializer = ReactivateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rekey = serializer.validated_data["rekey"]
        return self._host_action(lambda host: svc.reactivate_host(host, rekey=rekey))

    @extend_schema(request=None, responses=HostSerializer)
    @action(detail=True, methods=["post"])
    def rekey(self, request, org_slug=None, pk=None):
        """A new key pair and certificate for a host whose key pair was generated here; the old certificate
        joins the blocklist. Download the config again: it carries the new private key. A device-held key is
        refused (400): only the device can make a new key pair."""
        return self._host_action(svc.rekey_host)
