"""The twin API's doors, without NATS: who may read and write a thing's twin, cross-tenant 404s, property names and
bodies refused with a message, and NATS being down answered with 503 and a sentence (never a 500). The writes
themselves against a real nats-server: tests/integration/test_twin_live.py."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEvent
from tenancy.roles import ALL_ROLES, MANAGERS
from tests.integration.support import free_port
from tests.inventory.admin_support import make_thing, make_type
from tests.support.authz import assert_access, expect


@pytest.fixture
def twin_world(world, settings):
    settings.NATS_URL = f"nats://127.0.0.1:{free_port()}"  # nothing listens there
    settings.TWIN_NATS_TIMEOUT = 0.5
    world.thing = make_thing(world.org, make_type(world.org), "s-01")
    world.foreign = make_thing(world.other_org, make_type(world.other_org), "s-01")
    return world


def twin_url(world, thing=None) -> str:
    return f"/api/v1/orgs/{world.org.slug}/things/{(thing or world.thing).pk}/twin/"


def desired_url(world, prop: str = "mode", thing=None) -> str:
    return f"{twin_url(world, thing)}desired/{prop}/"


def test_everyone_in_the_organization_reads_and_nats_down_is_a_503(twin_world):
    assert_access(twin_world, "get", twin_url, expect(ALL_ROLES, 503))


def test_owners_and_admins_set_and_clear_desired_state(twin_world):
    assert_access(twin_world, "put", desired_url, expect(MANAGERS, 503), data_for=lambda w: "auto")
    assert_access(twin_world, "delete", desired_url, expect(MANAGERS, 503))


def owner_client(world) -> APIClient:
    client = APIClient()
    client.force_authenticate(world.user("owner"))
    return client


def test_another_organizations_thing_is_not_found(twin_world):
    client = owner_client(twin_world)
    assert client.get(twin_url(twin_world, twin_world.foreign)).status_code == 404
    assert client.put(desired_url(twin_world, thing=twin_world.foreign), "x", format="json").status_code == 404
    assert client.delete(desired_url(twin_world, thing=twin_world.foreign)).status_code == 404


def test_nats_down_says_so_and_leaves_no_audit_event(twin_world):
    before = AuditEvent.objects.filter(extra__twin__isnull=False).count()
    response = owner_client(twin_world).put(desired_url(twin_world), {"mode": "auto"}, format="json")
    assert response.status_code == 503
    assert "not reachable" in response.data["detail"]
    assert AuditEvent.objects.filter(extra__twin__isnull=False).count() == before


@pytest.mark.parametrize("prop", ["a.b", "a*", "a>", "x" * 129, "sp ace"])
def test_a_property_must_be_one_nats_token(twin_world, prop):
    response = owner_client(twin_world).put(desired_url(twin_world, prop), 1, format="json")
    assert response.status_code == 400
    assert "NATS subject token" in str(response.data["property"])


def test_a_desired_value_needs_a_body_and_a_bounded_size(twin_world):
    client = owner_client(twin_world)
    response = client.put(desired_url(twin_world), content_type="application/json")
    assert response.status_code == 400 and "JSON body" in str(response.data["value"])
    response = client.put(desired_url(twin_world), "x" * 70000, format="json")
    assert response.status_code == 400 and "KiB" in str(response.data["value"])
    response = client.put(desired_url(twin_world), "{nope", content_type="application/json")
    assert response.status_code == 400
