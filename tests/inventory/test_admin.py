"""The inventory admin: forms write through the domain actions with the model's rules, relation choices stay
inside the organization, members never touch identities, thing actions, the location tree and the floorplan
plan page with its image and its drop endpoint."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from audit.models import AuditEvent
from credentials.models import NatsUser
from inventory.models import Operation, Placement, Thing, ThingType
from inventory.services import contracts
from tests.credentials.nats_support import make_nats_user
from tests.inventory.admin_support import (
    admin_url,
    make_floorplan,
    make_location,
    make_schema,
    make_thing,
    make_type,
    png_bytes,
)

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def thing_form(org, thing_type, **overrides) -> dict:
    data = {
        "organization": org.pk,
        "code": "pump-1",
        "name": "Pump",
        "description": "",
        "thing_type": thing_type.pk,
        "location": "",
        "metadata": "{}",
        "nats_user": "",
        "nebula_host": "",
    }
    return {**data, **overrides}


def errors_of(response) -> dict:
    assert response.status_code == 200, response.status_code
    return response.context["adminform"].form.errors


def run_action(client, action: str, *objs, model: str = "thing", follow: bool = True):
    data = {"action": action, "_selected_action": [o.pk for o in objs]}
    return client.post(admin_url(model), data, follow=follow)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def stock(world):
    world.sensor = make_type(
        world.org,
        metadata_schema={"type": "object", "properties": {"floor": {"type": "integer"}}, "required": ["floor"]},
    )
    world.their_type = make_type(world.other_org, "sensor")
    world.site = make_location(world.org, "hq")
    world.their_site = make_location(world.other_org, "plant")
    return world


# --- things ---------------------------------------------------------------------------------------------------


def test_a_member_adds_a_thing_without_identities(stock):
    client = signed_in(stock.user("member"))
    page = client.get(admin_url("thing", "add")).content.decode()
    assert 'name="code"' in page and 'name="nats_user"' not in page and 'name="nebula_host"' not in page
    user = make_nats_user(stock.org, owner_kind=NatsUser.OwnerKind.THING)
    data = thing_form(stock.org, stock.sensor, location=stock.site.pk, metadata='{"floor": 2}', nats_user=user.pk)
    response = client.post(admin_url("thing", "add"), data)
    assert response.status_code == 302, errors_of(response)
    thing = Thing.objects.get(code="pump-1")
    assert thing.location == stock.site and thing.metadata == {"floor": 2}
    assert thing.nats_user is None and thing.active  # the identity in the POST is not taken


def test_metadata_errors_name_the_field(stock):
    client = signed_in(stock.user("member"))
    response = client.post(admin_url("thing", "add"), thing_form(stock.org, stock.sensor, metadata='{"floor": "x"}'))
    assert "metadata.floor" in " ".join(errors_of(response)["metadata"])
    response = client.post(admin_url("thing", "add"), thing_form(stock.org, stock.sensor, metadata="{}"))
    assert "metadata.floor: This field is required." in errors_of(response)["metadata"]
    response = client.post(admin_url("thing", "add"), thing_form(stock.org, stock.sensor, metadata="[1"))
    assert errors_of(response)["metadata"]
    assert not Thing.objects.exists()


def test_another_organizations_rows_are_never_accepted(stock):
    client = signed_in(stock.user("admin"))
    response = client.post(
        admin_url("thing", "add"),
        thing_form(stock.org, stock.their_type, location=stock.their_site.pk, metadata='{"floor": 1}'),
    )
    errors = errors_of(response)
    assert "thing_type" in errors and "location" in errors
    # Nor another organization: the organization choice is the user's own.
    response = client.post(admin_url("thing", "add"), thing_form(stock.other_org, stock.their_type))
    assert "organization" in errors_of(response)
    assert not Thing.objects.exists()


def test_autocomplete_offers_only_the_users_organizations(stock):
    client = signed_in(stock.user("viewer"))
    url = "/admin/autocomplete/"
    params = {"app_label": "inventory", "model_name": "thing", "field_name": "thing_type", "term": "sens"}
    results = client.get(url, params).json()["results"]
    assert [r["id"] for r in results] == [str(stock.sensor.pk)]
    params = {"app_label": "inventory", "model_name": "location", "field_name": "parent", "term": ""}
    assert [r["id"] for r in client.get(url, params).json()["results"]] == [str(stock.site.pk)]
    client = signed_in(stock.outsider)
    params = {"app_label": "inventory", "model_name": "thing", "field_name": "thing_type", "term": ""}
    assert [r["id"] for r in client.get(url, params).json()["results"]] == [str(stock.their_type.pk)]


def test_a_member_edits_a_thing_but_not_its_identities(stock):
    user = make_nats_user(stock.org, owner_kind=NatsUser.OwnerKind.THING)
    thing = make_thing(stock.org, stock.sensor, "pump-1", metadata={"floor": 1}, nats_user=user)
    client = signed_in(stock.user("member"))
    page = client.get(admin_url("thing", "change", thing.pk)).content.decode()
    assert 'name="_save"' in page and 'name="nats_user"' not in page and 'name="active"' not in page
    data = thing_form(stock.org, stock.sensor, code="pump-2", metadata='{"floor": 3}', nats_user="")
    response = client.post(admin_url("thing", "change", thing.pk), data)
    assert response.status_code == 302, errors_of(response)
    thing.refresh_from_db()
    assert thing.code == "pump-2" and thing.metadata == {"floor": 3} and thing.nats_user == user


def test_an_admin_links_an_unlinked_thing_user(stock):
    thing = make_thing(stock.org, stock.sensor, "pump-1", metadata={"floor": 1})
    free = make_nats_user(stock.org, owner_kind=NatsUser.OwnerKind.THING, name="free")
    person = make_nats_user(stock.org, name="service", owner_kind=NatsUser.OwnerKind.SERVICE)
    theirs = make_nats_user(stock.other_org, owner_kind=NatsUser.OwnerKind.THING, name="theirs")
    client = signed_in(stock.user("admin"))
    form = client.get(admin_url("thing", "change", thing.pk)).context["adminform"].form
    offered = set(form.fields["nats_user"].queryset)
    assert free in offered and person not in offered and theirs not in offered
    url = admin_url("thing", "change", thing.pk)
    response = client.post(
        url, thing_form(stock.org, stock.sensor, code="pump-1", metadata='{"floor": 1}', nats_user=theirs.pk)
    )
    assert "nats_user" in errors_of(response)
    response = client.post(
        url, thing_form(stock.org, stock.sensor, code="pump-1", metadata='{"floor": 1}', nats_user=free.pk)
    )
    assert response.status_code == 302
    thing.refresh_from_db()
    assert thing.nats_user == free


def test_thing_actions_for_managers(stock):
    thing = make_thing(stock.org, stock.sensor, "pump-1", metadata={"floor": 1})
    client = signed_in(stock.user("admin"))
    response = run_action(client, "provision_nats", thing)
    assert "1 thing(s) given a NATS user." in messages_of(response)
    thing.refresh_from_db()
    assert thing.nats_user.owner_kind == NatsUser.OwnerKind.THING and thing.nats_user.active
    response = run_action(client, "provision_nats", thing)
    assert any("has a NATS user already" in m for m in messages_of(response))

    response = run_action(client, "download_creds", thing, follow=False)
    assert response.status_code == 200 and response["Content-Disposition"].endswith('.creds"')
    assert b"NATS USER JWT" in response.content
    event = AuditEvent.objects.get(action="credential_read")
    assert (event.object_id, event.extra["kind"]) == (str(thing.nats_user.pk), "nats.creds")

    response = run_action(client, "deactivate", thing)
    assert "1 thing(s) deactivated." in messages_of(response)
    thing.refresh_from_db()
    thing.nats_user.refresh_from_db()
    assert not thing.active and not thing.nats_user.active
    run_action(client, "reactivate", thing)
    thing.refresh_from_db()
    thing.nats_user.refresh_from_db()
    assert thing.active and thing.nats_user.active


@pytest.mark.parametrize("role", ["member", "viewer", "auditor"])
def test_thing_actions_are_for_managers_only(stock, role):
    thing = make_thing(stock.org, stock.sensor, "pump-1", metadata={"floor": 1})
    thing.nats_user = contracts.provision_thing_user(thing)
    thing.save()
    client = signed_in(stock.user(role))
    page = client.get(admin_url("thing")).content.decode()
    assert "download_creds" not in page and "deactivate" not in page
    for action in ("download_creds", "deactivate", "provision_nats"):
        response = run_action(client, action, thing, follow=False)
        assert response.status_code in (200, 302)
        assert not response.get("Content-Disposition")
    thing.refresh_from_db()
    assert thing.active


def test_an_admin_of_one_organization_cannot_act_on_another(stock):
    theirs = make_thing(stock.other_org, stock.their_type, "x-1")
    client = signed_in(stock.user("admin"))
    run_action(client, "deactivate", theirs)
    theirs.refresh_from_db()
    assert theirs.active


def test_deleting_a_thing_revokes_its_user(stock):
    thing = make_thing(stock.org, stock.sensor, "pump-1", metadata={"floor": 1})
    thing.nats_user = contracts.provision_thing_user(thing)
    thing.save()
    key = thing.nats_user.public_key
    client = signed_in(stock.user("owner"))
    response = client.post(admin_url("thing", "delete", thing.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Thing.objects.filter(pk=thing.pk).exists()
    assert not NatsUser.objects.filter(public_key=key).exists()


# --- types, operations, schemas ---------------------------------------------------------------------------------


def type_form(org, **overrides) -> dict:
    data = {
        "organization": org.pk,
        "code": "valve",
        "name": "Valve",
        "description": "",
        "subject_prefix": "{org}.{location}.{thing_type}.{thing}",
        "metadata_schema": "{}",
    }
    return {**data, **overrides}


def operations_management(initial: int, total: int) -> dict:
    return {
        "operations-TOTAL_FORMS": str(total),
        "operations-INITIAL_FORMS": str(initial),
        "operations-MIN_NUM_FORMS": "0",
        "operations-MAX_NUM_FORMS": "1000",
    }


def test_an_admin_creates_a_type_and_its_operations(stock, monkeypatch):
    synced = []
    monkeypatch.setattr(contracts, "sync_type_contract", lambda thing_type: synced.append(thing_type.code))
    client = signed_in(stock.user("admin"))
    response = client.post(admin_url("thingtype", "add"), {**type_form(stock.org), "_continue": "1"})
    assert response.status_code == 302, errors_of(response)
    valve = ThingType.objects.get(code="valve", organization=stock.org)
    assert synced == ["valve"]
    schema = make_schema(stock.org)
    url = admin_url("thingtype", "change", valve.pk)
    operation = {
        "operations-0-name": "open",
        "operations-0-capability": "reply",
        "operations-0-subject_suffix": "cmd.open",
        "operations-0-message_schema": schema.pk,
        "operations-0-description": "",
    }
    response = client.post(url, {**type_form(stock.org), **operations_management(0, 1), **operation})
    assert response.status_code == 302, errors_of(response)
    assert list(valve.operations.values_list("name", "message_schema")) == [("open", schema.pk)]
    assert synced == ["valve", "valve"]

    # A subject the template rules refuse is a form error naming the part; another organization's schema too.
    theirs = make_schema(stock.other_org)
    existing = {"operations-0-id": valve.operations.get().pk, "operations-0-thing_type": valve.pk, **operation}
    bad = {
        "operations-1-name": "close",
        "operations-1-capability": "publish",
        "operations-1-subject_suffix": "cmd.{nope}",
        "operations-1-message_schema": theirs.pk,
        "operations-1-description": "",
    }
    response = client.post(url, {**type_form(stock.org), **operations_management(1, 2), **existing, **bad})
    assert response.status_code == 200
    errors = response.context["inline_admin_formsets"][0].formset.errors[1]
    assert "message_schema" in errors and "subject_suffix" in errors
    assert "nope" in " ".join(errors["subject_suffix"])
    assert valve.operations.count() == 1

    # Removing the operation goes through delete_operation (the contract follows).
    delete = {**existing, "operations-0-DELETE": "on"}
    response = client.post(url, {**type_form(stock.org), **operations_management(1, 1), **delete})
    assert response.status_code == 302
    assert not Operation.objects.filter(thing_type=valve).exists()
    assert synced == ["valve", "valve", "valve"]


def test_members_read_types_but_do_not_change_them(stock):
    client = signed_in(stock.user("member"))
    page = client.get(admin_url("thingtype", "change", stock.sensor.pk)).content.decode()
    assert "telemetry.temp" in page and 'name="_save"' not in page
    assert client.get(admin_url("thingtype", "add")).status_code == 403


def test_a_type_with_things_is_not_deleted(stock):
    make_thing(stock.org, stock.sensor, "pump-1", metadata={"floor": 1})
    client = signed_in(stock.user("owner"))
    response = client.post(admin_url("thingtype", "delete", stock.sensor.pk), {"post": "yes"})
    assert response.status_code in (200, 403)  # the delete page lists the protected things
    assert ThingType.objects.filter(pk=stock.sensor.pk).exists()


def test_a_message_schema_must_be_a_valid_json_schema(stock):
    client = signed_in(stock.user("admin"))
    data = {
        "organization": stock.org.pk,
        "namespace": "acme",
        "name": "pressure",
        "version": "1.0.0",
        "description": "",
        "schema": json.dumps({"type": "nope"}),
    }
    assert "schema" in errors_of(client.post(admin_url("messageschema", "add"), data))
    data["schema"] = json.dumps({"type": "object"})
    assert client.post(admin_url("messageschema", "add"), data).status_code == 302


# --- locations and the tree -------------------------------------------------------------------------------------


def test_a_location_cannot_move_under_itself_nor_into_another_organization(stock):
    child = make_location(stock.org, "floor-1", parent=stock.site)
    client = signed_in(stock.user("member"))
    data = {
        "organization": stock.org.pk,
        "code": "hq",
        "name": "HQ",
        "description": "",
        "location_type": "",
        "parent": child.pk,
        "address": "",
        "latitude": "",
        "longitude": "",
        "metadata": "{}",
    }
    url = admin_url("location", "change", stock.site.pk)
    assert "parent" in errors_of(client.post(url, data))
    assert "parent" in errors_of(client.post(url, {**data, "parent": stock.their_site.pk}))
    stock.site.refresh_from_db()
    assert stock.site.parent is None


def test_the_location_tree_nests_counts_and_is_scoped(stock, django_assert_max_num_queries):
    floor = make_location(stock.org, "floor-1", parent=stock.site)
    room = make_location(stock.org, "room-101", parent=floor)
    make_location(stock.org, "annex")
    for code, where in [("a", room), ("b", room), ("c", floor)]:
        make_thing(stock.org, stock.sensor, code, location=where, metadata={"floor": 1})
    client = signed_in(stock.user("viewer"))
    response = client.get(admin_url("location", "tree"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "plant" not in html  # the other organization's
    # Nested: hq > floor-1 > room-101, with direct and subtree counts.
    hq, fl, rm = (html.index(f"<strong>{code}</strong>") for code in ("hq", "floor-1", "room-101"))
    assert html.index("<strong>annex</strong>") < hq < fl < rm
    assert html.count("<ul>") == 4  # the organization's roots, hq's, floor-1's and room-101's children
    assert admin_url("location", "change", room.pk) in html
    assert '2 thing(s)</a><span class="muted"> (2 with sub-locations)' in html
    assert '0 thing(s)</a><span class="muted"> (3 with sub-locations)' in html
    for index in range(30):
        make_location(stock.org, f"extra-{index}", parent=floor)
    with django_assert_max_num_queries(response_queries(client, admin_url("location", "tree"))):
        assert client.get(admin_url("location", "tree")).status_code == 200


def response_queries(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return len(queries)


def test_the_tree_of_a_superuser_shows_each_organization(stock):
    client = signed_in(stock.superuser)
    html = client.get(admin_url("location", "tree")).content.decode()
    assert "Acme Corp" in html and "Globex" in html and "<strong>plant</strong>" in html


def test_the_tree_answers_anonymous_with_the_sign_in_page(stock):
    response = Client().get(admin_url("location", "tree"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


# --- floorplans ---------------------------------------------------------------------------------------------------


@pytest.fixture
def plan(stock):
    stock.plan = make_floorplan(stock.org, stock.site, width=400, height=300)
    stock.their_plan = make_floorplan(stock.other_org, stock.their_site)
    room = make_location(stock.org, "room-1", parent=stock.site)
    stock.thing = make_thing(stock.org, stock.sensor, "pump-1", location=room, metadata={"floor": 1})
    stock.elsewhere = make_thing(stock.org, stock.sensor, "far-1", metadata={"floor": 1})
    stock.their_thing = make_thing(stock.other_org, stock.their_type, "x-1")
    return stock


def test_a_floorplan_upload_is_checked(stock):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = signed_in(stock.user("member"))
    data = {"organization": stock.org.pk, "location": stock.site.pk, "name": "Roof"}
    svg = SimpleUploadedFile("plan.svg", b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "image/svg+xml")
    assert "image" in errors_of(client.post(admin_url("floorplan", "add"), {**data, "image": svg}))
    image = SimpleUploadedFile("plan.png", png_bytes(640, 480), "image/png")
    response = client.post(admin_url("floorplan", "add"), {**data, "image": image})
    assert response.status_code == 302
    floorplan = stock.site.floorplans.get(name="Roof")
    assert (floorplan.image_format, floorplan.width, floorplan.height) == ("png", 640, 480)


def test_the_image_is_served_to_members_only(plan):
    url = admin_url("floorplan", "image", plan.plan.pk)
    response = signed_in(plan.user("viewer")).get(url)
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    assert "private" in response["Cache-Control"]
    assert signed_in(plan.outsider).get(url).status_code == 404
    assert signed_in(plan.user("viewer")).get(admin_url("floorplan", "image", plan.their_plan.pk)).status_code == 404
    assert Client().get(url).status_code == 302  # to the sign-in page
    assert not plan.plan.image.url.startswith("/admin/")  # the media URL is never used (MEDIA_ROOT is not served)


def test_the_plan_page_shows_markers_and_the_locations_things(plan):
    Placement.objects.create(organization=plan.org, floorplan=plan.plan, thing=plan.thing, x=100, y=150)
    client = signed_in(plan.user("member"))
    html = client.get(admin_url("floorplan", "change", plan.plan.pk)).content.decode()
    assert admin_url("floorplan", "image", plan.plan.pk) in html
    assert 'data-editable="true"' in html
    compact = " ".join(html.split())
    assert (
        f'data-thing="{plan.thing.pk}" data-x="100.0" data-y="150.0" style="left: 25.0000%; top: 50.0000%;"' in compact
    )
    assert 'class="plan-thing placed"' in html and "pump-1" in html
    assert "far-1" not in html  # not at this location
    html = signed_in(plan.user("viewer")).get(admin_url("floorplan", "change", plan.plan.pk)).content.decode()
    assert 'data-editable="false"' in html and "pump-1" in html


def test_a_member_places_and_moves_a_thing(plan):
    client = signed_in(plan.user("member"))
    url = admin_url("floorplan", "place", plan.plan.pk)
    response = client.post(url, {"thing": plan.thing.pk, "x": "120.5", "y": "80"})
    assert response.status_code == 201, response.content
    assert response.json() == {
        "id": response.json()["id"],
        "thing": plan.thing.pk,
        "code": "pump-1",
        "x": 120.5,
        "y": 80.0,
    }
    response = client.post(url, {"thing": plan.thing.pk, "x": "10", "y": "20"})
    assert response.status_code == 200
    placement = Placement.objects.get(floorplan=plan.plan)
    assert (placement.x, placement.y) == (10, 20)
    assert AuditEvent.objects.filter(object_type="inventory.placement", action="update").exists()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"x": "401", "y": "10"}, "x"),
        ({"x": "10", "y": "-1"}, "y"),
        ({"x": "nan", "y": "1"}, "x"),
        ({"x": "", "y": "1"}, "x"),
        ({"thing": "nope", "x": "1", "y": "1"}, "thing"),
    ],
)
def test_a_bad_drop_is_refused_with_the_field_named(plan, data, field):
    client = signed_in(plan.user("member"))
    response = client.post(admin_url("floorplan", "place", plan.plan.pk), {"thing": plan.thing.pk, **data})
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Placement.objects.exists()


def test_drops_stay_inside_the_organization(plan):
    client = signed_in(plan.user("member"))
    response = client.post(
        admin_url("floorplan", "place", plan.plan.pk), {"thing": plan.their_thing.pk, "x": 1, "y": 1}
    )
    assert response.status_code == 400 and "thing" in response.json()["errors"]
    response = client.post(
        admin_url("floorplan", "place", plan.their_plan.pk), {"thing": plan.thing.pk, "x": 1, "y": 1}
    )
    assert response.status_code == 404
    outsider = signed_in(plan.outsider)
    response = outsider.post(
        admin_url("floorplan", "place", plan.plan.pk), {"thing": plan.their_thing.pk, "x": 1, "y": 1}
    )
    assert response.status_code == 404
    assert not Placement.objects.exists()


@pytest.mark.parametrize("role", ["viewer", "auditor"])
def test_readers_cannot_place(plan, role):
    response = signed_in(plan.user(role)).post(
        admin_url("floorplan", "place", plan.plan.pk), {"thing": plan.thing.pk, "x": 1, "y": 1}
    )
    assert response.status_code == 403
    assert not Placement.objects.exists()


def test_the_drop_endpoint_wants_a_post_with_csrf(plan):
    client = signed_in(plan.user("member"))
    assert client.get(admin_url("floorplan", "place", plan.plan.pk)).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(plan.user("member"))
    response = strict.post(admin_url("floorplan", "place", plan.plan.pk), {"thing": plan.thing.pk, "x": 1, "y": 1})
    assert response.status_code == 403
    assert not Placement.objects.exists()


def test_placements_inline_checks_the_image_bounds(plan):
    client = signed_in(plan.user("member"))
    data = {
        "organization": plan.org.pk,
        "location": plan.site.pk,
        "name": plan.plan.name,
        "placements-TOTAL_FORMS": "1",
        "placements-INITIAL_FORMS": "0",
        "placements-MIN_NUM_FORMS": "0",
        "placements-MAX_NUM_FORMS": "1000",
        "placements-0-thing": plan.thing.pk,
        "placements-0-x": "500",
        "placements-0-y": "10",
    }
    url = admin_url("floorplan", "change", plan.plan.pk)
    response = client.post(url, data)
    assert response.status_code == 200
    assert "x" in response.context["inline_admin_formsets"][0].formset.errors[0]
    response = client.post(url, {**data, "placements-0-thing": plan.their_thing.pk, "placements-0-x": "5"})
    assert "thing" in response.context["inline_admin_formsets"][0].formset.errors[0]
    response = client.post(url, {**data, "placements-0-x": "5"})
    assert response.status_code == 302
    assert Placement.objects.get().organization == plan.org


def test_location_things_link_filters_the_thing_list(plan):
    client = signed_in(plan.user("viewer"))
    response = client.get(admin_url("thing") + f"?location__id__exact={plan.thing.location_id}")
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_an_admin_adds_a_thing_with_a_linked_user(stock):
    free = make_nats_user(stock.org, owner_kind=NatsUser.OwnerKind.THING, name="free")
    client = signed_in(stock.user("admin"))
    data = thing_form(stock.org, stock.sensor, metadata='{"floor": 1}', nats_user=free.pk)
    response = client.post(admin_url("thing", "add"), data)
    assert response.status_code == 302, errors_of(response)
    assert Thing.objects.get(code="pump-1").nats_user == free
    # The same user cannot be linked twice.
    response = client.post(admin_url("thing", "add"), {**data, "code": "pump-2"})
    assert "nats_user" in errors_of(response)


HUGE = str(10**30)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("metadata", '{"floor": 1, "note": "a\\u0000b"}'),
        ("metadata", '{"floor": 1, "a\\u0000": 1}'),
        ("code", "p\x00"),
        ("thing_type", HUGE),
        ("location", HUGE),
    ],
)
def test_bad_thing_fields_are_form_errors(stock, field, value):
    client = signed_in(stock.user("admin"))
    response = client.post(
        admin_url("thing", "add"), {**thing_form(stock.org, stock.sensor, metadata='{"floor": 1}'), field: value}
    )
    assert field in errors_of(response)
    assert not Thing.objects.exists()


@pytest.mark.parametrize(("field", "value"), [("latitude", HUGE), ("parent", HUGE), ("metadata", '{"a": "\\u0000"}')])
def test_bad_location_fields_are_form_errors(stock, field, value):
    client = signed_in(stock.user("member"))
    data = {
        "organization": stock.org.pk,
        "code": "new",
        "name": "New",
        "description": "",
        "location_type": "",
        "parent": "",
        "address": "",
        "latitude": "1",
        "longitude": "1",
        "metadata": "{}",
    }
    response = client.post(admin_url("location", "add"), {**data, field: value})
    assert field in errors_of(response)


def test_a_huge_thing_id_on_the_plan_is_refused(plan):
    response = signed_in(plan.user("member")).post(
        admin_url("floorplan", "place", plan.plan.pk), {"thing": HUGE, "x": "1", "y": "1"}
    )
    assert response.status_code == 400 and "thing" in response.json()["errors"]
    assert signed_in(plan.user("member")).get(admin_url("floorplan", "image", HUGE)).status_code == 404
