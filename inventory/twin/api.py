"""`/api/v1/orgs/<slug>/things/<id>/twin/`: the thing's reported and desired state (everyone in the organization),
and `PUT`/`DELETE …/twin/desired/<property>/` with a JSON value as the body (owners and admins). NATS not
answering within `TWIN_NATS_TIMEOUT` is a 503 with a message."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response

from inventory.models import Thing
from inventory.services import twin
from inventory.twin.store import TwinUnavailable
from tenancy.api.base import OrgScopedViewSet
from tenancy.roles import ALL_ROLES, MANAGERS


class NatsUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "NATS is not reachable; try again shortly."
    default_code = "nats_unavailable"


class ThingTwinViewSet(OrgScopedViewSet):
    queryset = Thing.objects.all()
    read_roles = ALL_ROLES
    write_roles = MANAGERS
    http_method_names = ["get", "put", "delete", "head", "options"]

    def thing(self) -> Thing:
        return get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])

    def nats(self, call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except TwinUnavailable as exc:
            raise NatsUnavailable(str(exc)) from None
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None

    @extend_schema(summary="The thing's live twin", responses={200: OpenApiTypes.OBJECT, 503: OpenApiResponse()})
    def snapshot(self, request, *args, **kwargs):
        thing = self.thing()
        return Response({"thing": thing.code, **self.nats(twin.snapshot, thing)})

    @extend_schema(
        summary="Set a desired property",
        request=OpenApiTypes.ANY,
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiResponse(), 503: OpenApiResponse()},
    )
    def set_desired(self, request, *args, **kwargs):
        thing = self.thing()
        if request.META.get("CONTENT_LENGTH") in (None, "", "0"):
            raise ValidationError({"value": ["Send the desired value as the JSON body."]})
        prop = kwargs["property"]
        revision = self.nats(twin.set_desired, thing, prop, request.data, request=request)
        return Response({"key": twin.desired_key(thing, prop), "value": request.data, "revision": revision})

    @extend_schema(summary="Clear a desired property", responses={204: None, 503: OpenApiResponse()})
    def clear_desired(self, request, *args, **kwargs):
        self.nats(twin.clear_desired, self.thing(), kwargs["property"], request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)
