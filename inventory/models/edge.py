"""Leaf nodes: edge sites running their own nats-server as a leaf of the hub. Local devices authenticate at the
edge with their own credentials and keep working when the hub is unreachable; the leaf's JetStream domain holds
what they publish meanwhile, and the hub sources it on reconnection (`inventory.services.edge`)."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from credentials.models import Host, NatsUser
from inventory.models.base import InventoryModel, validate_code
from inventory.models.places import Location

#: A JetStream domain is one subject token (`$JS.<domain>.API.>`).
validate_domain = RegexValidator(
    r"^[A-Za-z0-9_-]{1,64}$",
    "Use 1-64 letters, digits, hyphens or underscores (the domain is a token of `$JS.<domain>.API`).",
)

#: What a leaf may mirror of its organization's inventory.
SYNCABLE = ("things", "locations", "thing_types", "location_types", "operations", "message_schemas")


def validate_synced(value) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("Enter a list of names.")
    unknown = sorted(set(value) - set(SYNCABLE))
    if unknown:
        raise ValidationError(f"Unknown: {', '.join(unknown)}. Choose among {', '.join(SYNCABLE)}.")
    if len(set(value)) != len(value):
        raise ValidationError("Name each one once.")


class LeafNode(InventoryModel):
    #: Fields only its actions change: the identities and whether the leaf may connect.
    IDENTITY_FIELDS = ("nats_user", "nebula_host", "active")
    #: Offline once no report came for this many report intervals.
    OFFLINE_AFTER_INTERVALS = 3

    code = models.CharField(
        max_length=64, validators=[validate_code], help_text="Frozen once created (it names the leaf's NATS user)."
    )
    name = models.CharField(max_length=100, blank=True)
    description = models.TextField(blank=True)
    domain = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_domain],
        help_text="The JetStream domain of the leaf; empty = `edge-<code>`.",
    )
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.PROTECT, related_name="leaf_nodes")
    synced = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_synced],
        help_text=f"What the leaf mirrors of the organization's inventory: any of {', '.join(SYNCABLE)}.",
    )
    nats_user = models.OneToOneField(
        NatsUser,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leaf_node",
        verbose_name="NATS user",
        editable=False,
    )
    system_user = models.OneToOneField(
        NatsUser,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leaf_node_system",
        verbose_name="system user",
        editable=False,
        help_text="In the system account: receives only the claim updates of the organization's account.",
    )
    nebula_host = models.OneToOneField(
        Host,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="leaf_node",
        verbose_name="Nebula host",
        error_messages={"unique": "This Nebula host is already linked to another leaf node."},
        help_text="With a host, the leaf reaches the hub over the Nebula overlay.",
    )
    active = models.BooleanField(default=True, editable=False)
    report_interval = models.PositiveIntegerField(
        default=30, validators=[MinValueValidator(1)], help_text="Seconds between the leaf's reports."
    )
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_status = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "code"], name="leafnode_unique_code"),
            models.UniqueConstraint(fields=["organization", "domain"], name="leafnode_unique_domain"),
        ]

    def __str__(self) -> str:
        return self.code

    def save(self, *args, **kwargs):
        if not self.domain and self.code:
            self.domain = f"edge-{self.code}"
        super().save(*args, **kwargs)

    @property
    def online(self) -> bool:
        if self.last_seen_at is None or not self.active:
            return False
        allowed = timedelta(seconds=self.report_interval * self.OFFLINE_AFTER_INTERVALS)
        return timezone.now() - self.last_seen_at <= allowed

    def clean(self) -> None:
        if not self.domain and self.code:
            self.domain = f"edge-{self.code}"
        errors = self.unique_code_error()
        errors.update({k: v for k, v in self.unique_code_error("domain").items()})
        if self.pk:
            stored = type(self).objects.filter(pk=self.pk).values_list("code", flat=True).first()
            if stored is not None and stored != self.code:
                errors["code"] = "A leaf node's code cannot change once created (it names its NATS user and domain)."
        errors.update(
            self.same_organization_errors(
                location=self.location, nats_user=self.nats_user, nebula_host=self.nebula_host
            )
        )
        if (
            self.nats_user_id
            and "nats_user" not in errors
            and self.nats_user.owner_kind != NatsUser.OwnerKind.LEAF_NODE
        ):
            errors["nats_user"] = "Only a NATS user owned by a leaf node may be linked."
        if errors:
            raise ValidationError(errors)
