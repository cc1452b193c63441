"""Message schemas, thing types and their operations through the API: owners and admins write, everyone reads;
the OpenAPI schema of the whole API stays free of warnings."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from drf_spectacular.drainage import reset_generator_stats

from inventory.models import MessageSchema, Operation, ThingType
from inventory.services import types
from tenancy.roles import ALL_ROLES, MANAGERS
from tests.inventory.api_support import client_of, make_thing, make_type, url
from tests.support.authz import assert_access, expect

pytestmark = pytest.mark.django_db

PAYLOAD = {"type": "object", "properties": {"value": {"type": "number"}}, "required": ["value"]}


@pytest.fixture
def admin(world):
    return client_of(world.user("admin"))


def make_schema(org, version: str = "1.0.0") -> MessageSchema:
    return types.save_message_schema(
        MessageSchema(organization=org, namespace="telemetry", name="temperature", version=version, schema=PAYLOAD)
    )


def test_message_schemas(world, admin):
    listing = url("messageschema-list", world.org)
    body = {"namespace": "telemetry", "name": "temperature", "version": "1.0.0", "schema": PAYLOAD}
    assert admin.post(listing, body, format="json").status_code == 201
    response = admin.post(listing, body, format="json")
    assert response.status_code == 400 and "new version" in str(response.data["version"])
    response = admin.post(listing, {**body, "version": "2.0.0", "schema": {"type": "nonsense"}}, format="json")
    assert response.status_code == 400 and "schema" in response.data
    response = admin.post(listing, {**body, "version": "v2"}, format="json")
    assert response.status_code == 400 and "version" in response.data


def test_message_schema_roles(world):
    counter = iter(range(1, 100))
    schema = make_schema(world.org)
    assert_access(world, "get", lambda w: url("messageschema-detail", w.org, schema.pk), expect(ALL_ROLES, 200))
    assert_access(
        world,
        "post",
        lambda w: url("messageschema-list", w.org),
        expect(MANAGERS, 201),
        data_for=lambda w: {"namespace": "t", "name": "n", "version": f"1.{next(counter)}.0", "schema": PAYLOAD},
    )
    assert_access(
        world,
        "delete",
        lambda w: url("messageschema-detail", w.org, make_schema(w.org, f"9.{next(counter)}.0").pk),
        expect(MANAGERS, 204),
    )


def test_thing_types_carry_their_operations(world, admin):
    response = admin.post(
        url("thingtype-list", world.org),
        {"code": "sensor", "name": "Sensor", "metadata_schema": {"type": "object"}},
        format="json",
    )
    assert response.status_code == 201, response.data
    type_id = response.data["id"]
    operations = url("operation-list", world.org, type_id)
    schema = make_schema(world.org)
    response = admin.post(
        operations,
        {"name": "temp", "capability": "publish", "subject_suffix": "telemetry.temp", "message_schema": schema.pk},
        format="json",
    )
    assert response.status_code == 201, response.data
    assert response.data["subject_template"] == "{org}.{location}.{thing_type}.{thing}.telemetry.temp"
    detail = admin.get(url("thingtype-detail", world.org, type_id)).data
    assert [op["name"] for op in detail["operations"]] == ["temp"]
    # Wildcards only where a thing listens; unknown placeholders are named.
    response = admin.post(
        operations, {"name": "bad", "capability": "publish", "subject_suffix": "cmd.>"}, format="json"
    )
    assert response.status_code == 400 and "subject_suffix" in response.data
    response = admin.post(
        operations, {"name": "cmd", "capability": "subscribe", "subject_suffix": "{nope}.>"}, format="json"
    )
    assert response.status_code == 400 and "nope" in str(response.data["subject_suffix"])
    response = admin.post(operations, {"name": "temp", "capability": "publish", "subject_suffix": "x"}, format="json")
    assert response.status_code == 400 and "name" in response.data
    op_id = Operation.objects.get(name="temp").pk
    response = admin.patch(url("operation-detail", world.org, type_id, op_id), {"subject_suffix": "t.c"}, format="json")
    assert response.status_code == 200 and response.data["subject_suffix"] == "t.c"
    assert admin.delete(url("operation-detail", world.org, type_id, op_id)).status_code == 204
    assert not Operation.objects.filter(pk=op_id).exists()


def test_a_type_with_things_is_not_deleted(world, admin):
    sensor = make_type(world.org)
    make_thing(world.org, "t-1", sensor)
    response = admin.delete(url("thingtype-detail", world.org, sensor.pk))
    assert response.status_code == 400 and "still has things" in str(response.data)


def test_another_organizations_types_and_schemas_stay_out(world, admin):
    theirs = make_type(world.other_org, "theirs")
    their_schema = make_schema(world.other_org)
    their_op = theirs.operations.get()
    assert admin.get(url("thingtype-detail", world.org, theirs.pk)).status_code == 404
    assert admin.get(url("operation-list", world.org, theirs.pk)).status_code == 404
    assert admin.get(url("operation-detail", world.org, theirs.pk, their_op.pk)).status_code == 404
    mine = make_type(world.org)
    # Their operation through my type's URL: 404 too.
    assert admin.patch(url("operation-detail", world.org, mine.pk, their_op.pk), {}, format="json").status_code == 404
    response = admin.post(
        url("operation-list", world.org, mine.pk),
        {"name": "x", "capability": "publish", "subject_suffix": "x", "message_schema": their_schema.pk},
        format="json",
    )
    assert response.status_code == 400 and "message_schema" in response.data
    assert admin.delete(url("messageschema-detail", world.org, their_schema.pk)).status_code == 404
    assert MessageSchema.objects.filter(pk=their_schema.pk).exists()
    assert ThingType.objects.filter(pk=theirs.pk).exists()


def test_thing_type_and_operation_roles(world):
    counter = iter(range(100))
    sensor = make_type(world.org)
    assert_access(world, "get", lambda w: url("thingtype-list", w.org), expect(ALL_ROLES, 200))
    assert_access(world, "get", lambda w: url("operation-list", w.org, sensor.pk), expect(ALL_ROLES, 200))
    assert_access(
        world,
        "post",
        lambda w: url("thingtype-list", w.org),
        expect(MANAGERS, 201),
        data_for=lambda w: {"code": f"k-{next(counter)}", "name": "K"},
    )
    assert_access(
        world,
        "patch",
        lambda w: url("thingtype-detail", w.org, sensor.pk),
        expect(MANAGERS, 200),
        data_for=lambda w: {"description": "d"},
    )
    assert_access(
        world,
        "post",
        lambda w: url("operation-list", w.org, sensor.pk),
        expect(MANAGERS, 201),
        data_for=lambda w: {"name": f"op_{next(counter)}", "capability": "reply", "subject_suffix": "cmd.>"},
    )
    assert_access(
        world,
        "delete",
        lambda w: url("thingtype-detail", w.org, make_type(w.org, f"gone-{next(counter)}").pk),
        expect(MANAGERS, 204),
    )


def test_the_openapi_schema_has_no_warnings(tmp_path):
    # `--fail-on-warn` turns every warning and error of drf-spectacular into a failed command; earlier
    # generations in this process are forgotten first, so that the warnings counted are this one's.
    reset_generator_stats()
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    text = (tmp_path / "schema.yaml").read_text()
    assert "/api/v1/orgs/{org_slug}/things/{id}/creds/" in text
    assert "/api/v1/orgs/{org_slug}/thing-types/{thing_type_id}/operations/" in text
