"""MQTT against a real nats-server exported with `--mqtt-port`: a thing connects with its MQTT password (a bearer JWT
for MQTT connections only, fetched with its own nkey) and publishes within its contract; a publish outside it never
arrives; the same password opens no NATS connection; a deactivated thing's password is refused."""

from __future__ import annotations

import io
import threading

import paho.mqtt.client as mqtt
import pytest
from django.core.management import call_command

from credentials.models import Account
from credentials.services import nats as nats_svc
from inventory.models import Thing
from inventory.services import contracts, things, types
from tests.integration import live
from tests.integration.edge_support import device_client, export_hub
from tests.integration.support import Client, free_port, log_tail, wait_until
from tests.support.world import make_org, make_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

OPERATIONS = [
    {"name": "temp", "capability": "publish", "subject_suffix": "telemetry.temp"},
    {"name": "config", "capability": "subscribe", "subject_suffix": "config"},
]


@pytest.fixture
def hub(transactional_db, settings, tmp_path, nats_ports, broker, celery_worker):
    nats_svc.bootstrap()
    mqtt_port = free_port()
    server = export_hub(tmp_path / "hub", nats_ports, mqtt_port=mqtt_port)
    server.mqtt_port = mqtt_port
    settings.NATS_URL = server.url
    try:
        server.start()
        call_command("nats_reconcile", stdout=io.StringIO())
        yield server
    finally:
        server.stop()


class MqttDevice:
    def __init__(self, port: int, username: str, password: str):
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.reason = None
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{username}-{free_port()}")
        self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.reason = reason_code
        if not reason_code.is_failure:
            self.connected.set()
        else:
            self.disconnected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.reason = self.reason or reason_code
        self.disconnected.set()

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=0).wait_for_publish(2)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def fleet(hub, client_loop):
    org = make_org("acme", make_user("acme-owner"))
    account = Account.objects.get(organization=org)
    sensor = types.create_type(organization=org, code="sensor", name="Sensor", operations=OPERATIONS)
    made = []
    for code in ("s-01", "s-02"):
        thing = Thing.objects.create(organization=org, code=code, thing_type=sensor)
        thing.nats_user = contracts.provision_thing_user(thing)
        thing.save()
        made.append(thing)
    observer_user = nats_svc.create_user(account=account, name="observer", publish_allow=[">"], subscribe_allow=[">"])
    live.wait_pushed(10)
    observer = Client(client_loop).connect(hub.url, nats_svc.user_creds(observer_user))
    yield made, observer
    observer.close()


def password_of(thing) -> dict:
    response = device_client(thing.nats_user).post("/api/v1/devices/mqtt-password/")
    assert response.status_code == 200, response.content
    return response.json()


def test_a_thing_publishes_over_mqtt_within_its_contract(hub, fleet, client_loop):
    (s1, s2), observer = fleet
    seen = observer.subscribe("acme.>")
    bundle = password_of(s1)
    device = MqttDevice(hub.mqtt_port, bundle["username"], bundle["password"])
    try:
        assert device.connected.wait(5), f"refused: {device.reason}\n{log_tail(hub.log)}"
        device.publish("acme/_/sensor/s-01/telemetry/temp", b"21.5")
        wait_until(lambda: b"21.5" in seen.payloads, 5, what="the contract's publish at the observer")
        assert seen.messages[-1].subject == "acme._.sensor.s-01.telemetry.temp"
        # Outside its contract: another thing's subject and a subject of no operation never arrive.
        device.publish("acme/_/sensor/s-02/telemetry/temp", b"forged")
        device.publish("acme/_/sensor/s-01/secrets", b"forged")
        device.publish("acme/_/sensor/s-01/telemetry/temp", b"22.0")  # on a connection that is still open, or not
    finally:
        device.close()
    log = lambda: hub.log.read_text()  # noqa: E731
    wait_until(lambda: 'Subject "acme._.sensor.s-01.secrets"' in log(), 5, what="the violations in the server log")
    assert 'Publish Violation - Subject "acme._.sensor.s-02.telemetry.temp"' in log()
    assert b"forged" not in seen.payloads
    assert not any(m.subject.startswith("acme._.sensor.s-02") for m in seen.messages)


def test_the_things_own_jwt_is_no_mqtt_password(hub, fleet):
    """Not bearer: nats-server wants the nonce signed, which MQTT cannot do."""
    (s1, _), _ = fleet
    s1.nats_user.refresh_from_db()
    device = MqttDevice(hub.mqtt_port, "s-01", s1.nats_user.jwt)
    try:
        assert device.disconnected.wait(5)
        assert not device.connected.is_set()
    finally:
        device.close()


def test_the_mqtt_password_opens_no_nats_connection(hub, fleet, client_loop):
    (s1, _), _ = fleet
    bundle = password_of(s1)
    client = Client(client_loop)
    with pytest.raises(Exception) as exc:
        client.loop.run(_connect_with_jwt(hub.url, bundle["password"]))
    assert "authorization" in str(exc.value).lower()


async def _connect_with_jwt(url: str, jwt: str):
    import nats

    nc = await nats.connect(
        servers=[url],
        user_jwt_cb=lambda: jwt.encode(),
        signature_cb=lambda nonce: b"",
        allow_reconnect=False,
        max_reconnect_attempts=1,
        connect_timeout=2,
    )
    await nc.close()


def test_a_deactivated_things_mqtt_password_is_refused(hub, fleet):
    (s1, _), _ = fleet
    bundle = password_of(s1)
    things.deactivate_thing(s1)
    live.wait_pushed(10)
    device = MqttDevice(hub.mqtt_port, bundle["username"], bundle["password"])
    try:
        assert device.disconnected.wait(5)
        assert not device.connected.is_set()
    finally:
        device.close()
