"""The inventory in the Django admin: contracts (types, operations, schemas, location types), places
(locations with their tree, floorplans with their plan page) and things."""

from inventory.admin import contracts, device_tokens, edge, enrollment, places, things  # noqa: F401
