"""What of the inventory the audit log records."""

from audit.registry import register


def register_inventory() -> None:
    from inventory import models as m

    register(m.MessageSchema)
    register(m.ThingType)
    register(m.Operation)
    register(m.LocationType)
    register(m.Location, exclude=["path"])
    register(m.Floorplan)
    register(m.Placement)
    register(m.Thing)
    register(m.Command)
