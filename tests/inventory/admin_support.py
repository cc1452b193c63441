"""Builders for the inventory admin tests (and the admin matrix): a small PNG, and one of each inventory row."""

from __future__ import annotations

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from inventory.models import Floorplan, Location, LocationType, MessageSchema, Thing
from inventory.services import types


def png_bytes(width: int = 400, height: int = 300, color=(240, 240, 230)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def png_upload(width: int = 400, height: int = 300, name: str = "plan.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, png_bytes(width, height), content_type="image/png")


def make_schema(org, name: str = "temperature") -> MessageSchema:
    return types.save_message_schema(
        MessageSchema(organization=org, namespace="acme", name=name, version="1.0.0", schema={"type": "object"})
    )


def make_type(org, code: str = "sensor", **fields):
    fields.setdefault("name", code.title())
    fields.setdefault("operations", [{"name": "temp", "capability": "publish", "subject_suffix": "telemetry.temp"}])
    return types.create_type(organization=org, code=code, **fields)


def make_location_type(org, code: str = "building") -> LocationType:
    location_type = LocationType(organization=org, code=code, name=code.title())
    location_type.full_clean()
    location_type.save()
    return location_type


def make_location(org, code: str, parent=None, **fields) -> Location:
    location = Location(organization=org, code=code, name=fields.pop("name", code.title()), parent=parent, **fields)
    location.full_clean()
    location.save()
    return location


def make_floorplan(org, location, name: str = "Ground floor", width: int = 400, height: int = 300) -> Floorplan:
    floorplan = Floorplan(organization=org, location=location, name=name, image=png_upload(width, height))
    floorplan.full_clean()
    floorplan.save()
    return floorplan


def make_thing(org, thing_type, code: str, location=None, **fields) -> Thing:
    thing = Thing(organization=org, thing_type=thing_type, code=code, location=location, **fields)
    thing.full_clean()
    thing.save()
    return thing


def inventory_of(org) -> dict:
    """{model label: an object of `org`} for every inventory model with an admin page."""
    thing_type = make_type(org)
    location_type = make_location_type(org)
    site = make_location(org, "hq", location_type=location_type)
    return {
        "inventory.messageschema": make_schema(org),
        "inventory.thingtype": thing_type,
        "inventory.locationtype": location_type,
        "inventory.location": site,
        "inventory.floorplan": make_floorplan(org, site),
        "inventory.thing": make_thing(org, thing_type, "s-01", location=site),
    }


def admin_url(model: str, view: str = "changelist", *args) -> str:
    return reverse(f"admin:inventory_{model}_{view}", args=args)
