"""Who is calling the HTTP gateway: a thing, proven by one of three means.

1. `Authorization: Device <session token>` — the nkey challenge/session of `inventory.devices.auth`.
2. `Authorization: NKey <public key>;ts=<unix seconds>;sig=<base64url signature>` — each request signed with the
   thing's NATS user seed (the key of its NATS identity) over
   `METHOD\\nPATH?QUERY\\nTS\\nSHA256-HEX(body)`. The timestamp must lie within `DEVICE_SIGNATURE_WINDOW` seconds
   (default 30) of the server's clock, and a (key, ts, signature) seen within the window is refused: a request
   cannot be replayed.
3. `Authorization: Bearer sah_<prefix>_<secret>` — a `DeviceToken` an owner or admin issued for a device that
   cannot sign.

Every request reads the thing (and its NATS user, its account and organization) again: a thing that is
deactivated, deleted, or whose NATS user is revoked is refused on HTTP from that moment, as on NATS.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from credentials.codecs import natsjwt
from inventory.devices import auth
from inventory.models import DeviceToken, Thing
from inventory.models.device_tokens import TOKEN_PREFIX
from tenancy.models import hash_secret

REPLAY_PREFIX = "device-sig:"
_NKEY_HEADER = re.compile(r"^(?P<key>[A-Z0-9]{56});ts=(?P<ts>[0-9]{1,12});sig=(?P<sig>[A-Za-z0-9_\-=]{1,200})$")
_TOKEN = re.compile(rf"^{TOKEN_PREFIX}_([0-9a-f]{{12}})_[A-Za-z0-9_\-]{{20,100}}$")


def signature_window() -> int:
    return int(getattr(settings, "DEVICE_SIGNATURE_WINDOW", 30))


def string_to_sign(method: str, full_path: str, ts: str | int, body: bytes) -> bytes:
    return f"{method.upper()}\n{full_path}\n{ts}\n{hashlib.sha256(body).hexdigest()}".encode()


def sign_request(seed: str, method: str, full_path: str, body: bytes = b"", ts: int | None = None) -> str:
    """The `Authorization` header value for a signed request (what a device computes; tests and tools use it)."""
    kp = natsjwt.keypair_from_seed(seed)
    ts = int(time.time()) if ts is None else ts
    sig = base64.urlsafe_b64encode(kp.sign(string_to_sign(method, full_path, ts, body))).rstrip(b"=").decode()
    return f"NKey {kp.public_key};ts={ts};sig={sig}"


@dataclass
class ThingDevice:
    """The authenticated party of a gateway request: a thing (its NATS user may be None for token-only things)."""

    thing: Thing
    means: str
    is_authenticated: bool = True
    is_active: bool = True
    is_superuser: bool = False
    is_staff: bool = False

    def __str__(self) -> str:
        return f"device:{self.thing.code}"

    @property
    def nats_user(self):
        return self.thing.nats_user

    @property
    def organization(self):
        return self.thing.organization

    @property
    def pk(self):  # for throttles keyed by the caller
        return f"thing:{self.thing.pk}"


#: A thing's NATS user, when it has one, must be switched on with its account (what nats-server checks).
_USER_ON = {"nats_user__active": True, "nats_user__account__active": True, "nats_user__account__suspended": False}


def active_things():
    """Active things of active organizations whose NATS user, if any, is switched on: one query per request."""
    return (
        Thing.objects.select_related(
            "organization", "thing_type", "thing_type__signing_key", "location", "nats_user", "nats_user__account"
        )
        .filter(active=True, organization__active=True)
        .filter(Q(nats_user__isnull=True) | Q(**_USER_ON))
    )


def thing_of_key(**user_lookup) -> Thing | None:
    """The active thing whose switched-on NATS user matches `user_lookup` (e.g. `public_key=...`)."""
    return active_things().filter(**{f"nats_user__{k}": v for k, v in user_lookup.items()}, **_USER_ON).first()


def _refuse():
    raise exceptions.AuthenticationFailed(auth.REFUSED)


class SessionThingAuthentication(auth.DeviceAuthentication):
    """The device session of `inventory.devices.auth`, for a thing's NATS user (read afresh each request)."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send `Authorization: Device <token>`.")
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            _refuse()
        session = cache.get(auth.SESSION_PREFIX + auth._digest(token))
        if not session:
            raise exceptions.AuthenticationFailed("The device session is unknown or expired; authenticate again.")
        thing = thing_of_key(pk=session["user"], public_key=session["key"])
        if thing is None:
            _refuse()
        return ThingDevice(thing, "session"), token


