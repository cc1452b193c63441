"""Enrollment with device-held keys, and the config a device fetches afterwards.

- `issue_token(thing, created_by=…)`: a one-time token for the thing (owners and admins; the secret is returned
  once, only its hash is stored).
- `revoke_token(token)`.
- `enroll(token, nats_public_key, nebula_public_key, nebula_key_path)`: the device's own keys become the thing's
  identities in one transaction. The previous NATS key is revoked on the account and the previous certificate goes
  on the CA's blocklist (a replaced device, or the key pair generated here before the device enrolled); the seed or
  private key held here is wiped. Returns the device's bundle (`device_bundle`).
- `device_bundle(user)`: what a device needs, versioned by a hash of it all: its user JWT, the NATS URLs, the
  subjects its contract gives it, its notification subject, and with a Nebula host its certificate, the CA bundle,
  the blocklist and its Nebula config (`pki.key` = the path where the device keeps its key).
- `renew(user, nebula=False)`: a new JWT for the same key, and a new certificate when it is due or asked for.

No private key is ever received here: a seed or a private key posted by mistake is refused without being echoed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import nkeys
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from credentials.codecs import natsjwt as nj
from credentials.models import Host, NatsUser
from credentials.services import nats as nats_svc
from credentials.services import nebula as nebula_svc
from inventory import contracts, subjects
from inventory.models import DeviceState, EnrollmentToken, Thing
from inventory.models.enrollment import TOKEN_PREFIX
from inventory.services import contracts as contract_svc
from inventory.services import things as thing_svc
from tenancy.models import hash_secret

TOKEN_PATTERN = re.compile(rf"^{TOKEN_PREFIX}_([0-9a-f]{{12}})_[A-Za-z0-9_-]{{20,100}}$")


class EnrollmentError(Exception):
    """A refusal the device can act on: `field` names what is wrong, `status` the HTTP status."""

    def __init__(self, field: str, message: str, status: int = 400):
        super().__init__(message)
        self.field, self.message, self.status = field, message, status


# --- Tokens ------------------------------------------------------------------------------------------------------


@transaction.atomic
def issue_token(
    thing: Thing, *, created_by=None, network=None, hours: int | None = None
) -> tuple[EnrollmentToken, str]:
    """A one-time enrollment token for `thing`; returns the row and the token text (shown once)."""
    thing = thing_svc.lock_thing(thing)
    if not thing.active:
        raise ValidationError({"thing": "This thing is deactivated; reactivate it before enrolling a device."})
    if network is not None and thing.nebula_host_id:
        raise ValidationError({"network": "This thing has a Nebula host already; its device enrolls into it."})
    token = EnrollmentToken(
        organization_id=thing.organization_id,
        kind=EnrollmentToken.Kind.THING,
        thing=thing,
        network=network,
        created_by=created_by if getattr(created_by, "pk", None) else None,
    )
    if hours is not None:
        if not 0 < hours <= 24 * 30:
            raise ValidationError({"hours": "Enter a lifetime between 1 hour and 30 days (720 hours)."})
        token.expires_at = timezone.now() + timezone.timedelta(hours=hours)
    secret = token.set_new_secret()
    token.full_clean()
    token.save()
    return token, secret


@transaction.atomic
def revoke_token(token: EnrollmentToken) -> EnrollmentToken:
    token = EnrollmentToken.objects.select_for_update().get(pk=token.pk)
    if token.used_at is not None:
        raise ValidationError({"detail": "This token was used already; there is nothing left to revoke."})
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at", "updated"])
    return token


def _claim_token(text) -> EnrollmentToken:
    """The token row, locked, if `text` is an open token; refusals say what is wrong with it."""
    if not isinstance(text, str) or not text:
        raise EnrollmentError("token", "Enter the enrollment token.")
    match = TOKEN_PATTERN.match(text)
    if match is None:
        raise EnrollmentError("token", f"This is not an enrollment token (they look like {TOKEN_PREFIX}_<12 hex>_…).")
    token = (
        EnrollmentToken.objects.select_for_update(of=("self",))
        .select_related("organization")
        .filter(prefix=match.group(1))
        .first()
    )
    if token is None or not hmac.compare_digest(token.secret_hash, hash_secret(text)):
        raise EnrollmentError("token", "This enrollment token is unknown.", 403)
    if token.revoked_at is not None:
        raise EnrollmentError("token", "This enrollment token was revoked; ask for a new one.", 403)
    if token.used_at is not None:
        raise EnrollmentError("token", "This enrollment token was used already; each token enrolls once.", 403)
    if token.expires_at <= timezone.now():
        raise EnrollmentError("token", "This enrollment token has expired; ask for a new one.", 403)
    if not token.organization.active:
        raise EnrollmentError("token", "This enrollment token's organization is deactivated.", 403)
    return token


# --- Keys --------------------------------------------------------------------------------------------------------


def check_nats_key(value) -> str:
    """The device's NATS user public key; a seed, an account key or garbage is refused (never echoed)."""
    if not isinstance(value, str) or not value.strip():
        raise EnrollmentError("nats_public_key", "Enter the device's NATS user public key (56 characters, U…).")
    value = value.strip()
    if value.startswith("S"):
        try:
            nkeys.from_seed(value.encode())
        except Exception:  # noqa: BLE001, S110 - not a seed: reported as not a key below
            pass
        else:
            raise EnrollmentError(
                "nats_public_key",
                "This is an nkey seed, a private key: it must never leave the device. Send its public key (U…).",
            )
    if nj.is_valid_public_key(value, nj.USER):
        return value
    if nj.is_valid_public_key(value):
        raise EnrollmentError(
            "nats_public_key", f"This is a public key of another kind ({value[0]}…); send a NATS user public key (U…)."
        )
    raise EnrollmentError("nats_public_key", "This is not a NATS user public key (56 characters, U…).")


