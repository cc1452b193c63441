"""What a leaf node (and a thing speaking MQTT) asks of the control plane, authenticated with its own nkey (`auth`):

- `GET /api/v1/leaf/bootstrap/`: its credentials, the JWTs of the operator, the system account and its account,
  and a `nats-leaf.conf` for its nats-server. The creds hold the leaf's seed: every read is audited. Query
  parameters name where the files live on the leaf's machine (`creds_path`, `system_creds_path`, `store_dir`) and
  where its server listens (`host`, `port`, `http_port`); they only shape the config text.
- `POST /api/v1/leaf/report/`: the leaf is alive; its `status` object is kept as the last one seen.
- `POST /api/v1/devices/mqtt-password/`: a thing's MQTT password (`inventory.services.mqtt`).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils.cache import patch_cache_control
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from audit.services import record_credential_read
from inventory import leafconf
from inventory.devices.auth import Device
from inventory.devices.views import DeviceView
from inventory.models import LeafNode, Thing
from inventory.services import edge, mqtt

#: A path on the leaf's machine: printable, no quote, backslash or control character.
PATH_RE = re.compile(r"^[^\x00-\x1f\"\\]{1,255}$")
HOST_RE = re.compile(r"^[A-Za-z0-9.:_-]{1,255}$")
MAX_STATUS_BYTES = 16 * 1024


def leaf_of(device: Device) -> LeafNode:
    leaf = LeafNode.objects.filter(nats_user=device.nats_user).select_related("organization").first()
    if leaf is None:
        raise exceptions.PermissionDenied("Only a leaf node's own key opens this endpoint.")
    return leaf


def _port(params, name: str, default: int) -> int:
    value = params.get(name)
    if value in (None, ""):
        return default
    if not value.isdigit() or not 0 <= int(value) <= 65535:
        raise exceptions.ValidationError({name: "Enter a port number (0-65535)."})
    return int(value)


def paths_from(params) -> leafconf.Paths:
    defaults = leafconf.Paths()
    values = {}
    for name, attribute in (("creds_path", "creds"), ("system_creds_path", "system_creds"), ("store_dir", "store_dir")):
        value = params.get(name, getattr(defaults, attribute))
        if not PATH_RE.match(value):
            raise exceptions.ValidationError({name: "Enter a path without quotes, backslashes or control characters."})
        values[attribute] = value
    host = params.get("host", defaults.host)
    if not HOST_RE.match(host):
        raise exceptions.ValidationError({"host": "Enter an IP address or a host name."})
    return leafconf.Paths(
        **values,
        host=host,
        port=_port(params, "port", defaults.port),
        http_port=_port(params, "http_port", defaults.http_port),
    )


BOOTSTRAP_PARAMETERS = [
    OpenApiParameter("creds_path", str, description="Where the leaf keeps its creds (default leaf.creds)."),
    OpenApiParameter("system_creds_path", str, description="Where it keeps its system creds (leaf-sys.creds)."),
    OpenApiParameter("store_dir", str, description="JetStream store directory (default jetstream)."),
    OpenApiParameter("host", str, description="Listen address for local devices (default 0.0.0.0)."),
    OpenApiParameter("port", int, description="Client port (default 4222)."),
    OpenApiParameter("http_port", int, description="Monitoring port on 127.0.0.1 (default off)."),
]


class LeafBootstrapView(DeviceView):
    """Everything the leaf's nats-server needs, and the config to run it (audited: the creds hold its seed)."""

    @extend_schema(
        parameters=BOOTSTRAP_PARAMETERS,
        responses=inline_serializer(
            "LeafBootstrap",
            {
                "domain": serializers.CharField(),
                "code": serializers.CharField(),
                "creds": serializers.CharField(),
                "system_creds": serializers.CharField(),
                "account_jwt": serializers.CharField(),
                "account_pub": serializers.CharField(),
                "operator_jwt": serializers.CharField(),
                "sys_account_jwt": serializers.CharField(),
                "sys_account_pub": serializers.CharField(),
                "hub_urls": serializers.ListField(child=serializers.CharField()),
                "nats_leaf_conf": serializers.CharField(),
            },
        ),
    )
    @sensitive_variables("bundle")
    def get(self, request):
        leaf = leaf_of(request.user)
        paths = paths_from(request.query_params)
        try:
            with transaction.atomic():
                bundle = edge.bootstrap(leaf)
                record_credential_read(obj=leaf, kind="leaf.bootstrap", request=request)
        except DjangoValidationError as exc:
            raise exceptions.ValidationError({"detail": exc.messages}) from None
        response = Response(bundle.as_dict(paths))
        patch_cache_control(response, no_store=True, private=True)
        return response


class LeafReportView(DeviceView):
    """The leaf reports in: `last_seen_at` becomes now; `status` (an object) is kept as its last status."""

    @extend_schema(
        request=inline_serializer("LeafReport", {"status": serializers.JSONField(required=False)}),
        responses=inline_serializer(
            "LeafReportReceived",
            {
                "code": serializers.CharField(),
                "last_seen_at": serializers.DateTimeField(),
                "online": serializers.BooleanField(),
            },
        ),
    )
    def post(self, request):
        leaf = leaf_of(request.user)
        data = request.data if isinstance(request.data, dict) else None
        if data is None:
            raise exceptions.ValidationError({"detail": "Send a JSON object."})
        status = data.get("status", {})
        if not isinstance(status, dict):
            raise exceptions.ValidationError({"status": "Send the status as a JSON object."})
        text = json.dumps(status)
        if "\\u0000" in text:
            raise exceptions.ValidationError({"status": "Null characters are not allowed."})
        if len(text) > MAX_STATUS_BYTES:
            raise exceptions.ValidationError({"status": f"Keep the status under {MAX_STATUS_BYTES} bytes."})
        leaf = edge.record_report(leaf, status)
        return Response({"code": leaf.code, "last_seen_at": leaf.last_seen_at, "online": leaf.online})


class MqttPasswordView(DeviceView):
    """A thing's MQTT password: a bearer JWT valid on MQTT connections only, within its contract, short-lived
    (`inventory.services.mqtt`). Audited: it opens the device's MQTT connections until it expires."""

    @extend_schema(
        request=None,
        responses=inline_serializer(
            "MqttPassword",
            {
                "username": serializers.CharField(),
                "password": serializers.CharField(),
                "expires_at": serializers.DateTimeField(),
            },
        ),
    )
    @sensitive_variables("jwt")
    def post(self, request):
        user = request.user.nats_user
        if not Thing.objects.filter(nats_user=user).exists():
            raise exceptions.PermissionDenied("Only a thing's own key opens this endpoint.")
        try:
            with transaction.atomic():
                jwt, expires = mqtt.mqtt_password(user)
                record_credential_read(obj=user, kind="nats.mqtt_password", request=request)
        except DjangoValidationError as exc:
            raise exceptions.ValidationError({"detail": exc.messages}) from None
        response = Response(
            {"username": user.name, "password": jwt, "expires_at": datetime.fromtimestamp(expires, UTC)}
        )
        patch_cache_control(response, no_store=True, private=True)
        return response
