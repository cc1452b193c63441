"""Builders and clients shared by the inventory API tests."""

from __future__ import annotations

import io

from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from credentials.services import nebula as nebula_svc
from inventory.models import Location, LocationType, Thing
from inventory.services import places, things, types

SENSOR_SCHEMA = {
    "type": "object",
    "properties": {"floor": {"type": "integer", "minimum": 0}, "vendor": {"type": "string"}},
}


def url(name: str, org, *args) -> str:
    slug = org if isinstance(org, str) else org.slug
    return reverse(f"inventory-api:{name}", args=[slug, *args])


def client_of(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def make_type(org, code: str = "sensor", **fields):
    fields.setdefault("metadata_schema", SENSOR_SCHEMA)
    fields.setdefault("operations", [{"name": "temp", "capability": "publish", "subject_suffix": "telemetry.temp"}])
    return types.create_type(organization=org, code=code, name=code.title(), **fields)


def make_location(org, code: str, parent: Location | None = None, **fields) -> Location:
    return places.save_location(Location(organization=org, code=code, name=code.title(), parent=parent, **fields))


def make_location_type(org, code: str = "room", **fields) -> LocationType:
    return places.save_location_type(LocationType(organization=org, code=code, name=code.title(), **fields))


def make_thing(org, code: str, thing_type, **fields) -> Thing:
    return things.create_thing(organization=org, code=code, thing_type=thing_type, **fields)


def make_network(org, cidr: str = "10.42.0.0/24", name: str = "mesh"):
    return nebula_svc.create_network(organization=org, name=name, cidr=cidr)


def image_bytes(fmt: str = "PNG", size=(64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=fmt)
    return buffer.getvalue()