def check_nebula_key(value) -> bytes:
    """The device's X25519 public key (nebula-cert keygen's `.pub` PEM, base64 or hex)."""
    if not isinstance(value, str) or not value.strip():
        raise EnrollmentError("nebula_public_key", "This thing has a Nebula host: send the device's X25519 public key.")
    if "PRIVATE" in value.upper():
        raise EnrollmentError(
            "nebula_public_key",
            "This is a private key: it must never leave the device. Send the public key (nebula-cert keygen -out-pub).",
        )
    try:
        return nebula_svc.parse_device_public_key(value)
    except ValidationError as exc:
        reason = " ".join(exc.messages)
        raise EnrollmentError("nebula_public_key", f"This is not an X25519 public key: {reason}") from None


def check_key_path(value) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 255 or "\n" in value or "\0" in value or not value.startswith("/"):
        raise EnrollmentError("nebula_key_path", "Enter the absolute path of the device's Nebula private key file.")
    return value


# --- Enrollment --------------------------------------------------------------------------------------------------


def _thing_user(thing: Thing, public_key: str) -> NatsUser:
    if thing.nats_user_id:
        return nats_svc.adopt_device_key(thing.nats_user, public_key)
    user = nats_svc.create_user(
        account=contract_svc.account_of(thing.organization),
        name=thing.code,
        owner_kind=NatsUser.OwnerKind.THING,
        signing_key=contract_svc.type_key(thing.thing_type),
        tags=contract_svc.thing_user_tags(thing),
        device_public_key=public_key,
    )
    thing.nats_user = user
    thing.full_clean()
    thing.save(update_fields=["nats_user", "updated"])
    return user


def _thing_host(thing: Thing, token: EnrollmentToken, public_key: str, key_path: str | None) -> Host | None:
    if thing.nebula_host_id:
        return nebula_svc.adopt_device_key(thing.nebula_host, public_key, key_path=key_path)
    if token.network_id is None:
        return None
    host = nebula_svc.create_host(
        organization=thing.organization,
        network=token.network,
        hostname=thing.code,
        public_key=public_key,
        key_path=key_path or "",
    )
    thing.nebula_host = host
    thing.full_clean()
    thing.save(update_fields=["nebula_host", "updated"])
    return host


def _identity_error(exc: ValidationError, field: str) -> EnrollmentError:
    messages = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
    text = " ".join(m for ms in messages.values() for m in ms)
    return EnrollmentError(field, text, 409 if "already used" in text or "belongs to another" in text else 400)


def enroll(token_text, nats_public_key, nebula_public_key=None, nebula_key_path=None) -> dict:
    """Enroll a device with its own public keys; returns its bundle. Raises `EnrollmentError`."""
    nats_key = check_nats_key(nats_public_key)
    key_path = check_key_path(nebula_key_path)
    with transaction.atomic():
        token = _claim_token(token_text)
        thing = thing_svc.lock_thing(token.thing)
        if not thing.active:
            raise EnrollmentError("token", "This thing is deactivated; it cannot enroll a device.", 403)
        wants_host = thing.nebula_host_id is not None or token.network_id is not None
        nebula_key = check_nebula_key(nebula_public_key).hex() if wants_host else None
        try:
            user = _thing_user(thing, nats_key)
        except ValidationError as exc:
            raise _identity_error(exc, "nats_public_key") from None
        try:
            _thing_host(thing, token, nebula_key, key_path) if wants_host else None
        except ValidationError as exc:
            raise _identity_error(exc, "nebula_public_key") from None
        token.used_at = timezone.now()
        token.used_by_key = nats_key
        token.save(update_fields=["used_at", "used_by_key", "updated"])
        # The thing's other open tokens would enroll yet another device: they go.
        token.thing.enrollment_tokens.usable().exclude(pk=token.pk).update(revoked_at=token.used_at)
        DeviceState.objects.update_or_create(
            nats_user=user,
            defaults={
                "organization_id": thing.organization_id,
                "enrolled_at": token.used_at,
                "last_fetch_at": None,
                "fetched_version": "",
            },
        )
        return device_bundle(NatsUser.objects.get(pk=user.pk))


# --- The device's config -----------------------------------------------------------------------------------------


