"""The HTTP gateway against a real nats-server: a device that cannot speak NATS publishes over HTTP with its own
identity, on exactly its contract's subjects; everything refused is refused before anything reaches NATS."""

from __future__ import annotations

import json
import time

import pytest
from rest_framework.test import APIClient

from credentials.models import Account, NatsUser
from credentials.secrets import reveal
from credentials.services import nats as nats_svc
from inventory.devices.gateway_auth import issue_token, sign_request
from inventory.devices.natspool import POOL
from inventory.models import Location, LocationType, MessageSchema, Thing
from inventory.services import contracts as contract_svc
from inventory.services import things as thing_svc
from inventory.services import types
from tests.integration import live
from tests.integration.support import wait_until
from tests.support.world import make_org, make_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PUBLISH = "/api/v1/devices/publish/"
READING = {
    "type": "object",
    "properties": {"celsius": {"type": "number"}},
    "required": ["celsius"],
    "additionalProperties": False,
}


class Fleet:
    def __init__(self, connect):
        self.owner = make_user("acme-owner")
        self.organization = make_org("acme", self.owner)
        self.account = Account.objects.get(organization=self.organization)
        kind = LocationType.objects.create(organization=self.organization, code="site", name="Site")
        self.hq = Location.objects.create(organization=self.organization, location_type=kind, code="hq", name="HQ")
        schema = types.save_message_schema(
            MessageSchema(
                organization=self.organization, namespace="acme", name="reading", version="1.0.0", schema=READING
            )
        )
        self.sensor = types.create_type(
            organization=self.organization,
            code="sensor",
            name="Sensor",
            operations=[
                {"name": "temp", "capability": "publish", "subject_suffix": "telemetry.temp", "message_schema": schema},
                {"name": "log", "capability": "publish", "subject_suffix": "log"},
                {"name": "config", "capability": "subscribe", "subject_suffix": "config.>"},
            ],
        )
        observer = nats_svc.create_user(
            account=self.account, name="observer", publish_allow=[">"], subscribe_allow=[">"]
        )
        live.wait_pushed(5)
        self.observer = connect(nats_svc.user_creds(observer))
        self.seen = self.observer.subscribe("acme.>")

    def thing(self, code: str) -> Thing:
        thing = Thing.objects.create(
            organization=self.organization, code=code, thing_type=self.sensor, location=self.hq
        )
        thing.nats_user = contract_svc.provision_thing_user(thing)
        thing.save()
        return thing

    def subjects_seen(self) -> list[str]:
        self.observer.flush()
        return [m.subject for m in self.seen.messages]


def seed_of(thing: Thing) -> str:
    return reveal(NatsUser.objects.get(pk=thing.nats_user_id), "seed")


def signed_post(
    client: APIClient, thing: Thing, body: dict | bytes, path: str = PUBLISH, seed: str | None = None, ts=None
):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    header = sign_request(seed or seed_of(thing), "POST", path, raw, ts=ts)
    return client.generic("POST", path, raw, content_type="application/json", HTTP_AUTHORIZATION=header)


@pytest.fixture
def fleet(celery_worker, nats_server, connect):
    yield Fleet(connect)
    POOL.close()


def settle() -> None:
    time.sleep(0.3)  # anything wrongly published would have arrived by now


