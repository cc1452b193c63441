"""Device endpoints of the HTTP API: authentication by nkey (`auth`)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from inventory.devices import auth


class DeviceAuthThrottle(AnonRateThrottle):
    scope = "device-auth"

    def get_rate(self):
        from django.conf import settings

        return getattr(settings, "DEVICE_AUTH_RATE", "120/minute")


class _Unauthenticated(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [DeviceAuthThrottle]


class ChallengeView(_Unauthenticated):
    """A one-time nonce for the device to sign with its nkey."""

    @extend_schema(
        request=inline_serializer("DeviceChallengeRequest", {"public_key": serializers.CharField()}),
        responses=inline_serializer(
            "DeviceChallenge", {"nonce": serializers.CharField(), "expires_in": serializers.IntegerField()}
        ),
    )
    def post(self, request):
        nonce, ttl = auth.issue_nonce(request.data.get("public_key") if isinstance(request.data, dict) else None)
        return Response({"nonce": nonce, "expires_in": ttl})


class SessionView(_Unauthenticated):
    """Trade a signed nonce for a session token (`Authorization: Device <token>`)."""

    @extend_schema(
        request=inline_serializer(
            "DeviceSessionRequest",
            {
                "public_key": serializers.CharField(),
                "nonce": serializers.CharField(),
                "signature": serializers.CharField(),
            },
        ),
        responses=inline_serializer(
            "DeviceSession", {"token": serializers.CharField(), "expires_at": serializers.DateTimeField()}
        ),
    )
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        token, expires = auth.open_session(data.get("public_key"), data.get("nonce"), data.get("signature"))
        return Response({"token": token, "expires_at": expires.isoformat().replace("+00:00", "Z")}, status=201)


class DeviceView(APIView):
    """Base of the endpoints a device calls with its session (`Authorization: Device <token>`)."""

    authentication_classes = [auth.DeviceAuthentication]
    permission_classes = [auth.IsDevice]


class MeView(DeviceView):
    """Who the session belongs to: the NATS user and the thing (or leaf node) that owns it."""

    @extend_schema(
        responses=inline_serializer(
            "DeviceIdentity",
            {
                "public_key": serializers.CharField(),
                "name": serializers.CharField(),
                "organization": serializers.CharField(),
                "owner_kind": serializers.CharField(),
                "code": serializers.CharField(allow_null=True),
            },
        )
    )
    def get(self, request):
        user = request.user.nats_user
        owner = auth.owner_of(user)
        return Response(
            {
                "public_key": user.public_key,
                "name": user.name,
                "organization": user.organization.slug,
                "owner_kind": user.owner_kind,
                "code": getattr(owner, "code", None),
            }
        )