class NKeySignatureAuthentication(authentication.BaseAuthentication):
    keyword = "NKey"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request)
        if header[:5].lower() != b"nkey ":
            return None
        try:
            value = header[5:].decode("ascii").strip()
        except UnicodeDecodeError:
            _refuse()
        match = _NKEY_HEADER.match(value)
        if match is None:
            raise exceptions.AuthenticationFailed(
                "Send `Authorization: NKey <public key>;ts=<unix seconds>;sig=<base64url signature>`."
            )
        public_key, ts, sig = match.group("key"), int(match.group("ts")), match.group("sig")
        window = signature_window()
        if abs(time.time() - ts) > window:
            raise exceptions.AuthenticationFailed(
                f"The request's timestamp is more than {window} seconds from the server's clock."
            )
        try:
            raw = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
        except (binascii.Error, ValueError):
            _refuse()
        message = string_to_sign(request.method, request._request.get_full_path(), ts, request._request.body)
        if not natsjwt.verify_signature(public_key, message, raw):
            _refuse()
        thing = thing_of_key(public_key=public_key)
        if thing is None:
            _refuse()
        # The same signed request twice within the window is a replay (checked last: a bad signature burns nothing).
        replay_key = REPLAY_PREFIX + hashlib.sha256(f"{public_key}|{ts}|{sig}".encode()).hexdigest()
        if not cache.add(replay_key, 1, window * 2 + 1):
            raise exceptions.AuthenticationFailed("This signed request was seen already (replay refused).")
        return ThingDevice(thing, "nkey"), None

    def authenticate_header(self, request) -> str:
        return self.keyword


class DeviceTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send `Authorization: Bearer <device token>`.")
        try:
            text = header[1].decode("ascii")
        except UnicodeDecodeError:
            _refuse()
        match = _TOKEN.match(text)
        if match is None:
            return None  # not a device token: another scheme may know it
        token = DeviceToken.objects.filter(prefix=match.group(1)).first()
        if token is None or not hmac.compare_digest(token.secret_hash, hash_secret(text)):
            _refuse()
        if token.status != "active":
            raise exceptions.AuthenticationFailed(f"This device token is {token.status}.")
        # Its NATS user revoked or its account switched off: refused here too.
        thing = active_things().filter(pk=token.thing_id).first()
        if thing is None:
            _refuse()
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
            DeviceToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return ThingDevice(thing, "token"), token

    def authenticate_header(self, request) -> str:
        return self.keyword


class IsThing(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, ThingDevice)


# --- Issuing and revoking tokens (owners and admins, through the API and the admin) ------------------------------


@transaction.atomic
def issue_token(thing: Thing, *, created_by=None, name: str = "", expires_at=None) -> tuple[DeviceToken, str]:
    from inventory.services import things as thing_svc

    thing = thing_svc.lock_thing(thing)
    if not thing.active:
        raise ValidationError({"thing": "This thing is deactivated; reactivate it before issuing a token."})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "Enter a moment in the future."})
    token = DeviceToken(
        organization_id=thing.organization_id,
        thing=thing,
        name=name or "",
        expires_at=expires_at,
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    secret = token.set_new_secret()
    token.full_clean()
    token.save()
    return token, secret


@transaction.atomic
def revoke_token(token: DeviceToken) -> DeviceToken:
    token = DeviceToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated"])
    return token


# --- OpenAPI ------------------------------------------------------------------------------------------------------


class SessionThingScheme(OpenApiAuthenticationExtension):
    target_class = "inventory.devices.gateway_auth.SessionThingAuthentication"
    name = "ThingSession"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Authorization: Device <token>`, from `POST /api/v1/devices/session/` (a nonce signed "
            "with the device's nkey).",
        }


class NKeySignatureScheme(OpenApiAuthenticationExtension):
    target_class = "inventory.devices.gateway_auth.NKeySignatureAuthentication"
    name = "DeviceSignature"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Authorization: NKey <public key>;ts=<unix seconds>;sig=<base64url Ed25519 signature of "
            '"METHOD\\nPATH?QUERY\\nTS\\nSHA256-HEX(body)" by the thing\'s NATS user key>`.',
        }


class DeviceTokenScheme(OpenApiAuthenticationExtension):
    target_class = "inventory.devices.gateway_auth.DeviceTokenAuthentication"
    name = "DeviceToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "`Authorization: Bearer sah_…`: an HTTP token issued for the thing by an owner or admin.",
        }