def nats_urls() -> list[str]:
    return list(settings.NATS_PUBLIC_URLS or [settings.NATS_URL])


def _iso(value: datetime | int | None) -> str | None:
    if not value:
        return None
    if isinstance(value, int):
        value = datetime.fromtimestamp(value, UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def thing_subjects(thing: Thing) -> list[dict]:
    """The subjects the thing's contract gives it, rendered for this thing."""
    values = thing.subject_values()
    prefix = thing.thing_type.subject_prefix
    return [
        {
            "operation": op.name,
            "capability": op.capability,
            "subject": subjects.render(subjects.join(prefix, op.subject_suffix), values),
        }
        for op in thing.thing_type.operations.order_by("pk")
    ]


def _owner(user: NatsUser) -> Thing | None:
    return (
        Thing.objects.select_related("thing_type", "location", "organization", "nebula_host__network__ca")
        .filter(nats_user=user)
        .first()
    )


def version_of(bundle: dict) -> str:
    body = {key: value for key, value in bundle.items() if key != "version"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def device_bundle(user: NatsUser) -> dict:
    """Everything the device needs, with `version`: a hash of the rest (its ETag)."""
    thing = _owner(user)
    bundle: dict = {
        "organization": user.organization.slug,
        "kind": "thing",
        "code": thing.code if thing else user.name,
        "nats": {
            "public_key": user.public_key,
            "jwt": user.jwt,
            "jwt_expires_at": _iso(user.jwt_exp),
            "urls": nats_urls(),
            "subjects": thing_subjects(thing) if thing else [],
            "inbox_prefix": contracts.inbox_prefix(thing.code) if thing else None,
            "notify_subject": contracts.notify_subject(thing.code) if thing else None,
        },
        "nebula": None,
    }
    host = thing.nebula_host if thing else None
    if host is not None and host.active and host.key_source == Host.KeySource.DEVICE:
        ca = host.network.ca
        bundle["nebula"] = {
            "hostname": host.hostname,
            "overlay_ip": host.overlay_ip,
            "certificate": host.certificate,
            "fingerprint": host.fingerprint,
            "not_before": _iso(host.not_before),
            "not_after": _iso(host.not_after),
            "ca": ca.bundle,
            "blocklist": nebula_svc.blocklist(ca),
            "key_path": host.device_key_path,
            "config": nebula_svc.render_config(host),
        }
    bundle["version"] = version_of(bundle)
    return bundle


def record_fetch(user: NatsUser, version: str) -> None:
    DeviceState.objects.update_or_create(
        nats_user=user,
        defaults={"organization_id": user.organization_id, "last_fetch_at": timezone.now(), "fetched_version": version},
    )


@transaction.atomic
def renew(user: NatsUser, *, nebula: bool = False) -> dict:
    """A new JWT for the device's key; a new certificate for its Nebula key when due or asked for."""
    user = nats_svc.regenerate_user(user)
    thing = _owner(user)
    host = thing.nebula_host if thing else None
    if host is not None and host.active and (nebula or nebula_svc.renewal_due(host, host.network.ca)):
        nebula_svc.renew_host(host)
    DeviceState.objects.update_or_create(
        nats_user=user, defaults={"organization_id": user.organization_id, "last_renewal_at": timezone.now()}
    )
    return device_bundle(NatsUser.objects.get(pk=user.pk))


# --- What a device is behind on (the admin) ----------------------------------------------------------------------


@dataclass
class Lag:
    state: DeviceState | None
    current_version: str
    stale: bool
    certificate_expiring: datetime | None
    jwt_expiring: datetime | None

    @property
    def behind(self) -> list[str]:
        items = []
        if self.state is None or not self.state.last_fetch_at:
            items.append("never fetched its config")
        elif self.stale:
            items.append("config version stale")
        if self.certificate_expiring:
            items.append(f"certificate expires {self.certificate_expiring:%Y-%m-%d %H:%M} UTC")
        if self.jwt_expiring:
            items.append(f"JWT expires {self.jwt_expiring:%Y-%m-%d %H:%M} UTC")
        return items


def lag(thing: Thing) -> Lag | None:
    """What the thing's enrolled device is behind on; None for a thing whose key is not held by a device."""
    user = thing.nats_user
    if user is None or user.seed:
        return None
    state = DeviceState.objects.filter(nats_user=user).first()
    bundle = device_bundle(user)
    horizon = timezone.now() + timezone.timedelta(days=settings.DEVICE_EXPIRY_WARNING_DAYS)
    host = thing.nebula_host
    cert_end = host.not_after if host is not None and host.active else None
    jwt_end = datetime.fromtimestamp(user.jwt_exp, UTC) if user.jwt_exp else None
    return Lag(
        state=state,
        current_version=bundle["version"],
        stale=bool(state and state.fetched_version != bundle["version"]),
        certificate_expiring=cert_end if cert_end and cert_end <= horizon else None,
        jwt_expiring=jwt_end if jwt_end and jwt_end <= horizon else None,
    )
