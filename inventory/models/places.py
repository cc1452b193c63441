"""Where things are: location types, a tree of locations, floorplans with things placed on them.

The tree keeps a materialized path (`/1/7/42/`): a subtree is one prefix query, moving a subtree is one UPDATE
of its paths, and a cycle is a parent whose path starts with the moved location's own.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Substr

from inventory.models.base import (
    InventoryModel,
    TypeModel,
    json_schema_field,
    metadata_errors,
    metadata_field,
    validate_code,
)

#: Levels of nesting, at most (site → building → floor → room → … ).
MAX_DEPTH = 16


class LocationType(TypeModel):
    metadata_schema = json_schema_field("JSON Schema the metadata of locations of this type must satisfy.")


class Location(InventoryModel):
    code = models.CharField(max_length=64, validators=[validate_code])
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    location_type = models.ForeignKey(
        LocationType, null=True, blank=True, on_delete=models.PROTECT, related_name="locations", verbose_name="type"
    )
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    path = models.CharField(max_length=MAX_DEPTH * 21 + 1, editable=False, db_index=True)
    address = models.TextField(blank=True)
    latitude = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(-90)), MaxValueValidator(Decimal(90))],
    )
    longitude = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal(-180)), MaxValueValidator(Decimal(180))],
    )
    metadata = metadata_field()

    class Meta:
        ordering = ["code"]
        constraints = [models.UniqueConstraint(fields=["organization", "code"], name="location_unique_code")]

    def __str__(self) -> str:
        return self.name or self.code

    @property
    def depth(self) -> int:
        return self.path.count("/") - 1 if self.path else 0

    def clean(self) -> None:
        errors = self.unique_code_error()
        errors.update(self.same_organization_errors(location_type=self.location_type, parent=self.parent))
        if self.parent_id and "parent" not in errors:
            parent = self.parent
            if self.pk and (parent.pk == self.pk or (self.path and parent.path.startswith(self.path))):
                errors["parent"] = "A location cannot be inside itself or one of its own sub-locations."
            elif parent.depth + self._subtree_height() > MAX_DEPTH:
                errors["parent"] = f"Locations nest at most {MAX_DEPTH} levels deep."
        if (self.latitude is None) != (self.longitude is None):
            errors["longitude" if self.longitude is None else "latitude"] = (
                "Give both latitude and longitude, or neither."
            )
        schema = self.location_type.metadata_schema if self.location_type_id else None
        errors.update(metadata_errors(self.metadata, schema))
        if errors:
            raise ValidationError(errors)

    def _subtree_height(self) -> int:
        """Levels from this location down to its deepest sub-location (1 for a leaf)."""
        if not self.pk or not self.path:
            return 1
        paths = Location.objects.filter(path__startswith=self.path).values_list("path", flat=True)
        return max(p.count("/") - 1 for p in paths) - self.depth + 1

    def save(self, *args, **kwargs) -> None:
        with transaction.atomic():
            old_path = self.path
            if not self.pk:
                super().save(*args, **kwargs)
                kwargs.pop("force_insert", None)
                self.path = self._path_under(self.parent)
                Location.objects.filter(pk=self.pk).update(path=self.path)
                return
            new_path = self._path_under(self.parent)
            self.path = new_path
            super().save(*args, **kwargs)
            if old_path and old_path != new_path:
                # Move the whole subtree in one statement: swap the old prefix for the new one.
                Location.objects.filter(path__startswith=old_path).exclude(pk=self.pk).update(
                    path=Concat(Value(new_path), Substr(F("path"), len(old_path) + 1))
                )

    def _path_under(self, parent: Location | None) -> str:
        base = parent.path if parent is not None else "/"
        return f"{base}{self.pk}/"

    def subtree(self) -> models.QuerySet:
        """This location and everything under it."""
        return Location.objects.filter(organization_id=self.organization_id, path__startswith=self.path)

    def ancestors(self) -> list[int]:
        return [int(p) for p in self.path.strip("/").split("/")[:-1] if p]


def floorplan_upload_to(instance: Floorplan, filename: str) -> str:
    extension = instance.image_format.lower() if instance.image_format else "bin"
    return f"floorplans/{instance.organization_id}/{uuid.uuid4().hex}.{extension}"


class Floorplan(InventoryModel):
    """A drawing of (part of) a location, in pixels. The image is checked when it is uploaded: PNG, JPEG or
    WebP only, within a size and a pixel count (`inventory.images`); SVG is refused (it can carry scripts)."""

    location = models.ForeignKey(Location, on_delete=models.CASCADE, related_name="floorplans")
    name = models.CharField(max_length=100)
    image = models.FileField(upload_to=floorplan_upload_to, max_length=200)
    image_format = models.CharField(max_length=8, editable=False, blank=True)
    width = models.PositiveIntegerField(editable=False, default=0, help_text="Pixels.")
    height = models.PositiveIntegerField(editable=False, default=0, help_text="Pixels.")

    class Meta:
        ordering = ["location", "name"]
        constraints = [models.UniqueConstraint(fields=["location", "name"], name="floorplan_unique_name")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from inventory import images

        errors = self.same_organization_errors(location=self.location if self.location_id else None)
        if self.image and not getattr(self.image, "_committed", True):
            try:
                info = images.inspect(self.image)
            except images.ImageRejected as exc:
                errors["image"] = str(exc)
            else:
                self.image_format, self.width, self.height = info.format, info.width, info.height
        if errors:
            raise ValidationError(errors)


class Placement(InventoryModel):
    """A thing drawn on a floorplan at (x, y), in the image's pixels from its top-left corner."""

    floorplan = models.ForeignKey(Floorplan, on_delete=models.CASCADE, related_name="placements")
    thing = models.ForeignKey("inventory.Thing", on_delete=models.CASCADE, related_name="placements")
    x = models.FloatField(validators=[MinValueValidator(0)])
    y = models.FloatField(validators=[MinValueValidator(0)])

    class Meta:
        ordering = ["floorplan", "thing"]
        constraints = [models.UniqueConstraint(fields=["floorplan", "thing"], name="placement_unique_thing")]

    def __str__(self) -> str:
        return f"{self.thing} on {self.floorplan}"

    def clean(self) -> None:
        floorplan = self.floorplan if self.floorplan_id else None
        thing = self.thing if self.thing_id else None
        errors = self.same_organization_errors(floorplan=floorplan, thing=thing)
        if floorplan is not None and "floorplan" not in errors:
            if self.x is not None and not 0 <= self.x <= floorplan.width:
                errors["x"] = f"Place the thing inside the image (0 to {floorplan.width} pixels)."
            if self.y is not None and not 0 <= self.y <= floorplan.height:
                errors["y"] = f"Place the thing inside the image (0 to {floorplan.height} pixels)."
        if errors:
            raise ValidationError(errors)
