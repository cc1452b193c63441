"""/readyz against a live nats-server: 200 while it runs, 503 (quickly) once it stops. Anyone sees each
check's status; platform operators also see the detail, with the push backlog."""

import time

import pytest
from django.test import Client

from credentials import push
from stoneage import health
from tests.support.world import make_org, make_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def operator_client(nats_server, settings):
    settings.READYZ_CACHE_SECONDS = 0  # every call below runs the checks
    client = Client()
    client.force_login(make_user("root", superuser=True))
    return client


def test_readyz_checks_nats_and_reports_the_push_backlog(client, operator_client, nats_server):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"]["nats"] == {"ok": True}
    check = operator_client.get("/readyz").json()["checks"]["nats"]
    assert check["ok"] is True
    assert check["url"] == nats_server.url
    assert (check["accounts_behind"], check["deletions_pending"]) == (0, 0)

    nats_server.stop()
    make_org("acme", make_user("olivia"))  # a change that cannot reach NATS now
    started = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    assert response.json()["checks"]["nats"] == {"ok": False}
    assert nats_server.url.split("//")[1].encode() not in response.content
    check = operator_client.get("/readyz").json()["checks"]["nats"]
    assert check["ok"] is False
    assert "Connection refused" in check["error"] or "Connect call failed" in check["error"]
    assert check["accounts_behind"] == 1

    nats_server.start()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["nats"] == {"ok": True}


def test_a_burst_of_calls_reaches_nats_once(client, nats_server, settings, monkeypatch):
    settings.READYZ_CACHE_SECONDS = 5
    monkeypatch.setattr(health, "_cache", health.ReadinessCache())
    connections = []
    real = push.system_connection

    async def counted(*args, **kwargs):
        connections.append(args)
        return await real(*args, **kwargs)

    monkeypatch.setattr(push, "system_connection", counted)
    for _ in range(25):
        assert client.get("/readyz").status_code == 200
    assert len(connections) == 1
