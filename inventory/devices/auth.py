"""How a device proves who it is to the HTTP side of the control plane: with its own nkey, as it does to NATS.

1. `POST /api/v1/devices/challenge/` `{public_key}` → a one-time `nonce`, valid for `DEVICE_NONCE_SECONDS`.
2. The device signs the nonce (its UTF-8 bytes) with its user seed, as a NATS client signs a server's nonce,
   and posts `{public_key, nonce, signature}` (signature in base64url, padding optional) to
   `POST /api/v1/devices/session/` → a session `token`, valid for `DEVICE_SESSION_SECONDS`.
3. Device requests carry `Authorization: Device <token>`.

The key must be the public key of an active NATS user of an active account (a thing's, a leaf node's): the
session holds only the user's id, and every request reads the user again, so a deactivated or revoked device is
refused on HTTP at the moment it is refused on NATS. Nonces and sessions live in the cache (Redis in
production), keyed by a hash of their value; a nonce is consumed by its first use, right or wrong.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from rest_framework import authentication, exceptions, permissions

from credentials.codecs import natsjwt
from credentials.models import NatsUser

NONCE_PREFIX = "device-nonce:"
SESSION_PREFIX = "device-session:"
REFUSED = "The device could not be authenticated."


class Refused(exceptions.APIException):
    """401 on the unauthenticated steps too (DRF would turn AuthenticationFailed into 403 there)."""

    status_code = 401
    default_code = "authentication_failed"
    default_detail = REFUSED


def nonce_seconds() -> int:
    return getattr(settings, "DEVICE_NONCE_SECONDS", 60)


def session_seconds() -> int:
    return getattr(settings, "DEVICE_SESSION_SECONDS", 900)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def check_public_key(public_key) -> str:
    if not isinstance(public_key, str) or not natsjwt.is_valid_public_key(public_key, natsjwt.USER):
        raise exceptions.ValidationError({"public_key": "Enter the device's NATS user public key (56 characters, U…)."})
    return public_key


def issue_nonce(public_key: str) -> tuple[str, int]:
    check_public_key(public_key)
    nonce = secrets.token_urlsafe(24)
    ttl = nonce_seconds()
    cache.set(NONCE_PREFIX + _digest(nonce), public_key, ttl)
    return nonce, ttl


def _signature_bytes(signature) -> bytes:
    if not isinstance(signature, str) or len(signature) > 200:
        raise exceptions.ValidationError({"signature": "Enter the signature of the nonce in base64url."})
    try:
        return base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    except (binascii.Error, ValueError):
        raise exceptions.ValidationError({"signature": "Enter the signature of the nonce in base64url."}) from None


def active_device_user(**lookup) -> NatsUser | None:
    """The active NATS user matching `lookup` whose account is switched on (not suspended, organization active)."""
    return (
        NatsUser.objects.select_related("account", "organization")
        .filter(active=True, account__active=True, account__suspended=False, organization__active=True, **lookup)
        .first()
    )


def open_session(public_key: str, nonce, signature) -> tuple[str, datetime]:
    """Verify the signed nonce and open a session for the key's NATS user."""
    check_public_key(public_key)
    if not isinstance(nonce, str) or not nonce or len(nonce) > 100:
        raise exceptions.ValidationError({"nonce": "Enter the nonce from the challenge."})
    raw = _signature_bytes(signature)
    key = NONCE_PREFIX + _digest(nonce)
    expected = cache.get(key)
    cache.delete(key)
    if expected is None:
        raise Refused("The nonce is unknown, used or expired; ask for a new challenge.")
    if expected != public_key:
        raise Refused(REFUSED)
    if not natsjwt.verify_signature(public_key, nonce.encode(), raw):
        raise Refused(REFUSED)
    user = active_device_user(public_key=public_key)
    if user is None:
        raise Refused(REFUSED)
    token = secrets.token_urlsafe(32)
    ttl = session_seconds()
    cache.set(SESSION_PREFIX + _digest(token), {"user": user.pk, "key": public_key}, ttl)
    return token, datetime.now(UTC) + timedelta(seconds=ttl)


@dataclass
class Device:
    """The authenticated party of a device request: a NATS user (a thing's or a leaf node's)."""

    nats_user: NatsUser
    is_authenticated: bool = True
    is_active: bool = True
    is_superuser: bool = False
    is_staff: bool = False

    def __str__(self) -> str:
        return f"device:{self.nats_user.name}"

    @property
    def organization(self):
        return self.nats_user.organization

    @property
    def pk(self):  # for throttles keyed by the caller
        return f"device:{self.nats_user.pk}"


class DeviceAuthentication(authentication.BaseAuthentication):
    keyword = "Device"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Send `Authorization: Device <token>`.")
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(REFUSED) from None
        session = cache.get(SESSION_PREFIX + _digest(token))
        if not session:
            raise exceptions.AuthenticationFailed("The device session is unknown or expired; authenticate again.")
        # Read afresh: the user may have been deactivated or re-keyed since the session opened.
        user = active_device_user(pk=session["user"], public_key=session["key"])
        if user is None:
            raise exceptions.AuthenticationFailed(REFUSED)
        return Device(user), token

    def authenticate_header(self, request) -> str:
        return self.keyword


class IsDevice(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, Device)


def owner_of(user: NatsUser):
    """The thing (or leaf node) that owns `user`, or None (a missing reverse one-to-one is an AttributeError)."""
    for relation in ("thing", "leaf_node"):
        owner = getattr(user, relation, None)
        if owner is not None:
            return owner
    return None
