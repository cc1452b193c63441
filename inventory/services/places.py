"""Domain actions on where things are: location types, the location tree, floorplans and placements.

Each action checks the row with `full_clean()` (the models hold the rules: same organization, no cycles, depth,
metadata against the type's schema, image checks, placements inside the image) and saves it in one transaction.
Moving a location is changing its parent: its whole subtree follows (`Location.save`).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from inventory.models import Floorplan, Location, LocationType, Placement


def _saved(obj, changes: dict | None = None):
    for name, value in (changes or {}).items():
        setattr(obj, name, value)
    obj.full_clean()
    obj.save()
    return obj


@transaction.atomic
def save_location_type(location_type: LocationType, **changes) -> LocationType:
    """Create (unsaved `location_type`) or change a location type."""
    return _saved(location_type, changes)


@transaction.atomic
def delete_location_type(location_type: LocationType) -> None:
    if location_type.locations.exists():
        raise ValidationError({"location_type": "Locations still have this type; change them first."})
    location_type.delete()


@transaction.atomic
def save_location(location: Location, **changes) -> Location:
    """Create (unsaved `location`) or change a location; a new `parent` moves it with its subtree."""
    if location.pk:
        # Checks against the subtree (cycles, depth) read the paths as they are now.
        Location.objects.select_for_update().filter(pk=location.pk).first()
    return _saved(location, changes)


@transaction.atomic
def delete_location(location: Location) -> None:
    """A location with sub-locations or things stays (move or delete those first); its floorplans go with it."""
    if location.children.exists():
        raise ValidationError({"location": "This location has sub-locations; move or delete them first."})
    if location.things.exists():
        raise ValidationError({"location": "Things are at this location; move or delete them first."})
    files = [plan.image for plan in location.floorplans.all()]
    location.delete()
    for image in files:
        transaction.on_commit(lambda image=image: image.delete(save=False))


@transaction.atomic
def save_floorplan(floorplan: Floorplan, **changes) -> Floorplan:
    """Create (unsaved `floorplan`) or change a floorplan; a new image is checked before it is stored, and the
    image it replaces is removed once the change is committed."""
    previous = None
    if floorplan.pk and "image" in changes:
        previous = Floorplan.objects.filter(pk=floorplan.pk).values_list("image", flat=True).first()
    floorplan = _saved(floorplan, changes)
    if previous and previous != floorplan.image.name:
        storage = floorplan.image.storage
        transaction.on_commit(lambda: storage.delete(previous))
    return floorplan


@transaction.atomic
def delete_floorplan(floorplan: Floorplan) -> None:
    image = floorplan.image
    floorplan.delete()
    if image:
        transaction.on_commit(lambda: image.delete(save=False))


@transaction.atomic
def save_placement(placement: Placement, **changes) -> Placement:
    """Place a thing on a floorplan (unsaved `placement`) or move it."""
    return _saved(placement, changes)


@transaction.atomic
def delete_placement(placement: Placement) -> None:
    placement.delete()
