"""Things: the devices of the fleet. A thing has a type (its contract), a place, metadata checked against its
type's schema, and optionally a NATS user and a Nebula host (its identities on the data plane)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from credentials.models import Host, NatsUser
from inventory import subjects
from inventory.models.base import InventoryModel, metadata_field, validate_code
from inventory.models.contracts import ThingType
from inventory.models.places import Location


def identity_field(model, label: str) -> models.OneToOneField:
    """A thing's identity on the data plane: at most one thing per `model` row, unlinked when the row goes."""
    return models.OneToOneField(
        model,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="thing",
        verbose_name=label,
        error_messages={"unique": f"This {label} is already linked to another thing."},
    )


class Thing(InventoryModel):
    #: Fields only owners and admins change: the thing's identities and whether it may connect.
    IDENTITY_FIELDS = ("nats_user", "nebula_host", "active")

    code = models.CharField(max_length=64, validators=[validate_code])
    name = models.CharField(max_length=100, blank=True)
    description = models.TextField(blank=True)
    thing_type = models.ForeignKey(ThingType, on_delete=models.PROTECT, related_name="things", verbose_name="type")
    location = models.ForeignKey(Location, null=True, blank=True, on_delete=models.PROTECT, related_name="things")
    metadata = metadata_field()
    active = models.BooleanField(default=True)
    nats_user = identity_field(NatsUser, "NATS user")
    nebula_host = identity_field(Host, "Nebula host")

    class Meta:
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["organization", "code"], name="thing_unique_code")]
        indexes = [
            models.Index(fields=["organization", "thing_type", "code"], name="thing_org_type_code"),
            models.Index(fields=["organization", "location", "code"], name="thing_org_location_code"),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def location_code(self) -> str:
        return self.location.code if self.location_id else subjects.NO_LOCATION

    def subject_values(self) -> dict[str, str]:
        """What the placeholders of the type's subject templates stand for, for this thing."""
        return {
            "org": self.organization.slug,
            "location": self.location_code,
            "thing_type": self.thing_type.code,
            "thing": self.code,
        }

    def clean(self) -> None:
        errors = self.unique_code_error()
        errors.update(
            self.same_organization_errors(
                thing_type=self.thing_type if self.thing_type_id else None,
                location=self.location,
                nats_user=self.nats_user,
                nebula_host=self.nebula_host,
            )
        )
        if self.thing_type_id and "thing_type" not in errors:
            errors.update(self.thing_type.metadata_errors(self.metadata))
        if self.nats_user_id and "nats_user" not in errors and self.nats_user.owner_kind != NatsUser.OwnerKind.THING:
            errors["nats_user"] = (
                "Only a NATS user owned by a thing may be linked (this one belongs to a person or a service)."
            )
        if errors:
            raise ValidationError(errors)
