import pytest
from django.test import override_settings


@pytest.mark.django_db
def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_each_check_and_fails_without_nats(client):
    response = client.get("/readyz")
    body = response.json()
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True
    # No operator yet: the NATS check fails and says what to do.
    assert body["checks"]["nats"]["ok"] is False
    assert "bootstrap" in body["checks"]["nats"]["error"]
    assert response.status_code == 503


@pytest.mark.django_db
def test_readyz_is_503_when_redis_is_down(client):
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"]["ok"] is False
    assert "Connection" in body["checks"]["redis"]["error"]
