"""Domain actions on placements: a thing drawn on a floorplan at (x, y) pixels of the image."""

from __future__ import annotations

from django.db import transaction

from inventory.models import Floorplan, Placement, Thing


@transaction.atomic
def place_thing(floorplan: Floorplan, thing: Thing, x: float, y: float) -> tuple[Placement, bool]:
    """Put `thing` on `floorplan` at (x, y), or move it there if it is placed already. The model's rules (same
    organization, inside the image) are checked before anything is saved. Returns the placement and whether
    it is new."""
    placement = Placement.objects.select_for_update().filter(floorplan=floorplan, thing=thing).first()
    created = placement is None
    if created:
        placement = Placement(organization_id=floorplan.organization_id, floorplan=floorplan, thing=thing)
    placement.x, placement.y = x, y
    placement.full_clean()
    placement.save()
    return placement, created


@transaction.atomic
def remove_placement(placement: Placement) -> None:
    placement.delete()
