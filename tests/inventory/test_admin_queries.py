"""Inventory list pages (and the plan page, and the location tree) make as many queries for 50 rows as for 5."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from inventory.models import Placement
from tests.inventory.admin_support import (
    admin_url,
    make_floorplan,
    make_location,
    make_location_type,
    make_schema,
    make_thing,
    make_type,
)

pytestmark = pytest.mark.django_db


def add_rows(org, model: str, start: int, stop: int, shared) -> None:
    for i in range(start, stop):
        if model == "thing":
            make_thing(org, shared["type"], f"t-{i}", location=shared["location"])
        elif model == "location":
            make_location(org, f"l-{i}", parent=shared["location"], location_type=shared["location_type"])
        elif model == "floorplan":
            make_floorplan(org, shared["location"], name=f"f-{i}", width=8, height=8)
        elif model == "thingtype":
            make_type(org, f"type-{i}")
        elif model == "messageschema":
            make_schema(org, name=f"s_{i}")
        elif model == "locationtype":
            make_location_type(org, f"lt-{i}")


def queries(client, url) -> int:
    client.get(url)  # warm the per-process caches (content types)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("model", ["thing", "location", "floorplan", "thingtype", "messageschema", "locationtype"])
@pytest.mark.parametrize("who", ["viewer", "superuser"])
def test_list_queries_do_not_grow_with_rows(world, model, who):
    location_type = make_location_type(world.org, "site")
    shared = {
        "type": make_type(world.org, "base"),
        "location_type": location_type,
        "location": make_location(world.org, "root", location_type=location_type),
    }
    client = Client()
    client.force_login(world.superuser if who == "superuser" else world.user("viewer"))
    url = admin_url(model)
    add_rows(world.org, model, 0, 5, shared)
    few = queries(client, url)
    add_rows(world.org, model, 5, 50, shared)
    many = queries(client, url)
    assert many == few, f"{model}: {few} queries for 5 rows, {many} for 50"


def test_plan_page_and_tree_queries_do_not_grow(world):
    sensor = make_type(world.org)
    site = make_location(world.org, "site")
    floorplan = make_floorplan(world.org, site, width=1000, height=1000)
    client = Client()
    client.force_login(world.user("member"))

    def stock(start, stop):
        for i in range(start, stop):
            room = make_location(world.org, f"room-{i}", parent=site)
            thing = make_thing(world.org, sensor, f"t-{i}", location=room)
            Placement.objects.create(organization=world.org, floorplan=floorplan, thing=thing, x=i, y=i)

    stock(0, 5)
    few_plan = queries(client, admin_url("floorplan", "change", floorplan.pk))
    few_tree = queries(client, admin_url("location", "tree"))
    stock(5, 50)
    assert queries(client, admin_url("floorplan", "change", floorplan.pk)) == few_plan
    assert queries(client, admin_url("location", "tree")) == few_tree
