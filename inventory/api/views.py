"""Inventory API under `/api/v1/orgs/<slug>/`: message schemas, thing types and their operations, location types,
locations, floorplans (with their images), placements and things.

Who may do what:

- Message schemas, thing types, operations, location types (the contracts and vocabularies): everyone in the
  organization reads them; owners and admins change them.
- Locations, floorplans, placements, things: everyone reads them; members create and edit them too, but only
  owners and admins touch a thing's identities (NATS and Nebula modes other than `none`, linked user and host,
  `active`) or download its `.creds`. Deletes: owners and admins.

Every write goes through a domain action of `inventory.services`.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import FileResponse
from django.shortcuts import get_object_or_404
from django.utils.cache import patch_cache_control
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from credentials.api.views.nats import CREDS_RESPONSE, PlainTextRenderer
from credentials.downloads.nats import creds_response
from inventory import filtersets
from inventory.api import serializers as s
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
from inventory.services import enrollment, places, things, types
from inventory.services.things import Mode
from stoneage.api import BigListMixin
from tenancy.api.base import OrgScopedViewSet
from tenancy.roles import ALL_ROLES, AUDIT_READERS, EDITORS, MANAGERS

WRITE_METHODS = ["get", "post", "patch", "delete", "head", "options"]


class InventoryViewSet(OrgScopedViewSet):
    http_method_names = WRITE_METHODS
    read_roles = ALL_ROLES


class EditableViewSet(InventoryViewSet):
    """Members create and edit; owners and admins delete."""

    write_roles = EDITORS
    action_roles = {"destroy": MANAGERS}


# --- Contracts: message schemas, thing types, operations ---------------------------------------------------------


class MessageSchemaViewSet(InventoryViewSet):
    """Versioned JSON Schemas of operations' payloads. A schema still used by operations cannot be deleted."""

    queryset = MessageSchema.objects.all()
    serializer_class = s.MessageSchemaSerializer
    filterset_class = filtersets.MessageSchemaFilterSet
    search_fields = ["namespace", "name", "description"]
    ordering_fields = ["namespace", "name", "version", "created", "updated"]

    def perform_create(self, serializer):
        schema = MessageSchema(organization=self.organization, **serializer.validated_data)
        serializer.instance = types.save_message_schema(schema)

    def perform_update(self, serializer):
        serializer.instance = types.save_message_schema(serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        types.delete_message_schema(instance)


class ThingTypeViewSet(InventoryViewSet):
    """Thing types: each is a contract, its operations the subjects its things publish, subscribe, request and
    answer on. A change of the prefix or the operations re-signs the organization's NATS account once; a type
    that still has things cannot be deleted."""

    queryset = ThingType.objects.prefetch_related("operations")
    serializer_class = s.ThingTypeSerializer
    filterset_class = filtersets.ThingTypeFilterSet
    search_fields = ["code", "name", "description"]
    ordering_fields = ["code", "name", "created", "updated"]

    def perform_create(self, serializer):
        thing_type = types.create_type(organization=self.organization, **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=thing_type.pk)

    def perform_update(self, serializer):
        thing_type = types.update_type(serializer.instance, **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=thing_type.pk)

    def perform_destroy(self, instance):
        types.delete_type(instance)


TYPE_PARAMETER = OpenApiParameter("thing_type_id", int, OpenApiParameter.PATH, description="The thing type's id.")


@extend_schema_view(
    **{
        name: extend_schema(parameters=[TYPE_PARAMETER])
        for name in ("list", "create", "retrieve", "partial_update", "destroy")
    }
)
class OperationViewSet(InventoryViewSet):
    """The operations of one thing type (`thing-types/<id>/operations/`). Every change re-derives the type's
    contract."""

    queryset = Operation.objects.select_related("thing_type")
    serializer_class = s.OperationSerializer
    filterset_class = filtersets.OperationFilterSet
    search_fields = ["name", "subject_suffix", "description"]
    ordering_fields = ["name", "capability", "created"]

    def thing_type(self) -> ThingType:
        if not hasattr(self, "_thing_type"):
            types_of_org = ThingType.objects.for_organization(self.organization)
            self._thing_type = get_object_or_404(types_of_org, pk=self.kwargs["thing_type_id"])
        return self._thing_type

    def get_queryset(self):
        queryset = super().get_queryset()
        if getattr(self, "swagger_fake_view", False) or self.organization is None:
            return queryset
        return queryset.filter(thing_type=self.thing_type())

    def perform_create(self, serializer):
        operation = Operation(thing_type=self.thing_type(), **serializer.validated_data)
        serializer.instance = types.save_operation(operation)

    def perform_update(self, serializer):
        serializer.instance = types.save_operation(serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        types.delete_operation(instance)


# --- Places: location types, locations, floorplans, placements ---------------------------------------------------


class LocationTypeViewSet(InventoryViewSet):
    """Kinds of locations (site, building, floor, room...), each with a JSON Schema for its locations' metadata."""

    queryset = LocationType.objects.all()
    serializer_class = s.LocationTypeSerializer
    filterset_class = filtersets.LocationTypeFilterSet
    search_fields = ["code", "name", "description"]
    ordering_fields = ["code", "name", "created", "updated"]

    def perform_create(self, serializer):
        location_type = LocationType(organization=self.organization, **serializer.validated_data)
        serializer.instance = places.save_location_type(location_type)

    def perform_update(self, serializer):
        serializer.instance = places.save_location_type(serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        places.delete_location_type(instance)


class LocationViewSet(BigListMixin, EditableViewSet):
    """The tree of locations. Move a location (with everything under it) by changing its `parent`; `within`
    lists a subtree. A location with sub-locations or things cannot be deleted. The list pages with cursors."""

    queryset = Location.objects.all()
    serializer_class = s.LocationSerializer
    filterset_class = filtersets.LocationFilterSet
    search_fields = ["code", "name"]
    ordering_fields = ["code", "name", "path", "created", "updated"]

    def perform_create(self, serializer):
        location = Location(organization=self.organization, **serializer.validated_data)
        serializer.instance = places.save_location(location)

    def perform_update(self, serializer):
        serializer.instance = places.save_location(serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        places.delete_location(instance)


class ImageRenderer(BaseRenderer):
    """Lets clients ask for an image (`Accept: image/png`); errors are rendered as their message."""

    media_type = "image/*"
    format = "image"
    charset = None
    render_style = "binary"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if isinstance(data, dict) and set(data) == {"detail"}:
            data = data["detail"]
        return str(data).encode()


IMAGE_RESPONSE = {
    (200, "image/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The image: PNG, JPEG or WebP."),
}


class FloorplanViewSet(EditableViewSet):
    """Floorplans of locations: an image (multipart upload of a PNG, JPEG or WebP) and its size in pixels. The
    image is served to the organization's members only, by `floorplans/<id>/image/`, never from a public URL."""

    queryset = Floorplan.objects.all()
    serializer_class = s.FloorplanSerializer
    filterset_class = filtersets.FloorplanFilterSet
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    search_fields = ["name"]
    ordering_fields = ["name", "created", "updated"]

    def perform_create(self, serializer):
        floorplan = Floorplan(organization=self.organization, **serializer.validated_data)
        serializer.instance = places.save_floorplan(floorplan)

    def perform_update(self, serializer):
        serializer.instance = places.save_floorplan(serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        places.delete_floorplan(instance)

    @extend_schema(responses=IMAGE_RESPONSE)
    @action(detail=True, methods=["get"], renderer_classes=[ImageRenderer, JSONRenderer])
    def image(self, request, org_slug=None, pk=None):
        """The floorplan's image, for members of the organization."""
        floorplan = self.get_object()
        try:
            handle = floorplan.image.open("rb")
        except (FileNotFoundError, ValueError):
            raise NotFound("The image of this floorplan is missing from storage.") from None
        response = FileResponse(handle, content_type=f"image/{floorplan.image_format or 'png'}")
        response["Content-Disposition"] = f'inline; filename="floorplan-{floorplan.pk}.{floorplan.image_format}"'
        patch_cache_control(response, private=True, max_age=300)
        return response


class PlacementViewSet(EditableViewSet):
    """Things placed on floorplans at (x, y), in the image's pixels from its top-left corner."""

    queryset = Placement.objects.all()
    serializer_class = s.PlacementSerializer
    filterset_class = filtersets.PlacementFilterSet
    ordering_fields = ["created", "updated", "x", "y"]

    def perform_create(self, serializer):
        placement = Placement(organization=self.organization, **serializer.validated_data)
        serializer.instance = places.save_placement(placement)

    def perform_update(self, serializer):
        serializer.instance = places.save_placement(serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance):
        places.delete_placement(instance)


# --- Things ------------------------------------------------------------------------------------------------------


#: Where the provisioning's errors go in the request body.
PROVISIONING_ERRORS = {
    "nats_mode": ("nats", "mode"),
    "nats_user": ("nats", "user"),
    "nebula_mode": ("nebula", "mode"),
    "nebula_host": ("nebula", "host"),
    "network": ("nebula", "network"),
    "overlay_ip": ("nebula", "overlay_ip"),
}


def provisioning_error(exc: DjangoValidationError) -> ValidationError:
    """The errors of `create_thing`, named as the request body names the fields (`nebula.overlay_ip`)."""
    if not hasattr(exc, "error_dict"):
        return ValidationError({"detail": exc.messages})
    detail: dict = {}
    for field, messages in exc.message_dict.items():
        if field in PROVISIONING_ERRORS:
            group, name = PROVISIONING_ERRORS[field]
            detail.setdefault(group, {})[name] = messages
        else:
            detail[field] = messages
    return ValidationError(detail)


class ThingViewSet(BigListMixin, EditableViewSet):
    """Things: the devices of the fleet.

    Create one with its identities in one transaction: `nats.mode` and `nebula.mode` are `none`, `auto` (a new
    NATS user issued by the type's key; a new Nebula host named after the code, on `nebula.network`, at
    `nebula.overlay_ip` or the next free address) or `link` (`nats.user`, `nebula.host`: identities of the
    organization no other thing holds). Any refusal leaves nothing behind. Members create things without
    identities; owners and admins choose identities, link others on update (`nats_user`, `nebula_host`),
    switch `active`, download `.creds` and delete (which revokes both identities).

    The list pages with cursors and filters by type, location subtree, activity and metadata.
    """

    queryset = Thing.objects.all()
    serializer_class = s.ThingSerializer
    filterset_class = filtersets.ThingFilterSet
    search_fields = ["code", "name"]
    ordering_fields = ["code", "name", "created", "updated"]
    action_roles = {
        "destroy": MANAGERS,
        "deactivate": MANAGERS,
        "reactivate": MANAGERS,
        "creds": MANAGERS,
    }

    def refused_to(self, field: str) -> PermissionDenied:
        return PermissionDenied(f"Only owners and admins change a thing's identities: {field}.")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        nats, nebula = data.pop("nats", {}), data.pop("nebula", {})
        nats_mode, nebula_mode = nats.get("mode", Mode.NONE), nebula.get("mode", Mode.NONE)
        # A new thing starts active, with the identities `nats` and `nebula` give it (null and true are no-ops).
        refused = [name for name in ("nats_user", "nebula_host") if data.pop(name, None) is not None]
        if data.pop("active", True) is False:
            refused.append("active")
        if self.role not in MANAGERS:
            modes = (("nats", nats_mode), ("nebula", nebula_mode))
            refused += [f"{name}.mode" for name, mode in modes if mode != Mode.NONE]
            if refused:
                raise self.refused_to(refused[0])
        if refused:
            raise ValidationError({refused[0]: ["A new thing is active and gets its identities from nats and nebula."]})
        try:
            thing = things.create_thing(
                organization=self.organization,
                nats_mode=nats_mode,
                nats_user=nats.get("user"),
                nebula_mode=nebula_mode,
                nebula_host=nebula.get("host"),
                network=nebula.get("network"),
                overlay_ip=nebula.get("overlay_ip"),
                **data,
            )
        except DjangoValidationError as exc:
            raise provisioning_error(exc) from None
        serializer.instance = thing

    @transaction.atomic
    def perform_update(self, serializer):
        thing: Thing = serializer.instance
        data = dict(serializer.validated_data)
        for name in ("nats", "nebula"):
            if data.pop(name, None) is not None:
                raise ValidationError({name: ["Modes apply on create; link identities with nats_user, nebula_host."]})
        identities = {name: data.pop(name) for name in ("nats_user", "nebula_host") if name in data}
        identities = {name: value for name, value in identities.items() if value != getattr(thing, name)}
        active = data.pop("active", thing.active)
        changed = [*identities, *(["active"] if active != thing.active else [])]
        if changed and self.role not in MANAGERS:
            raise self.refused_to(changed[0])
        if data:
            thing = things.update_thing(thing, **data)
        if identities:
            thing = things.link_identities(thing, **identities)
        if active != thing.active:
            thing = (things.reactivate_thing if active else things.deactivate_thing)(thing)
        serializer.instance = Thing.objects.get(pk=thing.pk)

    def perform_destroy(self, instance):
        things.delete_thing(instance)

    def _act(self, change) -> Response:
        thing = change(self.get_object())
        return Response(self.get_serializer(Thing.objects.get(pk=thing.pk)).data)

    @extend_schema(request=None, responses=s.ThingSerializer)
    @action(detail=True, methods=["post"])
    def deactivate(self, request, org_slug=None, pk=None):
        """Switch the thing off: its NATS user is revoked (connections dropped) and its Nebula host blocked."""
        return self._act(things.deactivate_thing)

    @extend_schema(request=None, responses=s.ThingSerializer)
    @action(detail=True, methods=["post"])
    def reactivate(self, request, org_slug=None, pk=None):
        """Switch the thing on: fresh credentials for its NATS user and Nebula host (the old ones stay revoked)."""
        return self._act(things.reactivate_thing)

    @extend_schema(responses=CREDS_RESPONSE)
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, PlainTextRenderer])
    def creds(self, request, org_slug=None, pk=None):
        """The `.creds` file of the thing's NATS user (owners and admins; every download is audited)."""
        thing = self.get_object()
        if thing.nats_user_id is None:
            raise NotFound("This thing has no NATS user.")
        return creds_response(request, thing.nats_user)


# --- Enrollment tokens -------------------------------------------------------------------------------------------


THING_PARAMETER = OpenApiParameter("thing_id", int, OpenApiParameter.PATH, description="The thing's id.")


@extend_schema_view(
    **{name: extend_schema(parameters=[THING_PARAMETER]) for name in ("list", "create", "retrieve", "destroy")}
)
class EnrollmentTokenViewSet(InventoryViewSet):
    """One-time enrollment tokens of a thing (`things/<id>/enrollment-tokens/`): owners and admins issue them (the
    token is in the answer to the create, and never again), list them and revoke them (`revoke/` or DELETE); an
    auditor reads them. The device posts the token with its public keys to `POST /api/v1/enroll/`."""

    http_method_names = ["get", "post", "delete", "head", "options"]
    queryset = EnrollmentToken.objects.select_related("created_by")
    serializer_class = s.EnrollmentTokenSerializer
    read_roles = AUDIT_READERS
    ordering_fields = ["created", "expires_at"]
    filterset_fields = ["kind"]

    def thing(self) -> Thing:
        if not hasattr(self, "_thing"):
            things_of_org = Thing.objects.for_organization(self.organization)
            self._thing = get_object_or_404(things_of_org, pk=self.kwargs["thing_id"])
        return self._thing

    def get_queryset(self):
        queryset = super().get_queryset()
        if getattr(self, "swagger_fake_view", False) or self.organization is None:
            return queryset
        return queryset.filter(thing=self.thing())

    @extend_schema(responses={201: s.NewEnrollmentTokenSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            token, secret = enrollment.issue_token(
                self.thing(), created_by=request.user, network=data.get("network"), hours=data.get("hours")
            )
        except DjangoValidationError as exc:
            raise ValidationError(getattr(exc, "message_dict", None) or {"detail": exc.messages}) from None
        token.token = secret
        return Response(s.NewEnrollmentTokenSerializer(token, context=self.get_serializer_context()).data, status=201)

    def _revoke(self) -> EnrollmentToken:
        try:
            return enrollment.revoke_token(self.get_object())
        except DjangoValidationError as exc:
            raise ValidationError({"detail": exc.messages}) from None

    def destroy(self, request, *args, **kwargs):
        self._revoke()
        return Response(status=204)

    @extend_schema(request=None, parameters=[THING_PARAMETER], responses=s.EnrollmentTokenSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, *args, **kwargs):
        """Revoke the token: the device can no longer enroll with it."""
        return Response(self.get_serializer(self._revoke()).data)
