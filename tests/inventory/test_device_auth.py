"""Devices authenticate with their own nkey: a signed one-time nonce opens a short session, and every request
reads the NATS user again, so a deactivated device is refused at once."""

from __future__ import annotations

import base64

import nkeys
import pytest
from rest_framework.test import APIClient

from credentials.secrets import reveal
from inventory.models import Thing
from inventory.services import contracts, things, types


@pytest.fixture
def device(world):
    sensor = types.create_type(
        organization=world.org,
        code="sensor",
        name="Sensor",
        operations=[{"name": "temp", "capability": "publish", "subject_suffix": "temp"}],
    )
    thing = Thing.objects.create(organization=world.org, code="s-01", thing_type=sensor)
    thing.nats_user = contracts.provision_thing_user(thing)
    thing.save()
    return thing


def keypair_of(thing):
    return nkeys.from_seed(reveal(thing.nats_user, "seed").encode())


def sign(kp, nonce: str) -> str:
    return base64.urlsafe_b64encode(kp.sign(nonce.encode())).decode().rstrip("=")


def session(client, public_key, kp):
    nonce = client.post("/api/v1/devices/challenge/", {"public_key": public_key}, format="json").json()["nonce"]
    return client.post(
        "/api/v1/devices/session/",
        {"public_key": public_key, "nonce": nonce, "signature": sign(kp, nonce)},
        format="json",
    )


def test_a_device_signs_a_nonce_and_uses_its_session(device):
    client = APIClient()
    response = session(client, device.nats_user.public_key, keypair_of(device))
    assert response.status_code == 201, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Device {response.json()['token']}")
    me = client.get("/api/v1/devices/me/")
    assert me.status_code == 200
    assert me.json() == {
        "public_key": device.nats_user.public_key,
        "name": "s-01",
        "organization": "acme",
        "owner_kind": "thing",
        "code": "s-01",
    }


def test_a_nonce_is_single_use_and_bound_to_its_key(device):
    client = APIClient()
    key = device.nats_user.public_key
    kp = keypair_of(device)
    nonce = client.post("/api/v1/devices/challenge/", {"public_key": key}, format="json").json()["nonce"]
    body = {"public_key": key, "nonce": nonce, "signature": sign(kp, nonce)}
    assert client.post("/api/v1/devices/session/", body, format="json").status_code == 201
    replay = client.post("/api/v1/devices/session/", body, format="json")
    assert replay.status_code == 401 and "used or expired" in replay.json()["detail"]


def test_a_wrong_signature_or_another_key_is_refused(device):
    client = APIClient()
    stranger = nkeys.from_seed(nkeys.encode_seed(b"\x07" * 32, nkeys.PREFIX_BYTE_USER))
    assert session(client, device.nats_user.public_key, stranger).status_code == 401
    # A key no NATS user holds gets the same answer as a bad signature.
    assert session(client, stranger.public_key.decode(), stranger).status_code == 401
    bad = client.post("/api/v1/devices/challenge/", {"public_key": "AB" * 28}, format="json")
    assert bad.status_code == 400 and "public_key" in bad.json()


def test_a_deactivated_thing_loses_its_open_session(device):
    client = APIClient()
    token = session(client, device.nats_user.public_key, keypair_of(device)).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Device {token}")
    assert client.get("/api/v1/devices/me/").status_code == 200
    things.deactivate_thing(device)
    assert client.get("/api/v1/devices/me/").status_code == 401
    assert session(APIClient(), device.nats_user.public_key, keypair_of(device)).status_code == 401


def test_people_tokens_do_not_open_device_endpoints(world, device):
    client = APIClient()
    client.force_authenticate(world.user("owner"))
    assert client.get("/api/v1/devices/me/").status_code in (401, 403)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Device not-a-token")
    assert client.get("/api/v1/devices/me/").status_code == 401