def test_a_signed_publish_arrives_on_the_contract_subject_and_nothing_else_gets_through(fleet):
    thing = fleet.thing("s-01")
    fleet.thing("s-02")
    client = APIClient()

    response = signed_post(client, thing, {"operation": "temp", "payload": {"celsius": 21.5}})
    assert response.status_code == 202, response.content
    subject = "acme.hq.sensor.s-01.telemetry.temp"
    assert response.json()["published"][0]["subject"] == subject
    wait_until(lambda: subject in fleet.subjects_seen(), 3, what="the HTTP publish on NATS")
    assert [m.data for m in fleet.seen.messages] == [b'{"celsius":21.5}']

    # Out of contract: another thing's subject, a subject the type does not have, anything else.
    for item in (
        {"subject": "acme.hq.sensor.s-02.telemetry.temp", "payload": {"celsius": 1}},
        {"suffix": "telemetry.humidity", "payload": 1},
        {"subject": "acme.x", "payload": 1},
        {"suffix": "config.interval", "payload": 1},  # subscribe-only
    ):
        response = signed_post(client, thing, item)
        assert response.status_code == 403, response.content
        assert item.get("subject", "acme.hq.sensor.s-01." + item.get("suffix", "")) in response.json()["detail"]

    # A payload against the operation's schema: 400 naming the field.
    response = signed_post(client, thing, {"operation": "temp", "payload": {"celsius": "hot"}})
    assert response.status_code == 400
    assert "payload.celsius" in response.json()
    response = signed_post(client, thing, {"suffix": "telemetry.temp", "payload": {}})
    assert response.status_code == 400 and "payload.celsius" in response.json()

    # Malformed bodies.
    assert signed_post(client, thing, b"{not json").status_code == 400
    assert signed_post(client, thing, {"payload": 1}).status_code == 400
    assert signed_post(client, thing, {"operation": "nope", "payload": 1}).status_code == 400

    # A bad signature (someone else's key claiming s-01), a replay, a stale timestamp.
    other = fleet.thing("s-03")
    body = json.dumps({"operation": "temp", "payload": {"celsius": 2}}).encode()
    forged = sign_request(seed_of(other), "POST", PUBLISH, body).replace(
        NatsUser.objects.get(pk=other.nats_user_id).public_key, NatsUser.objects.get(pk=thing.nats_user_id).public_key
    )
    response = client.generic("POST", PUBLISH, body, content_type="application/json", HTTP_AUTHORIZATION=forged)
    assert response.status_code == 401
    header = sign_request(seed_of(thing), "POST", PUBLISH, body)
    tampered = body.replace(b"2", b"3")
    assert (
        client.generic(
            "POST", PUBLISH, tampered, content_type="application/json", HTTP_AUTHORIZATION=header
        ).status_code
        == 401
    )
    first = client.generic("POST", PUBLISH, body, content_type="application/json", HTTP_AUTHORIZATION=header)
    assert first.status_code == 202
    replay = client.generic("POST", PUBLISH, body, content_type="application/json", HTTP_AUTHORIZATION=header)
    assert replay.status_code == 401 and "replay" in replay.json()["detail"]
    assert signed_post(client, thing, body, ts=int(time.time()) - 120).status_code == 401

    settle()
    assert fleet.subjects_seen() == [subject, subject]  # the first publish and the one signed request that passed


def test_a_revoked_or_deactivated_thing_is_refused_at_once(fleet):
    thing = fleet.thing("s-01")
    client = APIClient()
    assert signed_post(client, thing, {"operation": "log", "payload": "up"}).status_code == 202
    thing_svc.deactivate_thing(thing)
    assert signed_post(client, thing, {"operation": "log", "payload": "still here"}).status_code == 401
    thing_svc.reactivate_thing(Thing.objects.get(pk=thing.pk))
    assert signed_post(client, thing, {"operation": "log", "payload": "back"}).status_code == 202
    leaked = seed_of(thing)
    nats_svc.revoke_user(NatsUser.objects.get(pk=thing.nats_user_id))  # new key; the old one is revoked
    assert signed_post(client, thing, {"operation": "log", "payload": "revoked"}, seed=leaked).status_code == 401
    assert signed_post(client, thing, {"operation": "log", "payload": "new key"}).status_code == 202
    nats_svc.deactivate_user(NatsUser.objects.get(pk=thing.nats_user_id))
    assert signed_post(client, thing, {"operation": "log", "payload": "off"}).status_code == 401
    settle()
    assert [m.data for m in fleet.seen.messages] == [b"up", b"back", b"new key"]


def test_a_bearer_token_issued_by_an_owner_publishes_until_revoked(fleet):
    thing = fleet.thing("s-01")
    owner = APIClient()
    owner.force_authenticate(fleet.owner)
    url = f"/api/v1/orgs/acme/things/{thing.pk}/http-tokens/"
    created = owner.post(url, {"name": "cheap sensor"}, format="json")
    assert created.status_code == 201, created.content
    token = created.json()["token"]
    assert owner.get(url).json()["results"][0].get("token") is None

    device = APIClient()
    device.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert device.post(PUBLISH, {"operation": "log", "payload": "hello"}, format="json").status_code == 202
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Bearer sah_000000000000_" + "x" * 40)
    assert stranger.post(PUBLISH, {"operation": "log", "payload": "wrong"}, format="json").status_code == 401
    assert owner.post(f"{url}{created.json()['id']}/revoke/").status_code == 200
    refused = device.post(PUBLISH, {"operation": "log", "payload": "after"}, format="json")
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    settle()
    assert [m.data for m in fleet.seen.messages] == [b"hello"]


