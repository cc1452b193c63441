"""Location types, locations, floorplans (with their images) and placements through the API."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from inventory.models import Floorplan, Location, Placement
from inventory.services import places
from tenancy.roles import ALL_ROLES, EDITORS, MANAGERS
from tests.inventory.api_support import (
    client_of,
    image_bytes,
    make_location,
    make_location_type,
    make_thing,
    make_type,
    url,
)
from tests.support.authz import assert_access, expect

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(world):
    return client_of(world.user("member"))


def png(name: str = "plan.png", size=(64, 48)) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, image_bytes("PNG", size), content_type="image/png")


def make_floorplan(org, location, name: str = "Ground floor") -> Floorplan:
    return places.save_floorplan(Floorplan(organization=org, location=location, name=name, image=png()))


# --- Location types and locations ------------------------------------------------------------------------------


def test_location_types_are_written_by_managers_and_read_by_everyone(world):
    counter = iter(range(100))
    assert_access(
        world,
        "post",
        lambda w: url("locationtype-list", w.org),
        expect(MANAGERS, 201),
        data_for=lambda w: {"code": f"kind-{next(counter)}", "name": "Kind"},
    )
    kind = make_location_type(world.org)
    assert_access(world, "get", lambda w: url("locationtype-detail", w.org, kind.pk), expect(ALL_ROLES, 200))
    assert_access(
        world,
        "patch",
        lambda w: url("locationtype-detail", w.org, kind.pk),
        expect(MANAGERS, 200),
        data_for=lambda w: {"name": "Room"},
    )
    assert_access(
        world,
        "delete",
        lambda w: url("locationtype-detail", w.org, make_location_type(w.org, f"gone-{next(counter)}").pk),
        expect(MANAGERS, 204),
    )


def test_location_metadata_is_checked_against_its_type_naming_the_field(world, member):
    room = make_location_type(
        world.org, metadata_schema={"type": "object", "properties": {"floor": {"type": "integer"}}}
    )
    body = {"code": "r-1", "name": "Room 1", "location_type": room.pk, "metadata": {"floor": "two"}}
    response = member.post(url("location-list", world.org), body, format="json")
    assert response.status_code == 400 and list(response.data) == ["metadata.floor"]
    body["metadata"] = {"floor": 2}
    assert member.post(url("location-list", world.org), body, format="json").status_code == 201


def test_a_member_moves_a_location_with_its_subtree_by_patching_its_parent(world, member):
    site, other = make_location(world.org, "site"), make_location(world.org, "other")
    hall = make_location(world.org, "hall", parent=site)
    room = make_location(world.org, "room", parent=hall)
    response = member.patch(url("location-detail", world.org, hall.pk), {"parent": other.pk}, format="json")
    assert response.status_code == 200, response.data
    assert response.data["path"] == f"/{other.pk}/{hall.pk}/"
    room.refresh_from_db()
    assert room.path == f"/{other.pk}/{hall.pk}/{room.pk}/"
    # No cycles: a location never moves under itself or its own subtree.
    response = member.patch(url("location-detail", world.org, hall.pk), {"parent": room.pk}, format="json")
    assert response.status_code == 400 and "parent" in response.data
    response = member.patch(url("location-detail", world.org, hall.pk), {"parent": None}, format="json")
    assert response.status_code == 200 and response.data["depth"] == 1


def test_another_organizations_location_or_type_is_refused_in_the_body(world, member):
    theirs = make_location(world.other_org, "theirs")
    their_type = make_location_type(world.other_org, "theirs")
    for body in ({"parent": theirs.pk}, {"location_type": their_type.pk}):
        response = member.post(url("location-list", world.org), {"code": "x", "name": "X", **body}, format="json")
        assert response.status_code == 400 and set(body) <= set(response.data)
    assert not Location.objects.filter(organization=world.org, code="x").exists()
    response = member.get(url("location-detail", world.org, theirs.pk))
    assert response.status_code == 404


def test_a_location_in_use_is_not_deleted(world):
    owner = client_of(world.user("owner"))
    site = make_location(world.org, "site")
    make_location(world.org, "hall", parent=site)
    response = owner.delete(url("location-detail", world.org, site.pk))
    assert response.status_code == 400 and "sub-locations" in str(response.data)
    lonely = make_location(world.org, "lonely")
    make_thing(world.org, "t-1", make_type(world.org), location=lonely)
    response = owner.delete(url("location-detail", world.org, lonely.pk))
    assert response.status_code == 400 and "Things" in str(response.data)


def test_location_roles(world):
    counter = iter(range(100))
    site = make_location(world.org, "site")
    assert_access(world, "get", lambda w: url("location-list", w.org), expect(ALL_ROLES, 200))
    assert_access(
        world,
        "post",
        lambda w: url("location-list", w.org),
        expect(EDITORS, 201),
        data_for=lambda w: {"code": f"l-{next(counter)}", "name": "L", "parent": site.pk},
    )
    assert_access(
        world,
        "patch",
        lambda w: url("location-detail", w.org, site.pk),
        expect(EDITORS, 200),
        data_for=lambda w: {"address": "1 Main St"},
    )
    assert_access(
        world,
        "delete",
        lambda w: url("location-detail", w.org, make_location(w.org, f"d-{next(counter)}").pk),
        expect(MANAGERS, 204),
    )


# --- Floorplans -------------------------------------------------------------------------------------------------


def test_a_member_uploads_a_png_floorplan(world, member):
    site = make_location(world.org, "site")
    response = member.post(
        url("floorplan-list", world.org),
        {"location": site.pk, "name": "Ground", "image": png(size=(640, 480))},
        format="multipart",
    )
    assert response.status_code == 201, response.data
    assert (response.data["width"], response.data["height"], response.data["image_format"]) == (640, 480, "png")
    assert response.data["image_url"].endswith(f"/floorplans/{response.data['id']}/image/")
    assert "image" not in response.data  # no storage path, no public media URL


SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("plan.svg", SVG, "SVG"),
        ("plan.png", SVG, "SVG"),  # the name does not matter, the bytes do
        ("plan.gif", image_bytes("GIF"), "GIF images are not accepted"),
        ("plan.png", b"\x89PNG\r\n\x1a\n" + b"junk" * 50, "not a readable"),
        ("plan.png", b"", "empty"),
    ],
)
def test_anything_but_png_jpeg_or_webp_is_refused_with_the_reason(world, member, name, content, reason):
    site = make_location(world.org, "site")
    upload = SimpleUploadedFile(name, content, content_type="image/png")
    response = member.post(
        url("floorplan-list", world.org), {"location": site.pk, "name": "Bad", "image": upload}, format="multipart"
    )
    assert response.status_code == 400, response.data
    assert reason in str(response.data["image"]), response.data
    assert not Floorplan.objects.filter(name="Bad").exists()


def test_the_image_is_served_to_members_only(world):
    plan = make_floorplan(world.org, make_location(world.org, "site"))
    expected = expect(ALL_ROLES, 200)
    assert_access(world, "get", lambda w: url("floorplan-image", w.org, plan.pk), expected)
    response = client_of(world.user("viewer")).get(url("floorplan-image", world.org, plan.pk))
    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == plan.image.open("rb").read()
    assert "private" in response["Cache-Control"]
    # Another organization's floorplan, through this organization's URL: 404.
    theirs = make_floorplan(world.other_org, make_location(world.other_org, "theirs"))
    owner = client_of(world.user("owner"))
    assert owner.get(url("floorplan-image", world.org, theirs.pk)).status_code == 404


def test_replacing_and_deleting_a_floorplan_removes_its_file(world, django_capture_on_commit_callbacks):
    owner = client_of(world.user("owner"))
    plan = make_floorplan(world.org, make_location(world.org, "site"))
    storage, first = plan.image.storage, plan.image.name
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.patch(
            url("floorplan-detail", world.org, plan.pk), {"image": png(size=(10, 10))}, format="multipart"
        )
    assert response.status_code == 200 and response.data["width"] == 10
    assert not storage.exists(first)
    plan.refresh_from_db()
    second = plan.image.name
    assert storage.exists(second)
    with django_capture_on_commit_callbacks(execute=True):
        assert owner.delete(url("floorplan-detail", world.org, plan.pk)).status_code == 204
    assert not storage.exists(second)


def test_floorplan_roles_and_cross_tenant_location(world):
    site = make_location(world.org, "site")
    plan = make_floorplan(world.org, site)
    counter = iter(range(100))
    assert_access(world, "get", lambda w: url("floorplan-list", w.org), expect(ALL_ROLES, 200))
    assert_access(
        world,
        "post",
        lambda w: url("floorplan-list", w.org),
        expect(EDITORS, 201),
        data_for=lambda w: {"location": site.pk, "name": f"p-{next(counter)}", "image": png()},
        fmt="multipart",
    )
    assert_access(
        world,
        "patch",
        lambda w: url("floorplan-detail", w.org, plan.pk),
        expect(EDITORS, 200),
        data_for=lambda w: {"name": f"renamed-{next(counter)}"},
    )
    assert_access(
        world,
        "delete",
        lambda w: url("floorplan-detail", w.org, make_floorplan(w.org, site, f"d-{next(counter)}").pk),
        expect(MANAGERS, 204),
    )
    theirs = make_location(world.other_org, "theirs")
    response = client_of(world.user("owner")).post(
        url("floorplan-list", world.org), {"location": theirs.pk, "name": "X", "image": png()}, format="multipart"
    )
    assert response.status_code == 400 and "location" in response.data


# --- Placements -------------------------------------------------------------------------------------------------


def test_placements_stay_inside_the_image_and_the_organization(world, member):
    site = make_location(world.org, "site")
    plan = make_floorplan(world.org, site)
    thing = make_thing(world.org, "t-1", make_type(world.org), location=site)
    listing = url("placement-list", world.org)
    response = member.post(listing, {"floorplan": plan.pk, "thing": thing.pk, "x": 10, "y": 20}, format="json")
    assert response.status_code == 201, response.data
    moved = member.patch(url("placement-detail", world.org, response.data["id"]), {"x": 63.5}, format="json")
    assert moved.status_code == 200 and moved.data["x"] == 63.5
    response = member.patch(url("placement-detail", world.org, response.data["id"]), {"y": 500}, format="json")
    assert response.status_code == 400 and "y" in response.data
    theirs = make_thing(world.other_org, "theirs", make_type(world.other_org))
    response = member.post(listing, {"floorplan": plan.pk, "thing": theirs.pk, "x": 1, "y": 1}, format="json")
    assert response.status_code == 400 and "thing" in response.data
    assert member.get(listing, {"floorplan": plan.pk}).data["count"] == 1


def test_placement_roles(world):
    site = make_location(world.org, "site")
    plan = make_floorplan(world.org, site)
    sensor = make_type(world.org)
    counter = iter(range(100))

    def placed(w):
        thing = make_thing(w.org, f"p-{next(counter)}", sensor)
        return places.save_placement(Placement(organization=w.org, floorplan=plan, thing=thing, x=1, y=1))

    fixed = placed(world)
    assert_access(world, "get", lambda w: url("placement-detail", w.org, fixed.pk), expect(ALL_ROLES, 200))
    assert_access(
        world,
        "post",
        lambda w: url("placement-list", w.org),
        expect(EDITORS, 201),
        data_for=lambda w: {
            "floorplan": plan.pk,
            "thing": make_thing(w.org, f"n-{next(counter)}", sensor).pk,
            "x": 2,
            "y": 3,
        },
    )
    assert_access(world, "delete", lambda w: url("placement-detail", w.org, placed(w).pk), expect(MANAGERS, 204))
