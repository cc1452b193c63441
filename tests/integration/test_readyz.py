"""/readyz against a live nats-server: 200 with the push backlog while it runs, 503 (quickly) once it stops."""

import time

import pytest

from tests.support.world import make_org, make_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_readyz_checks_nats_and_reports_the_push_backlog(client, nats_server):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    check = response.json()["checks"]["nats"]
    assert check["ok"] is True
    assert check["url"] == nats_server.url
    assert (check["accounts_behind"], check["deletions_pending"]) == (0, 0)

    nats_server.stop()
    make_org("acme", make_user("olivia"))  # a change that cannot reach NATS now
    started = time.monotonic()
    response = client.get("/readyz")
    assert time.monotonic() - started < 3
    assert response.status_code == 503
    check = response.json()["checks"]["nats"]
    assert check["ok"] is False
    assert "Connection refused" in check["error"] or "Connect call failed" in check["error"]
    assert check["accounts_behind"] == 1

    nats_server.start()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["nats"]["ok"] is True
