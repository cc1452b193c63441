"""The floorplan page in Chromium: a member drags a thing from the side list onto the plan (the image scaled
down to the page), the placement is saved and its marker is where it was dropped after a reload; dragging the
marker moves it; a viewer sees the markers but cannot drag."""

import pytest

from credentials.services import nats as nats_svc
from inventory.models import Placement
from tests.browser.conftest import login
from tests.inventory.admin_support import make_floorplan, make_location, make_thing, make_type
from tests.support.world import build_world

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WIDTH, HEIGHT = 1600, 1200  # larger than the page: the plan is drawn scaled down


@pytest.fixture
def plan_world():
    nats_svc.bootstrap()
    world = build_world()
    sensor = make_type(world.org)
    site = make_location(world.org, "hq")
    room = make_location(world.org, "room-1", parent=site)
    world.floorplan = make_floorplan(world.org, site, width=WIDTH, height=HEIGHT)
    world.thing = make_thing(world.org, sensor, "pump-1", location=room)
    world.other = make_thing(world.org, sensor, "pump-2", location=site)
    return world


def open_plan(page, live_server, world):
    page.goto(f"{live_server.url}/admin/inventory/floorplan/{world.floorplan.pk}/change/")
    page.wait_for_function(
        "() => { const i = document.getElementById('floorplan-image'); return i.complete && i.naturalWidth > 0; }"
    )
    return page.locator("#floorplan-image").bounding_box()


def drag(page, source, x: float, y: float) -> None:
    box = source.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(x, y, steps=8)
    page.mouse.up()


def center(locator) -> tuple[float, float]:
    box = locator.bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def test_a_member_drags_a_thing_onto_the_plan_and_moves_it(page, live_server, plan_world):
    world = plan_world
    login(page, live_server, world.user("member").username)
    image = open_plan(page, live_server, world)
    assert image["width"] < WIDTH  # drawn scaled down
    target = (image["x"] + image["width"] * 0.25, image["y"] + image["height"] * 0.5)

    item = page.locator(f'.plan-thing[data-thing="{world.thing.pk}"]')
    with page.expect_response(lambda r: r.url.endswith("/place/")) as answer:
        drag(page, item, *target)
    assert answer.value.status == 201
    page.wait_for_selector("#floorplan-status:has-text('pump-1 placed')")
    placement = Placement.objects.get(floorplan=world.floorplan, thing=world.thing)
    tolerance = WIDTH / image["width"] * 2  # two screen pixels, in image pixels
    assert abs(placement.x - WIDTH * 0.25) <= tolerance and abs(placement.y - HEIGHT * 0.5) <= tolerance

    page.reload()
    image = open_plan(page, live_server, world)
    marker = page.locator(f'.plan-marker[data-thing="{world.thing.pk}"]')
    x, y = center(marker)
    assert abs(x - (image["x"] + image["width"] * 0.25)) <= 2 and abs(y - (image["y"] + image["height"] * 0.5)) <= 2

    # Drag the marker itself to move the thing.
    moved = (image["x"] + image["width"] * 0.75, image["y"] + image["height"] * 0.2)
    with page.expect_response(lambda r: r.url.endswith("/place/")) as answer:
        drag(page, marker, *moved)
    assert answer.value.status == 200
    placement.refresh_from_db()
    assert abs(placement.x - WIDTH * 0.75) <= tolerance and abs(placement.y - HEIGHT * 0.2) <= tolerance
    assert Placement.objects.count() == 1

    # A drop outside the plan saves nothing.
    drag(page, page.locator(f'.plan-thing[data-thing="{world.other.pk}"]'), image["x"] - 40, image["y"] - 40)
    page.wait_for_selector("#floorplan-status:has-text('Drop the thing onto the plan')")
    assert not Placement.objects.filter(thing=world.other).exists()


def test_a_viewer_sees_the_plan_but_cannot_drag(page, live_server, plan_world):
    world = plan_world
    Placement.objects.create(organization=world.org, floorplan=world.floorplan, thing=world.thing, x=800, y=600)
    login(page, live_server, world.user("viewer").username)
    image = open_plan(page, live_server, world)
    assert page.get_attribute("#floorplan-editor", "data-editable") == "false"
    marker = page.locator(f'.plan-marker[data-thing="{world.thing.pk}"]')
    x, y = center(marker)
    assert abs(x - (image["x"] + image["width"] / 2)) <= 2 and abs(y - (image["y"] + image["height"] / 2)) <= 2

    posts = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    drag(page, page.locator(f'.plan-thing[data-thing="{world.other.pk}"]'), *center(page.locator("#floorplan-image")))
    drag(page, marker, image["x"] + 10, image["y"] + 10)
    page.wait_for_timeout(300)
    assert posts == []
    assert list(Placement.objects.values_list("thing_id", "x", "y")) == [(world.thing.pk, 800, 600)]
    assert center(marker) == (x, y)
