from inventory.models.commands import Command  # noqa: F401
from inventory.models.contracts import MessageSchema, Operation, ThingType  # noqa: F401
from inventory.models.device_tokens import DeviceToken  # noqa: F401
from inventory.models.edge import LeafNode  # noqa: F401
from inventory.models.enrollment import DeviceState, EnrollmentToken  # noqa: F401
from inventory.models.places import Floorplan, Location, LocationType, Placement  # noqa: F401
from inventory.models.things import Thing  # noqa: F401
