"""Device endpoints of the HTTP API: authentication by nkey (`auth`), enrollment, config delivery and renewal."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from audit.context import set_actor, set_organization
from inventory.devices import auth
from inventory.services import enrollment


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

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # The audit log names the device (it is no person: no user id), in its organization.
        user = request.user.nats_user
        set_actor(name=f"device:{user.name}")
        set_organization(user.organization_id)


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


# --- Enrollment and config delivery ------------------------------------------------------------------------------


class EnrollThrottle(AnonRateThrottle):
    scope = "enroll"

    def get_rate(self):
        from django.conf import settings

        return getattr(settings, "ENROLL_RATE", "30/minute")


DEVICE_BUNDLE = inline_serializer(
    "DeviceBundle",
    {
        "organization": serializers.CharField(),
        "kind": serializers.CharField(),
        "code": serializers.CharField(),
        "nats": serializers.DictField(),
        "nebula": serializers.DictField(allow_null=True),
        "version": serializers.CharField(),
    },
)


def bundle_response(bundle: dict, status: int = 200) -> Response:
    response = Response(bundle, status=status)
    response["ETag"] = f'"{bundle["version"]}"'
    response["Cache-Control"] = "no-store"
    return response


class EnrollView(APIView):
    """Enroll a device with a one-time token and its own public keys (its private keys never leave it)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [EnrollThrottle]

    @extend_schema(
        request=inline_serializer(
            "EnrollRequest",
            {
                "token": serializers.CharField(),
                "nats_public_key": serializers.CharField(help_text="The device's nkey user public key (U…)."),
                "nebula_public_key": serializers.CharField(
                    required=False, help_text="X25519 public key (nebula-cert keygen's .pub PEM, or base64/hex)."
                ),
                "nebula_key_path": serializers.CharField(
                    required=False, help_text="Where the device keeps its Nebula private key (its config's pki.key)."
                ),
            },
        ),
        responses={201: DEVICE_BUNDLE},
    )
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        try:
            bundle = enrollment.enroll(
                data.get("token"),
                data.get("nats_public_key"),
                data.get("nebula_public_key"),
                data.get("nebula_key_path"),
            )
        except enrollment.EnrollmentError as exc:
            return Response({exc.field: [exc.message]}, status=exc.status)
        return bundle_response(bundle, status=201)


class ConfigView(DeviceView):
    """The device's current JWT, certificate, Nebula config, blocklist and CA bundle, with a `version` (its
    ETag): `If-None-Match` with the version the device holds answers 304 when nothing changed."""

    @extend_schema(responses={200: DEVICE_BUNDLE, 304: None})
    def get(self, request):
        user = request.user.nats_user
        bundle = enrollment.device_bundle(user)
        enrollment.record_fetch(user, bundle["version"])
        held = {tag.strip().strip('"') for tag in request.headers.get("If-None-Match", "").split(",") if tag.strip()}
        if bundle["version"] in held:
            response = Response(status=304)
            response["ETag"] = f'"{bundle["version"]}"'
            return response
        return bundle_response(bundle)


class RenewView(DeviceView):
    """A new JWT for the device's key, and a new certificate for its Nebula key when close to expiry or asked for
    (`{"nebula": true}`); answers the new config."""

    @extend_schema(
        request=inline_serializer("RenewRequest", {"nebula": serializers.BooleanField(required=False)}),
        responses={200: DEVICE_BUNDLE},
    )
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else {}
        nebula = data.get("nebula", False)
        if not isinstance(nebula, bool):
            return Response({"nebula": ["Enter true or false."]}, status=400)
        try:
            bundle = enrollment.renew(request.user.nats_user, nebula=nebula)
        except DjangoValidationError as exc:
            return Response({"detail": exc.messages}, status=409)
        enrollment.record_fetch(request.user.nats_user, bundle["version"])
        return bundle_response(bundle)
