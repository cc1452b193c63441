"""The live twin over websockets against a real nats-server: a viewer of a thing gets a snapshot of both buckets,
then every put and delete of its object (and nothing of others); a NATS restart is announced and followed by a
fresh snapshot; outsiders and anonymous users are refused; viewers of one organization share one connection."""

from __future__ import annotations

import asyncio

import pytest

from inventory.twin import hub, store
from tests.integration import live
from tests.integration.twin_support import (
    Device,
    creds_of,
    make_device,
    make_sensor,
    receive,
    session_cookie,
    viewer,
)
from tests.support.world import build_world

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


@pytest.fixture
def fleet(celery_worker, nats_server):
    world = build_world()
    sensor = make_sensor(world.org)
    world.thing = make_device(world.org, sensor, "s-01")
    world.neighbour = make_device(world.org, sensor, "s-02")
    world.creds = creds_of(world.thing)
    world.neighbour_creds = creds_of(world.neighbour)
    world.path = f"/ws/orgs/{world.org.slug}/twin/thing/s-01/"
    world.url = nats_server.url
    live.wait_pushed(10)
    return world


def run(scenario):
    asyncio.run(asyncio.wait_for(scenario, 60))


def test_a_viewer_gets_a_snapshot_then_puts_and_deletes_of_its_object(fleet):
    cookie = session_cookie(fleet.user("viewer"))

    async def scenario():
        device = await Device(fleet.url, fleet.creds, "s-01").connect()
        neighbour = await Device(fleet.url, fleet.neighbour_creds, "s-02").connect()
        await device.report("temperature", 21.5)
        await asyncio.to_thread(store.set_desired, fleet.org.pk, "thing.s-01.mode", {"mode": "auto"})

        ws = viewer(fleet.path, cookie)
        connected, _ = await ws.connect()
        assert connected
        snapshot = await receive(ws, "snapshot")
        current = snapshot["objects"]["thing.s-01"]
        assert current["reported"]["temperature"]["value"] == 21.5
        assert current["desired"]["mode"]["value"] == {"mode": "auto"}
        assert current["reported"]["temperature"]["revision"] >= 1 and current["reported"]["temperature"]["timestamp"]

        await neighbour.report("temperature", 5)  # another object: not relayed
        revision = await device.report("temperature", 22)
        update = await receive(ws, "update")
        assert (update["key"], update["value"], update["operation"], update["bucket"]) == (
            "thing.s-01.temperature",
            22,
            "put",
            "reported",
        )
        assert update["revision"] == revision and update["timestamp"]

        await device.forget("temperature")
        update = await receive(ws, "update")
        assert (update["key"], update["operation"], update["value"]) == ("thing.s-01.temperature", "delete", None)

        await asyncio.to_thread(store.clear_desired, fleet.org.pk, "thing.s-01.mode")
        update = await receive(ws, "update")
        assert (update["bucket"], update["property"], update["operation"]) == ("desired", "mode", "delete")
        assert device.errors == [] and neighbour.errors == []
        await ws.disconnect()
        await device.close()
        await neighbour.close()

    run(scenario())
    assert hub.stats() == {"organizations": 0, "viewers": 0, "connections": 0}


def test_a_nats_restart_is_announced_and_followed_by_a_fresh_snapshot(fleet, nats_server):
    cookie = session_cookie(fleet.user("member"))

    async def scenario():
        device = await Device(fleet.url, fleet.creds, "s-01").connect()
        await device.report("temperature", 20)
        ws = viewer(fleet.path, cookie)
        assert (await ws.connect())[0]
        assert (await receive(ws, "snapshot"))["objects"]["thing.s-01"]["reported"]["temperature"]["value"] == 20

        await asyncio.to_thread(nats_server.stop)
        assert (await receive(ws))["type"] == "disconnected"
        await asyncio.to_thread(nats_server.start)

        fresh = await receive(ws, "snapshot", timeout=15)
        assert fresh["objects"]["thing.s-01"]["reported"]["temperature"]["value"] == 20
        await device.report("temperature", 23)  # the device reconnected too
        update = await receive(ws, "update")
        assert update["value"] == 23
        assert hub.stats()["connections"] == 1
        await ws.disconnect()
        await device.close()

    run(scenario())


