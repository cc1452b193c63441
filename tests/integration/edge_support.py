"""A hub and a leaf as two real nats-servers: the hub from `nats_export` with its leafnode port open, the leaf from the
config and credentials its bootstrap endpoint returns (fetched with the leaf's own nkey, as the leaf does)."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import nkeys
from django.core.management import call_command
from rest_framework.test import APIClient

from credentials.secrets import reveal
from tests.integration.support import NatsServer, free_port, log_tail, wait_until


def device_client(nats_user) -> APIClient:
    """An API client with a device session opened by signing a nonce with the user's seed."""
    client = APIClient()
    kp = nkeys.from_seed(reveal(nats_user, "seed").encode())
    public_key = nats_user.public_key
    nonce = client.post("/api/v1/devices/challenge/", {"public_key": public_key}, format="json").json()["nonce"]
    signature = base64.urlsafe_b64encode(kp.sign(nonce.encode())).decode().rstrip("=")
    response = client.post(
        "/api/v1/devices/session/", {"public_key": public_key, "nonce": nonce, "signature": signature}, format="json"
    )
    assert response.status_code == 201, response.content
    client.credentials(HTTP_AUTHORIZATION=f"Device {response.json()['token']}")
    return client


def export_hub(directory: Path, ports: dict[str, int], **options) -> NatsServer:
    call_command("nats_export", output=str(directory), stdout=io.StringIO(), **ports, **options)
    return NatsServer(directory, ports["port"])


def leaf_server(directory: Path, leaf) -> tuple[NatsServer, dict]:
    """Fetch the leaf's bootstrap and lay it out in `directory` (nats.conf, leaf.creds, leaf-sys.creds)."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    params = {
        "creds_path": str(directory / "leaf.creds"),
        "system_creds_path": str(directory / "leaf-sys.creds"),
        "store_dir": str(directory / "jetstream"),
        "host": "127.0.0.1",
        "port": str(port),
    }
    response = device_client(leaf.nats_user).get("/api/v1/leaf/bootstrap/", params)
    assert response.status_code == 200, response.content
    bundle = response.json()
    (directory / "leaf.creds").write_text(bundle["creds"])
    (directory / "leaf-sys.creds").write_text(bundle["system_creds"])
    (directory / "nats.conf").write_text(bundle["nats_leaf_conf"])
    return NatsServer(directory, port), bundle


def leaf_connections(server: NatsServer) -> int:
    text = server.log.read_text(errors="replace") if server.log.exists() else ""
    return text.count("Leafnode connection created")


def wait_leaf_connected(server: NatsServer, count: int, timeout: float = 15) -> None:
    try:
        wait_until(lambda: leaf_connections(server) >= count, timeout, what=f"{count} leaf connections")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{log_tail(server.log)}") from None
