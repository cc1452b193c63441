"""Serializers of the inventory API. They shape and parse; the rules (same organization, unique codes, metadata
against the type's schema, image checks) are the models' `clean()`, run by the domain actions the views call.

Relations take ids of the request's organization only (`OrgScopedRelatedField`): another organization's id is
refused exactly like a missing one.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from credentials.models import Host, NatsUser, Network
from inventory.models import (
    EnrollmentToken,
    Floorplan,
    Location,
    LocationType,
    MessageSchema,
    Operation,
    Placement,
    Thing,
    ThingType,
)
from inventory.services.things import Mode
from tenancy.api.base import OrgScopedRelatedField


class MessageSchemaSerializer(serializers.ModelSerializer):
    class Meta:
        model = MessageSchema
        fields = ["id", "namespace", "name", "version", "description", "schema", "created", "updated"]
        read_only_fields = ["id", "created", "updated"]
        validators = []  # the model checks the version is new (`MessageSchema.clean`)


class OperationSerializer(serializers.ModelSerializer):
    message_schema = OrgScopedRelatedField(queryset=MessageSchema.objects.all(), required=False, allow_null=True)
    subject_template = serializers.CharField(
        read_only=True, help_text="The type's prefix and this suffix: the subject, before placeholders are filled."
    )

    class Meta:
        model = Operation
        fields = [
            "id",
            "name",
            "capability",
            "subject_suffix",
            "subject_template",
            "description",
            "message_schema",
            "command_ttl",
            "members_may_command",
            "created",
            "updated",
        ]
        read_only_fields = ["id", "created", "updated"]
        validators = []  # the model checks name and capability are new for the type (`Operation.clean`)


class ThingTypeSerializer(serializers.ModelSerializer):
    operations = OperationSerializer(
        many=True,
        read_only=True,
        help_text="The type's contract; change it through `thing-types/<id>/operations/`.",
    )

    class Meta:
        model = ThingType
        fields = [
            "id",
            "code",
            "name",
            "description",
            "subject_prefix",
            "metadata_schema",
            "operations",
            "created",
            "updated",
        ]
        read_only_fields = ["id", "created", "updated"]
        validators = []


class LocationTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = LocationType
        fields = ["id", "code", "name", "description", "metadata_schema", "created", "updated"]
        read_only_fields = ["id", "created", "updated"]
        validators = []


class LocationSerializer(serializers.ModelSerializer):
    location_type = OrgScopedRelatedField(queryset=LocationType.objects.all(), required=False, allow_null=True)
    parent = OrgScopedRelatedField(
        queryset=Location.objects.all(),
        required=False,
        allow_null=True,
        help_text="The location this one is in; a new parent moves the location with everything under it.",
    )
    depth = serializers.IntegerField(read_only=True, help_text="1 for a location at the top of the tree.")

    class Meta:
        model = Location
        fields = [
            "id",
            "code",
            "name",
            "description",
            "location_type",
            "parent",
            "path",
            "depth",
            "address",
            "latitude",
            "longitude",
            "metadata",
            "created",
            "updated",
        ]
        read_only_fields = ["id", "path", "depth", "created", "updated"]
        validators = []


class FloorplanSerializer(serializers.ModelSerializer):
    location = OrgScopedRelatedField(queryset=Location.objects.all())
    image = serializers.FileField(
        write_only=True,
        help_text="A PNG, JPEG or WebP image (multipart upload); SVG and other formats are refused.",
    )
    image_url = serializers.SerializerMethodField(help_text="Where members download the image.")

    class Meta:
        model = Floorplan
        fields = [
            "id",
            "location",
            "name",
            "image",
            "image_url",
            "image_format",
            "width",
            "height",
            "created",
            "updated",
        ]
        read_only_fields = ["id", "image_format", "width", "height", "created", "updated"]
        validators = []

    @extend_schema_field(OpenApiTypes.URI)
    def get_image_url(self, floorplan: Floorplan) -> str:
        organization = self.context.get("organization") or floorplan.organization
        path = reverse("inventory-api:floorplan-image", args=[organization.slug, floorplan.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class PlacementSerializer(serializers.ModelSerializer):
    floorplan = OrgScopedRelatedField(queryset=Floorplan.objects.all())
    thing = OrgScopedRelatedField(queryset=Thing.objects.all())

    class Meta:
        model = Placement
        fields = ["id", "floorplan", "thing", "x", "y", "created", "updated"]
        read_only_fields = ["id", "created", "updated"]
        validators = []


# --- Things -------------------------------------------------------------------------------------------------------


MODE_HELP = "`none`: no identity; `auto`: create one; `link`: link an existing one of the organization."


class NatsProvisioningSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=Mode.ALL, default=Mode.NONE, help_text=MODE_HELP)
    user = OrgScopedRelatedField(
        queryset=NatsUser.objects.all(),
        required=False,
        allow_null=True,
        help_text="With `link`: a NATS user of the organization owned by a thing and linked to none.",
    )


class NebulaProvisioningSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=Mode.ALL, default=Mode.NONE, help_text=MODE_HELP)
    host = OrgScopedRelatedField(
        queryset=Host.objects.all(),
        required=False,
        allow_null=True,
        help_text="With `link`: a Nebula host of the organization linked to no thing.",
    )
    network = OrgScopedRelatedField(
        queryset=Network.objects.all(),
        required=False,
        allow_null=True,
        help_text="With `auto`: the network of the new host (named after the thing's code).",
    )
    overlay_ip = serializers.IPAddressField(
        protocol="IPv4",
        required=False,
        allow_null=True,
        help_text="With `auto`: the host's address; the network's next free one when omitted.",
    )


class ThingSerializer(serializers.ModelSerializer):
    thing_type = OrgScopedRelatedField(queryset=ThingType.objects.all())
    location = OrgScopedRelatedField(queryset=Location.objects.all(), required=False, allow_null=True)
    nats_user = OrgScopedRelatedField(
        queryset=NatsUser.objects.all(),
        required=False,
        allow_null=True,
        help_text="Owners and admins link another NATS user (or none) on update.",
    )
    nebula_host = OrgScopedRelatedField(
        queryset=Host.objects.all(),
        required=False,
        allow_null=True,
        help_text="Owners and admins link another Nebula host (or none) on update.",
    )
    active = serializers.BooleanField(
        required=False,
        help_text="Owners and admins switch it: off revokes the NATS user and blocks the Nebula host; on issues "
        "fresh credentials for both.",
    )
    nats = NatsProvisioningSerializer(
        write_only=True, required=False, help_text="On create: the thing's NATS user (default: none)."
    )
    nebula = NebulaProvisioningSerializer(
        write_only=True, required=False, help_text="On create: the thing's Nebula host (default: none)."
    )

    class Meta:
        model = Thing
        fields = [
            "id",
            "code",
            "name",
            "description",
            "thing_type",
            "location",
            "metadata",
            "active",
            "nats_user",
            "nebula_host",
            "nats",
            "nebula",
            "created",
            "updated",
        ]
        read_only_fields = ["id", "created", "updated"]
        validators = []  # the model checks the code is free in the organization (`Thing.clean`)


# --- Enrollment tokens ---------------------------------------------------------------------------------------------


class EnrollmentTokenSerializer(serializers.ModelSerializer):
    kind = serializers.CharField(read_only=True, help_text="What the token enrolls: `thing`.")
    status = serializers.CharField(read_only=True, help_text="open, used, expired or revoked.")
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    network = OrgScopedRelatedField(
        queryset=Network.objects.all(),
        required=False,
        allow_null=True,
        help_text="For a thing without a Nebula host: the network of the host made for the device's key.",
    )
    hours = serializers.IntegerField(
        write_only=True, required=False, help_text="Lifetime in hours (default: ENROLLMENT_TOKEN_HOURS, 24)."
    )

    class Meta:
        model = EnrollmentToken
        fields = [
            "id",
            "kind",
            "thing",
            "network",
            "prefix",
            "status",
            "expires_at",
            "used_at",
            "used_by_key",
            "revoked_at",
            "created_by",
            "created",
            "hours",
        ]
        read_only_fields = [
            "id",
            "kind",
            "thing",
            "prefix",
            "expires_at",
            "used_at",
            "used_by_key",
            "revoked_at",
            "created",
        ]


class NewEnrollmentTokenSerializer(EnrollmentTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The token, shown this once: give it to the device.")

    class Meta(EnrollmentTokenSerializer.Meta):
        fields = [*EnrollmentTokenSerializer.Meta.fields, "token"]
