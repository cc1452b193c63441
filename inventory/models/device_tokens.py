"""Bearer tokens for things whose devices cannot sign requests (the HTTP gateway, `inventory.devices.gateway`).

An owner or admin issues a token for a thing; its text is shown once and stored hashed (`secret_hash`), with a
public `prefix` to find it and to name it in lists and the audit log. A token works until it is revoked or
expires (optional), and only while its thing is active (and its NATS user, when it has one): the gateway reads
both on every request. `last_used_at` is updated at most once a minute.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from inventory.models.base import InventoryModel
from inventory.models.things import Thing
from tenancy.models import hash_secret

TOKEN_PREFIX = "sah"  # noqa: S105 - a public marker, not a secret


class DeviceToken(InventoryModel):
    thing = models.ForeignKey(Thing, on_delete=models.CASCADE, related_name="http_tokens", editable=False)
    name = models.CharField(max_length=100, blank=True, help_text="What the token is for (e.g. the device's model).")
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta:
        ordering = ["-created"]
        verbose_name = "device HTTP token"
        indexes = [models.Index(fields=["organization", "thing", "created"], name="devicetoken_org_thing")]

    def __str__(self) -> str:
        return f"{self.prefix}… for {self.thing}"

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"

    def set_new_secret(self) -> str:
        """Generate the secret; returns the full token, shown once and never stored."""
        self.prefix = secrets.token_hex(6)
        token = f"{TOKEN_PREFIX}_{self.prefix}_{secrets.token_urlsafe(32)}"
        self.secret_hash = hash_secret(token)
        return token
