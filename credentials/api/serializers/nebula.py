"""Serializers of the Nebula API. Private keys are never serialized; a host's generated key only leaves in its
config, through the audited download."""

from __future__ import annotations

from rest_framework import serializers

from credentials.models import CertificateAuthority, Host, Network
from credentials.services import nebula as svc
from stoneage.api import FieldPlanMixin
from tenancy.api.base import OrgScopedRelatedField


class CertificateAuthoritySerializer(serializers.ModelSerializer):
    bundle = serializers.CharField(
        read_only=True, help_text="The CA certificates hosts trust now (two while rotating)."
    )

    class Meta:
        model = CertificateAuthority
        fields = [
            "id",
            "name",
            "version",
            "fingerprint",
            "not_before",
            "not_after",
            "certificate",
            "bundle",
            "rotation_phase",
            "next_certificate",
            "previous_certificate",
            "rotated_at",
            "created",
        ]
        read_only_fields = fields


class RotationSerializer(serializers.Serializer):
    phase = serializers.ChoiceField(choices=svc.RotationPhase.ALL)
    version = serializers.ChoiceField(
        choices=CertificateAuthority.Version.choices,
        required=False,
        help_text="Certificate version of the next CA (prepare only); defaults to the current one.",
    )


class RotationResultSerializer(serializers.Serializer):
    phase = serializers.CharField()
    hosts_resigned = serializers.IntegerField()
    ca = CertificateAuthoritySerializer()


class NetworkSerializer(serializers.ModelSerializer):
    ca = OrgScopedRelatedField(
        queryset=CertificateAuthority.objects.all(),
        required=False,
        help_text="The organization's CA when omitted; cannot change later.",
    )
    host_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Network
        fields = ["id", "name", "description", "cidr", "ca", "host_count", "created", "updated"]
        read_only_fields = ["id", "host_count", "created", "updated"]
        # Uniqueness per CA is checked by the model (the CA may be implicit here).
        validators = []


class HostSerializer(FieldPlanMixin, serializers.ModelSerializer):
    network = OrgScopedRelatedField(queryset=Network.objects.all(), help_text="Cannot change later.")
    overlay_ip = serializers.IPAddressField(
        protocol="IPv4", required=False, allow_null=True, help_text="The next free address of the network when omitted."
    )
    public_key = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text=(
            "On create: the device's X25519 public key (`nebula-cert keygen` .pub PEM, base64 or hex); the device "
            "keeps its private key and the config references `key_path`. Omit it to have a key pair generated "
            "(delivered in the config). Read: the host's public key, hex."
        ),
    )
    firewall_inbound = serializers.JSONField(required=False, allow_null=True)
    firewall_outbound = serializers.JSONField(required=False, allow_null=True)

    class Meta:
        model = Host
        fields = [
            "id",
            "network",
            *svc.UPDATABLE_FIELDS,
            "key_source",
            "public_key",
            "certificate",
            "fingerprint",
            "issuer_fingerprint",
            "not_before",
            "not_after",
            "active",
            "created",
            "updated",
        ]
        read_only_fields = [
            "id",
            "key_source",
            "certificate",
            "fingerprint",
            "issuer_fingerprint",
            "not_before",
            "not_after",
            "active",
            "created",
            "updated",
        ]
        # The model checks names and addresses (after allocation); `update_host` checks the fixed fields.
        validators = []


class ReactivateSerializer(serializers.Serializer):
    rekey = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text=(
            "Replace the key pair too. Default: yes for a key pair generated here (whoever had the old config had "
            "its private key), no for a device-held key, which only the device can replace."
        ),
    )
