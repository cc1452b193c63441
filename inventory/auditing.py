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
    # The secret is never stored (only its hash), and the hash is excluded too.
    register(m.EnrollmentToken, exclude=["secret_hash"])
    register(m.LeafNode, exclude=["last_seen_at", "last_status"])
    register(m.Command)
    register(m.DeviceToken, exclude=["secret_hash", "last_used_at"])