def test_outsiders_anonymous_users_and_foreign_origins_are_refused(fleet):
    outsider, member = session_cookie(fleet.outsider), session_cookie(fleet.user("auditor"))
    other_org = session_cookie(fleet.user("owner"))

    async def scenario():
        assert await viewer(fleet.path).connect() == (False, 4401)
        assert await viewer(fleet.path, outsider).connect() == (False, 4403)
        # Another organization's slug, an unknown thing, an unknown kind: refused alike.
        assert await viewer(f"/ws/orgs/{fleet.other_org.slug}/twin/thing/s-01/", other_org).connect() == (False, 4403)
        assert await viewer(f"/ws/orgs/{fleet.org.slug}/twin/thing/nope/", member).connect() == (False, 4403)
        assert await viewer(f"/ws/orgs/{fleet.org.slug}/twin/user/s-01/", member).connect() == (False, 4403)
        connected, _ = await viewer(fleet.path, member, origin="http://evil.example").connect()
        assert not connected
        ws = viewer(fleet.path, member)  # an auditor reads
        assert (await ws.connect())[0]
        await receive(ws, "snapshot")
        await ws.disconnect()

    run(scenario())


def test_viewers_of_one_organization_share_one_nats_connection(fleet):
    cookies = [session_cookie(fleet.user(role)) for role in ("viewer", "owner")]
    superuser = session_cookie(fleet.superuser)

    async def scenario():
        device = await Device(fleet.url, fleet.creds, "s-01").connect()
        viewers = [viewer(fleet.path, cookie) for cookie in [*cookies, superuser]]
        for ws in viewers:
            assert (await ws.connect())[0]
            await receive(ws, "snapshot")
        assert hub.stats() == {"organizations": 1, "viewers": 3, "connections": 1}
        await device.report("humidity", 40)
        for ws in viewers:
            assert (await receive(ws, "update"))["value"] == 40
        for ws in viewers[:-1]:
            await ws.disconnect()
        assert hub.stats()["connections"] == 1
        await viewers[-1].disconnect()
        assert hub.stats() == {"organizations": 0, "viewers": 0, "connections": 0}
        await device.close()

    run(scenario())


def test_a_device_puts_its_own_reported_keys_and_watches_only_its_own_desired_keys(fleet):
    async def scenario():
        await asyncio.to_thread(store.set_desired, fleet.org.pk, "thing.s-01.mode", "auto")
        await asyncio.to_thread(store.set_desired, fleet.org.pk, "thing.s-02.mode", "secret")
        device = await Device(fleet.url, fleet.creds, "s-01").connect()
        await device.watch_desired()
        assert await asyncio.wait_for(device.desired.get(), 5) == ("mode", b'"auto"')
        desired = await device.kv("twin_desired")
        assert (await desired.get("thing.s-01.mode")).value == b'"auto"'

        refused = []
        reported = await device.kv("twin")
        attempts = {
            "put a neighbour's key": reported.put("thing.s-02.temperature", b"1"),
            "put desired state": desired.put("thing.s-01.mode", b'"manual"'),
            "get a neighbour's desired key": desired.get("thing.s-02.mode"),
            "watch every desired key": desired.watch(">"),  # nats-py's unnamed consumer
            "read reported state": reported.get("thing.s-01.temperature"),
        }
        for what, attempt in attempts.items():
            try:
                await asyncio.wait_for(attempt, 3)
            except Exception:
                refused.append(what)
        assert refused == list(attempts)
        assert any("permissions violation" in e for e in device.errors)
        await device.close()

    run(scenario())


def test_the_api_sets_reads_and_clears_desired_state_audited_and_drift_follows(fleet):
    from rest_framework.test import APIClient

    from audit.models import AuditEvent

    client = APIClient()
    client.force_authenticate(fleet.user("admin"))
    base = f"/api/v1/orgs/{fleet.org.slug}/things/{fleet.thing.pk}/twin/"

    response = client.put(f"{base}desired/config/", {"mode": "auto", "interval": 60}, format="json")
    assert response.status_code == 200, response.data
    assert response.data["key"] == "thing.s-01.config" and response.data["revision"] >= 1
    event = AuditEvent.objects.filter(extra__twin="desired.set").get()
    assert event.actor_name == fleet.user("admin").username and event.object_id == str(fleet.thing.pk)

    snapshot = client.get(base).data
    assert snapshot["desired"]["config"]["value"] == {"mode": "auto", "interval": 60}
    assert snapshot["reported"] == {} and snapshot["drift"] == ["config"]

    async def report():
        device = await Device(fleet.url, fleet.creds, "s-01").connect()
        await device.report("config", {"mode": "auto", "interval": 60, "firmware": "1.2"})  # a superset
        await device.close()

    run(report())
    snapshot = client.get(base).data
    assert snapshot["drift"] == [] and snapshot["reported"]["config"]["value"]["firmware"] == "1.2"

    assert client.delete(f"{base}desired/config/").status_code == 204
    assert client.get(base).data["desired"] == {}
    assert AuditEvent.objects.filter(extra__twin="desired.clear").count() == 1
