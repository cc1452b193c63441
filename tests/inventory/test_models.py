"""Inventory rules that live on the models: codes, subject templates, schemas, the location tree, floorplans."""

from __future__ import annotations

import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from inventory import subjects
from inventory.models import Floorplan, Location, LocationType, MessageSchema, Operation, Placement, Thing, ThingType


def png(width=40, height=20, fmt="PNG") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "white").save(buffer, format=fmt)
    return SimpleUploadedFile(f"plan.{fmt.lower()}", buffer.getvalue())


def errors_of(obj) -> dict:
    with pytest.raises(ValidationError) as caught:
        obj.full_clean()
    return caught.value.message_dict


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("{org}.{site}.x", "Unknown placeholder {site}"),
        ("{org}.dev-{thing}", "whole token"),
        ("{org}..{thing}", "empty token"),
        ("{org}.{thing", "unbalanced"),
        ("{org}.a b", "whitespace"),
        ("{org}.*.{thing}", "wildcard"),
    ],
)
def test_a_bad_prefix_is_refused_naming_the_part(template, fragment):
    with pytest.raises(subjects.SubjectTemplateError, match=fragment):
        subjects.check_template(template, wildcards=False)


def test_the_default_prefix_renders_the_messaging_hierarchy():
    subject = subjects.render(
        subjects.join(subjects.DEFAULT_PREFIX, "telemetry.temp"),
        {"org": "acme", "location": "hq", "thing_type": "sensor", "thing": "s-01"},
    )
    assert subject == "acme.hq.sensor.s-01.telemetry.temp"


def test_type_and_operation_validation(world):
    kind = ThingType(organization=world.org, code="sensor", name="Sensor", subject_prefix="{org}.{nope}")
    assert "Unknown placeholder {nope}" in errors_of(kind)["subject_prefix"][0]
    kind.subject_prefix = subjects.DEFAULT_PREFIX
    kind.full_clean()
    kind.save()
    op = Operation(thing_type=kind, name="Temp", capability="publish", subject_suffix="a..b")
    errors = errors_of(op)
    assert "name" in errors and "empty token" in errors["subject_suffix"][0]
    publish_wildcard = Operation(thing_type=kind, name="temp", capability="publish", subject_suffix="t.>")
    assert "wildcard" in errors_of(publish_wildcard)["subject_suffix"][0]
    Operation(thing_type=kind, name="cmd", capability="subscribe", subject_suffix="cmd.>").full_clean()


def test_message_schema_must_be_a_valid_json_schema(world):
    bad = MessageSchema(organization=world.org, namespace="acme", name="temp", version="1.0", schema={"type": 12})
    errors = errors_of(bad)
    assert "version" in errors and "Not a valid JSON Schema" in errors["schema"][0]
    dangling = MessageSchema(
        organization=world.org, namespace="acme", name="temp", version="1.0.0", schema={"$ref": "https://x/y.json"}
    )
    assert "schema" in errors_of(dangling)


def test_thing_metadata_is_validated_against_its_type_naming_the_field(world):
    kind = ThingType.objects.create(
        organization=world.org,
        code="sensor",
        name="Sensor",
        metadata_schema={
            "type": "object",
            "properties": {"floor": {"type": "integer"}, "serial": {"type": "string"}},
            "required": ["serial"],
        },
    )
    thing = Thing(organization=world.org, code="s-01", thing_type=kind, metadata={"floor": "two"})
    errors = errors_of(thing)
    assert "metadata.floor" in errors and "metadata.serial" in errors
    thing.metadata = {"floor": 2, "serial": "X1", "extra": True}
    thing.full_clean()


def test_relations_stay_inside_the_organization(world):
    kind = ThingType.objects.create(organization=world.other_org, code="sensor", name="Sensor")
    place = Location.objects.create(organization=world.other_org, code="hq", name="HQ")
    thing = Thing(organization=world.org, code="s-01", thing_type=kind, location=place)
    errors = errors_of(thing)
    assert "another organization" in errors["thing_type"][0] and "another organization" in errors["location"][0]


def test_codes_are_unique_per_organization_only(world):
    ThingType.objects.create(organization=world.org, code="sensor", name="Sensor")
    assert "code" in errors_of(ThingType(organization=world.org, code="sensor", name="Again"))
    ThingType(organization=world.other_org, code="sensor", name="Sensor").full_clean()
    assert "code" in errors_of(ThingType(organization=world.org, code="has.dot", name="x"))


def test_location_tree_moves_a_subtree_and_refuses_cycles(world):
    site = Location.objects.create(organization=world.org, code="site", name="Site")
    building = Location.objects.create(organization=world.org, code="b1", name="B1", parent=site)
    floor = Location.objects.create(organization=world.org, code="f1", name="F1", parent=building)
    other = Location.objects.create(organization=world.org, code="site2", name="Site 2")
    assert floor.path == f"/{site.pk}/{building.pk}/{floor.pk}/"
    assert set(site.subtree().values_list("code", flat=True)) == {"site", "b1", "f1"}

    building.parent = other
    building.full_clean()
    building.save()
    floor.refresh_from_db()
    assert floor.path == f"/{other.pk}/{building.pk}/{floor.pk}/"
    assert set(site.subtree().values_list("code", flat=True)) == {"site"}

    other.parent = floor
    assert "inside itself" in errors_of(other)["parent"][0]


def test_location_metadata_and_coordinates(world):
    kind = LocationType.objects.create(
        organization=world.org,
        code="room",
        name="Room",
        metadata_schema={"type": "object", "properties": {"seats": {"type": "integer", "minimum": 1}}},
    )
    room = Location(organization=world.org, code="r1", name="R1", location_type=kind, metadata={"seats": 0})
    room.latitude = 91
    errors = errors_of(room)
    assert "metadata.seats" in errors and "latitude" in errors and "longitude" in errors


def test_floorplan_images_are_checked_and_placements_stay_inside(world):
    place = Location.objects.create(organization=world.org, code="hq", name="HQ")
    plan = Floorplan(organization=world.org, location=place, name="Ground", image=png(40, 20))
    plan.full_clean()
    plan.save()
    assert (plan.image_format, plan.width, plan.height) == ("png", 40, 20)
    svg = SimpleUploadedFile("plan.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>')
    assert "SVG" in errors_of(Floorplan(organization=world.org, location=place, name="Evil", image=svg))["image"][0]
    gif = png(fmt="GIF")
    assert (
        "GIF images are not accepted"
        in errors_of(Floorplan(organization=world.org, location=place, name="G", image=gif))["image"][0]
    )
    junk = SimpleUploadedFile("plan.png", b"\x89PNG not really")
    assert (
        "not a readable"
        in errors_of(Floorplan(organization=world.org, location=place, name="J", image=junk))["image"][0]
    )

    kind = ThingType.objects.create(organization=world.org, code="sensor", name="Sensor")
    thing = Thing.objects.create(organization=world.org, code="s-01", thing_type=kind)
    outside = Placement(organization=world.org, floorplan=plan, thing=thing, x=41, y=5)
    assert "inside the image" in errors_of(outside)["x"][0]
    Placement(organization=world.org, floorplan=plan, thing=thing, x=40, y=20).full_clean()