def test_a_batch_is_acked_by_the_stream_and_refused_without_one(fleet, client_loop):
    thing = fleet.thing("s-01")
    client = APIClient()
    batch = {"messages": [{"operation": "log", "payload": "a"}, {"operation": "temp", "payload": {"celsius": 1}}]}
    refused = signed_post(client, thing, batch)
    assert refused.status_code == 400 and "stream" in refused.json()["messages"][0]

    js = fleet.observer.nc.jetstream()
    client_loop.run(js.add_stream(name="ACME", subjects=["acme.>"]))
    # One bad message refuses the batch before anything is sent.
    bad = {"messages": [*batch["messages"], {"operation": "temp", "payload": {"celsius": "x"}}]}
    response = signed_post(client, thing, bad)
    assert response.status_code == 400 and "messages.2.payload.celsius" in response.json()
    assert client_loop.run(js.stream_info("ACME")).state.messages == 0

    # The same signed request twice would be a replay: a device repeating a body adds a counter to the query.
    response = signed_post(client, thing, batch, path=PUBLISH + "?attempt=2")
    assert response.status_code == 202, response.content
    receipts = response.json()["published"]
    assert [r["stream"] for r in receipts] == ["ACME", "ACME"] and [r["seq"] for r in receipts] == [1, 2]
    assert client_loop.run(js.stream_info("ACME")).state.messages == 2


def test_twin_state_lands_in_the_kv_bucket(fleet, client_loop):
    thing = fleet.thing("s-01")
    client = APIClient()
    path = "/api/v1/devices/twin/firmware/"
    body = json.dumps({"version": "1.2.3"}).encode()
    header = sign_request(seed_of(thing), "PUT", path, body)
    response = client.generic("PUT", path, body, content_type="application/json", HTTP_AUTHORIZATION=header)
    assert response.status_code == 200, response.content
    assert response.json()["key"] == "thing.s-01.firmware"
    kv = client_loop.run(fleet.observer.nc.jetstream().key_value("twin"))
    entry = client_loop.run(kv.get("thing.s-01.firmware"))
    assert json.loads(entry.value) == {"version": "1.2.3"}


def test_limits_size_rate_and_nats_down(fleet, nats_server, settings):
    thing = fleet.thing("s-01")
    client = APIClient()
    settings.DEVICE_GATEWAY_MAX_BODY = 1024
    big = {"operation": "log", "payload": "x" * 2000}
    assert signed_post(client, thing, big).status_code == 413

    settings.DEVICE_GATEWAY_RATE = "3/minute"
    statuses = [signed_post(client, thing, {"suffix": f"nope{i}", "payload": 1}).status_code for i in range(4)]
    assert statuses == [403, 403, 403, 429]
    limited = signed_post(client, thing, {"suffix": "nope", "payload": 2})
    assert limited.status_code == 429 and int(limited["Retry-After"]) > 0
    settings.DEVICE_GATEWAY_RATE = "600/minute"
    from django.core.cache import cache

    cache.clear()

    assert signed_post(client, thing, {"operation": "log", "payload": "before"}).status_code == 202
    nats_server.stop()
    down = signed_post(client, thing, {"operation": "log", "payload": "during"})
    assert down.status_code == 503, down.content
    assert "Retry-After" in down


