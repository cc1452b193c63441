"""Edge drill: a hub (from `nats_export`) and a leaf (from its bootstrap) as two real nats-servers. Devices connect to
the leaf with their own credentials and publish into a stream of the leaf's JetStream domain; the hub is stopped;
the devices keep publishing and a local subscriber keeps receiving; a device revoked before the outage is refused
at the leaf (the revocation reached the leaf through the hub while they were connected); the hub returns and the
stream it sources from the leaf catches up: every message once, none lost, none duplicated."""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from django.core.management import call_command
from nats.js.api import ExternalStream, StreamConfig, StreamSource

from credentials.models import Account, NatsUser
from credentials.services import nats as nats_svc
from inventory.models import Thing
from inventory.services import contracts as contract_svc
from inventory.services import edge, things, types
from tests.integration import live
from tests.integration.edge_support import export_hub, leaf_connections, leaf_server, wait_leaf_connected
from tests.integration.support import Client, free_port, log_tail, wait_until
from tests.support.world import make_org, make_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

OPERATIONS = [{"name": "temp", "capability": "publish", "subject_suffix": "telemetry.temp"}]


@pytest.fixture
def hub(transactional_db, settings, tmp_path, nats_ports, broker, celery_worker):
    """The hub: bootstrap, export with the leafnode port open, run, reconcile (the deploy sequence)."""
    nats_svc.bootstrap()
    leaf_port = free_port()
    server = export_hub(tmp_path / "hub", nats_ports, leafnode_port=leaf_port)
    settings.NATS_URL = server.url
    settings.HUB_LEAF_URLS = [f"nats-leaf://127.0.0.1:{leaf_port}"]
    try:
        server.start()
        call_command("nats_reconcile", stdout=io.StringIO())
        yield server
    finally:
        server.stop()


class Site:
    def __init__(self, tmp_path, client_loop):
        self.loop = client_loop
        self.clients: list[Client] = []
        self.org = make_org("acme", make_user("acme-owner"))
        self.account = Account.objects.get(organization=self.org)
        self.sensor = types.create_type(organization=self.org, code="sensor", name="Sensor", operations=OPERATIONS)
        self.observer = nats_svc.create_user(
            account=self.account, name="observer", publish_allow=[">"], subscribe_allow=[">"]
        )
        self.s1 = self.thing("s-01")
        self.s2 = self.thing("s-02")
        self.leaf = edge.create_leaf_node(organization=self.org, code="site-a", name="Site A")
        live.wait_pushed(10)

    def thing(self, code: str) -> Thing:
        thing = Thing.objects.create(organization=self.org, code=code, thing_type=self.sensor)
        thing.nats_user = contract_svc.provision_thing_user(thing)
        thing.save()
        return thing

    def creds(self, user) -> str:
        return nats_svc.user_creds(NatsUser.objects.get(pk=getattr(user, "nats_user_id", None) or user.pk))

    def connect(self, url: str, creds: str, **options) -> Client:
        client = Client(self.loop)
        self.clients.append(client)
        return client.connect(url, creds, **options)

    def close(self) -> None:
        for client in self.clients:
            with contextlib.suppress(Exception):  # already dropped
                client.close()


def subject(code: str) -> str:
    return f"acme._.sensor.{code}.telemetry.temp"


def refused(site: Site, url: str, creds: str) -> str:
    try:
        client = site.connect(url, creds)
    except Exception as exc:  # noqa: BLE001
        return str(exc).lower() or type(exc).__name__
    client.close()
    raise AssertionError("the leaf accepted credentials it should refuse")


def test_edge_drill(hub, tmp_path, client_loop):
    site = Site(tmp_path, client_loop)
    try:
        _drill(site, hub, tmp_path)
    finally:
        site.close()


def _drill(site: Site, hub, tmp_path) -> None:
    leaf, bundle = leaf_server(tmp_path / "leaf", site.leaf)
    assert bundle["domain"] == "edge-site-a"
    leaf.start()
    try:
        wait_leaf_connected(leaf, 2)
        _connected_drill(site, hub, leaf)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- leaf\n{log_tail(leaf.log)}\n--- hub\n{log_tail(hub.log)}") from None
    finally:
        leaf.stop()


def _connected_drill(site: Site, hub, leaf) -> None:
    observer_creds = site.creds(site.observer)
    s1_creds, s2_creds = site.creds(site.s1), site.creds(site.s2)

    # The leaf's stream, in its own domain, and the hub's stream sourcing it across domains.
    local = site.connect(leaf.url, observer_creds, reconnect=True)
    js_leaf = local.nc.jetstream()
    site.loop.run(js_leaf.add_stream(StreamConfig(name="TELEMETRY", subjects=["acme.*.sensor.*.telemetry.>"])))
    central = site.connect(hub.url, observer_creds)
    js_hub = central.nc.jetstream()
    source = StreamSource(name="TELEMETRY", external=ExternalStream(api="$JS.edge-site-a.API"))
    site.loop.run(js_hub.add_stream(StreamConfig(name="HUB_TELEMETRY", sources=[source])))
    seen = local.subscribe("acme.*.sensor.*.telemetry.>")

    # A device revoked while the hub and the leaf are connected: the leaf learns of it from the hub.
    s2 = site.connect(leaf.url, s2_creds)
    things.deactivate_thing(site.s2)
    live.wait_pushed(10)
    wait_until(lambda: s2.closed.is_set() or s2.disconnected.is_set(), 10, what="s-02 dropped at the leaf")
    assert "authorization" in refused(site, leaf.url, s2_creds)

    device = site.connect(leaf.url, s1_creds, reconnect=True)
    sent = 0

    def publish(count: int) -> None:
        nonlocal sent
        for _ in range(count):
            sent += 1
            device.publish(subject("s-01"), json.dumps({"n": sent}).encode())

    publish(20)
    wait_until(lambda: len(seen.messages) == 20, 5, what="20 messages at the local subscriber")

    def hub_count() -> int:
        return site.loop.run(js_hub.stream_info("HUB_TELEMETRY")).state.messages

    wait_until(lambda: hub_count() == 20, 15, what="the hub sourcing the first 20")

    # The outage.
    baseline = leaf_connections(leaf)
    central.close()
    hub.stop()
    publish(30)
    wait_until(lambda: len(seen.messages) == 50, 5, what="50 messages at the local subscriber during the outage")
    assert site.loop.run(js_leaf.stream_info("TELEMETRY")).state.messages == 50
    site.connect(leaf.url, s1_creds).close()  # a known device still gets in with its own credentials
    assert "authorization" in refused(site, leaf.url, s2_creds)

    # The hub returns: the leaf reconnects and the hub's stream catches up, once each.
    hub.start()
    wait_leaf_connected(leaf, baseline + 2, timeout=20)
    central = site.connect(hub.url, observer_creds)
    js_hub = central.nc.jetstream()
    try:
        wait_until(lambda: hub_count() == 50, 120, what="the hub sourcing the 50 messages")
    except AssertionError:
        info = site.loop.run(js_hub.stream_info("HUB_TELEMETRY"))
        raise AssertionError(f"hub has {info.state.messages}; sources {info.sources}") from None
    payloads = []
    for seq in range(1, 51):
        message = site.loop.run(js_hub.get_msg("HUB_TELEMETRY", seq))
        payloads.append(json.loads(message.data)["n"])
    assert payloads == list(range(1, 51))
    publish(5)
    wait_until(lambda: hub_count() == 55, 10, what="new messages flowing after the outage")
