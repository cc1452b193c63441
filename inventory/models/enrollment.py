"""Enrollment: how a device gets onto the data plane with keys it generated itself.

An owner or admin issues an `EnrollmentToken` for a thing (a leaf node later: `kind` names what the token is for,
and each kind has its own nullable link). The token's secret is shown once and stored hashed; it expires
(`ENROLLMENT_TOKEN_HOURS`), works once (`used_at`) and can be revoked (`revoked_at`). The device posts it with its
public keys to `POST /api/v1/enroll/` (`inventory.services.enrollment`).

`DeviceState` records what each enrolled device last fetched from `GET /api/v1/devices/config/`, so the admin can
show what it is behind on.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from credentials.models import NatsUser, Network
from inventory.models.base import InventoryModel
from inventory.models.things import Thing
from tenancy.models import hash_secret
from tenancy.scoping import OrgScopedQuerySet

TOKEN_PREFIX = "sae"  # noqa: S105 - a public marker, not a secret


def token_hours() -> int:
    return getattr(settings, "ENROLLMENT_TOKEN_HOURS", 24)


class EnrollmentTokenQuerySet(OrgScopedQuerySet):
    def usable(self):
        return self.filter(used_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())


class EnrollmentToken(InventoryModel):
    class Kind(models.TextChoices):
        THING = "thing", "Thing"

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.THING, editable=False)
    thing = models.ForeignKey(
        Thing, null=True, blank=True, on_delete=models.CASCADE, related_name="enrollment_tokens", editable=False
    )
    network = models.ForeignKey(
        Network,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Nebula network of the host made at enrollment, for a thing that has none yet.",
    )
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True, editable=False)
    #: The NATS public key that enrolled with it (public, like every key recorded here).
    used_by_key = models.CharField(max_length=56, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    objects = EnrollmentTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="thing") | models.Q(thing__isnull=False),
                name="enrollmenttoken_thing_for_kind_thing",
                violation_error_message="A token for a thing names the thing.",
            )
        ]
        indexes = [models.Index(fields=["organization", "thing", "created"], name="enrollmenttoken_org_thing")]

    def __str__(self) -> str:
        return f"{self.prefix}… for {self.target}"

    @property
    def target(self):
        return self.thing

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.used_at is not None:
            return "used"
        return "expired" if self.expires_at <= timezone.now() else "open"

    def set_new_secret(self) -> str:
        """Generate the secret and the expiry; returns the full token, which is shown once and never stored."""
        self.prefix = secrets.token_hex(6)
        token = f"{TOKEN_PREFIX}_{self.prefix}_{secrets.token_urlsafe(32)}"
        self.secret_hash = hash_secret(token)
        if self.expires_at is None:
            self.expires_at = timezone.now() + timedelta(hours=token_hours())
        return token

    def clean(self) -> None:
        errors = self.same_organization_errors(thing=self.thing, network=self.network)
        if errors:
            raise ValidationError(errors)


class DeviceState(InventoryModel):
    """What an enrolled device last fetched: one row per NATS user that holds a device-generated key."""

    nats_user = models.OneToOneField(NatsUser, on_delete=models.CASCADE, related_name="device_state")
    enrolled_at = models.DateTimeField(null=True, blank=True)
    last_fetch_at = models.DateTimeField(null=True, blank=True)
    fetched_version = models.CharField(max_length=64, blank=True)
    last_renewal_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "device state"

    def __str__(self) -> str:
        return f"device {self.nats_user.name}"
