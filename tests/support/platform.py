"""A populated platform for backup and restore tests: organizations, people, NATS users, a thing with its own
NATS user and Nebula host, a floorplan image, and the audit events all of that wrote."""

from __future__ import annotations

import io
from dataclasses import dataclass

from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from PIL import Image

from credentials.models import Account, Host, NatsUser
from credentials.services import nats as nats_svc
from credentials.services import nebula as nebula_svc
from inventory.models import Floorplan, Location, Thing, ThingType
from inventory.services import things as thing_svc
from stoneage import backup
from tests.support.world import World, build_world


@dataclass
class Platform:
    world: World
    device: NatsUser
    thing: Thing
    host: Host
    floorplan: Floorplan


def png(width: int = 32, height: int = 24) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(buffer, format="PNG")
    return SimpleUploadedFile("ground.png", buffer.getvalue())


def build_platform() -> Platform:
    nats_svc.bootstrap()
    world = build_world()
    account = Account.objects.get(organization=world.org)
    device = nats_svc.create_user(
        account=account, name="gateway", publish_allow=["telemetry.>"], subscribe_allow=["telemetry.>"]
    )
    place = Location.objects.create(organization=world.org, code="hq", name="HQ")
    floorplan = Floorplan(organization=world.org, location=place, name="Ground", image=png())
    floorplan.full_clean()
    floorplan.save()
    kind = ThingType.objects.create(organization=world.org, code="sensor", name="Sensor")
    network = nebula_svc.create_network(organization=world.org, name="mesh", cidr="10.42.0.0/24")
    thing = thing_svc.create_thing(
        organization=world.org,
        code="s-01",
        name="Sensor 1",
        thing_type=kind,
        location=place,
        nats_mode=thing_svc.Mode.AUTO,
        nebula_mode=thing_svc.Mode.AUTO,
        network=network,
    )
    return Platform(world=world, device=device, thing=thing, host=thing.nebula_host, floorplan=floorplan)


def table_rows() -> dict[str, list[tuple]]:
    """Every backed-up table's rows, as stored, in primary-key order."""
    rows = {}
    for model in backup.backed_up_models():
        fields = [f.attname for f in model._meta.local_concrete_fields]
        rows[model._meta.label_lower] = list(models.QuerySet(model).order_by("pk").values_list(*fields))
    return rows


def row_counts() -> dict[str, int]:
    return {model._meta.label_lower: models.QuerySet(model).count() for model in backup.backed_up_models()}


def session_model():
    return apps.get_model("sessions", "Session")
