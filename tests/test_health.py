import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory, override_settings

from credentials.services import nats as nats_svc
from stoneage import health
from tests.support.world import make_user

PASSWORD_URL = "nats://control:s3cret-pw@127.0.0.1:1"


@pytest.fixture(autouse=True)
def fresh_results(monkeypatch):
    """Each test starts with no results taken yet, as a newly started process does."""
    monkeypatch.setattr(health, "_cache", health.ReadinessCache())


@pytest.fixture
def counted(monkeypatch):
    """Only one check, which counts its runs and takes a moment, as a check reaching a server does."""
    runs = []
    lock = threading.Lock()

    def check() -> dict:
        with lock:
            runs.append(time.monotonic())
        time.sleep(0.05)
        return {"ok": True}

    monkeypatch.setattr(health, "_checks", {"counted": check})
    return runs


@pytest.mark.django_db
def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


@pytest.mark.django_db
def test_anonymous_callers_get_each_checks_status_only(client):
    with override_settings(NATS_URL=PASSWORD_URL):
        response = client.get("/readyz")
    assert response.status_code == 503  # no operator yet: the NATS check fails, saying to run bootstrap
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": {"ok": True}, "redis": {"ok": True}, "nats": {"ok": False}, "nebula": {"ok": True}},
    }
    assert b"s3cret" not in response.content and b"127.0.0.1" not in response.content


@pytest.fixture
def operator(db):
    """A NATS operator, so that the NATS check gets as far as connecting (to NATS_URL)."""
    nats_svc.bootstrap()


def test_a_failure_is_logged_with_its_detail_and_no_password(client, caplog, operator):
    with override_settings(NATS_URL=PASSWORD_URL), caplog.at_level(logging.WARNING, logger="stoneage.health"):
        client.get("/readyz")
    [record] = [r for r in caplog.records if r.name == "stoneage.health"]
    message = record.getMessage()
    assert "Readiness check nats failed" in message and "accounts_behind" in message
    assert "'url': 'nats://***@127.0.0.1:1'" in message
    assert "s3cret" not in caplog.text and "control" not in message


def test_platform_operators_see_the_detail_without_passwords(client, operator):
    client.force_login(make_user("root", superuser=True))
    with override_settings(NATS_URL=PASSWORD_URL):
        response = client.get("/readyz")
    nats = response.json()["checks"]["nats"]
    assert nats["ok"] is False
    assert "Connect call failed" in nats["error"] and "accounts_behind" in nats
    assert nats["url"] == "nats://***@127.0.0.1:1"
    assert b"s3cret" not in response.content
    # Staff who are not platform operators see what the public sees.
    client.force_login(make_user("adam"))
    assert client.get("/readyz").json()["checks"]["nats"] == {"ok": False}


@pytest.mark.django_db
def test_readyz_is_503_when_redis_is_down(client, caplog):
    with override_settings(REDIS_URL="redis://:hunter2@127.0.0.1:1/0"), caplog.at_level(logging.WARNING):
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == {"ok": False}
    assert "Readiness check redis failed" in caplog.text and "Connection" in caplog.text
    assert "hunter2" not in caplog.text


@pytest.mark.parametrize(
    "text, masked",
    [
        ("nats://user:p@ss@host:4222", "nats://***@host:4222"),
        ("nats://u:a@h1:4222,nats://u:b@h2:4222", "nats://***@h1:4222,nats://***@h2:4222"),
        ("redis://:pw@redis:6379/0", "redis://***@redis:6379/0"),
        ("nats://host:4222 refused mail@example.com", "nats://host:4222 refused mail@example.com"),
    ],
)
def test_redact_masks_the_userinfo_of_urls_only(text, masked):
    assert health.redact({"url": text, "list": [text], "n": 1}) == {"url": masked, "list": [masked], "n": 1}


def test_rapid_calls_run_the_checks_once(client, counted, settings):
    settings.READYZ_CACHE_SECONDS = 5
    for _ in range(20):
        assert client.get("/readyz").status_code == 200
    assert len(counted) == 1
    settings.READYZ_CACHE_SECONDS = 0  # results older than the setting are taken again
    client.get("/readyz")
    assert len(counted) == 2


def test_simultaneous_calls_wait_for_one_run(counted, settings):
    settings.READYZ_CACHE_SECONDS = 5
    request = RequestFactory().get("/readyz")
    request.user = AnonymousUser()
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: health.readyz(request).status_code, range(8)))
    assert statuses == [200] * 8
    assert len(counted) == 1