def test_a_device_session_publishes_and_only_refusals_reach_the_audit_log(fleet):
    import base64

    from audit.models import AuditEvent
    from credentials.codecs import natsjwt as nj

    thing = fleet.thing("s-01")
    user = NatsUser.objects.get(pk=thing.nats_user_id)
    client = APIClient()
    nonce = client.post("/api/v1/devices/challenge/", {"public_key": user.public_key}, format="json").json()["nonce"]
    signature = base64.urlsafe_b64encode(nj.keypair_from_seed(seed_of(thing)).sign(nonce.encode())).decode()
    session = client.post(
        "/api/v1/devices/session/",
        {"public_key": user.public_key, "nonce": nonce, "signature": signature},
        format="json",
    ).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Device {session}")
    before = AuditEvent.objects.filter(extra__path=PUBLISH).count()
    assert client.post(PUBLISH, {"operation": "log", "payload": "via session"}, format="json").status_code == 202
    assert client.post(PUBLISH, {"subject": "acme.x", "payload": 1}, format="json").status_code == 403
    wait_until(lambda: b"via session" in [m.data for m in fleet.seen.messages], 3, what="the session's publish")
    recorded = AuditEvent.objects.filter(extra__path=PUBLISH).order_by("pk")[before:]
    assert [e.extra["status"] for e in recorded] == [403]
    thing_svc.deactivate_thing(thing)
    assert client.post(PUBLISH, {"operation": "log", "payload": "off"}, format="json").status_code == 401


# --- Commands ----------------------------------------------------------------------------------------------------


def test_a_command_sent_from_the_api_reaches_an_http_device_by_long_poll_and_its_ack_is_recorded(fleet, connect):
    import threading

    from inventory import commands
    from inventory.models import Command, Operation
    from inventory.services import types as type_svc

    type_svc.save_operation(
        Operation(
            thing_type=fleet.sensor, name="reboot", capability="reply", subject_suffix="cmd.reboot", command_ttl=600
        )
    )
    live.wait_pushed(5)
    fleet.observer.close()  # it listens on `acme.>`: the thing would look online (someone listens) and never answer
    thing = fleet.thing("s-01")
    _, token = issue_token(thing)
    device = APIClient()
    device.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert device.get("/api/v1/devices/commands/?wait=0").json() == {"commands": []}
    assert device.get("/api/v1/devices/commands/?wait=31").status_code == 400

    # The device waits; the owner sends the command meanwhile; the poll answers as soon as it is queued.
    polled: dict = {}

    def poll() -> None:
        started = time.monotonic()
        response = APIClient()
        response.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        got = response.get("/api/v1/devices/commands/?wait=15")
        polled.update(status=got.status_code, body=got.json(), seconds=time.monotonic() - started)

    waiter = threading.Thread(target=poll)
    waiter.start()
    time.sleep(0.5)
    owner = APIClient()
    owner.force_authenticate(fleet.owner)
    sent = owner.post(
        f"/api/v1/orgs/acme/things/{thing.pk}/commands/",
        {"operation": "reboot", "payload": {"delay": 5}},
        format="json",
    )
    assert sent.status_code == 202, sent.content
    waiter.join(20)
    assert polled["status"] == 200 and polled["seconds"] < 10, polled
    [command] = polled["body"]["commands"]
    assert command["id"] == sent.json()["id"] and command["payload"] == {"delay": 5}
    assert command["operation"] == "reboot"

    row = Command.objects.get(pk=command["id"])
    assert row.status == "queued" and row.stream_sequence
    ack = device.post(f"/api/v1/devices/commands/{row.pk}/ack/", {"reply": {"rebooting": True}}, format="json")
    assert ack.status_code == 200, ack.content
    row.refresh_from_db()
    assert row.status == "acknowledged" and row.reply == {"rebooting": True} and row.answered_at
    # Out of the stream too; acknowledged once; another thing cannot touch it.
    watcher = connect(nats_svc.user_creds(NatsUser.objects.get(name="observer")))
    info = watcher.loop.run(watcher.nc.jetstream().stream_info(commands.COMMAND_STREAM))
    assert info.state.messages == 0
    again = device.post(f"/api/v1/devices/commands/{row.pk}/ack/", {"reply": 1}, format="json")
    assert again.status_code == 409 and "acknowledged" in again.json()["detail"]
    other = fleet.thing("s-02")
    _, other_token = issue_token(other)
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION=f"Bearer {other_token}")
    assert stranger.post(f"/api/v1/devices/commands/{row.pk}/ack/", {}, format="json").status_code == 404
    assert device.get("/api/v1/devices/commands/?wait=0").json() == {"commands": []}
    row.refresh_from_db()
    assert row.reply == {"rebooting": True}
