"""Revocation that actually disconnects: the account JWT carrying the change is pushed after commit by the worker
and nats-server drops the client, which cannot come back with its old credentials."""

import time

import pytest

from credentials.models import Account
from credentials.services import nats as svc
from tenancy.models import Organization
from tests.integration import live
from tests.integration.support import wait_until
from tests.support.world import make_org, make_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

DEADLINE = 2.0  # seconds from the commit to the dropped connection


def live_org(slug: str) -> Account:
    organization = make_org(slug, make_user(f"{slug}-owner"))
    live.wait_pushed(5)
    return Account.objects.get(organization=organization)


def make_device(account: Account, name: str = "sensor-1"):
    return svc.create_user(account=account, name=name, publish_allow=["telemetry.>"], subscribe_allow=["commands.>"])


def assert_dropped(client, since: float) -> None:
    """The server closed `client` within DEADLINE seconds of `since` (taken before the committing call)."""
    remaining = since + DEADLINE - time.monotonic()
    assert client.closed.wait(max(remaining, 0)), f"still connected {DEADLINE}s after the change was committed"
    assert client.disconnected_at - since < DEADLINE


@pytest.fixture
def acme(celery_worker, nats_server) -> Account:
    return live_org("acme")


def test_revoking_a_user_disconnects_it_and_only_the_reissued_creds_work(acme, connect):
    user = make_device(acme)
    old_creds = svc.user_creds(user)
    client = connect(old_creds)

    started = time.monotonic()
    user = svc.revoke_user(user)
    assert_dropped(client, started)

    assert "authorization violation" in live.refused(connect, old_creds)
    reissued = connect(svc.user_creds(user))
    reissued.publish("telemetry.sensor-1", b"back")
    assert reissued.errors == []


def test_deactivating_a_user_disconnects_it_until_it_is_reactivated(acme, connect):
    user = make_device(acme)
    old_creds = svc.user_creds(user)
    client = connect(old_creds)

    started = time.monotonic()
    svc.deactivate_user(user)
    assert_dropped(client, started)
    assert "authorization violation" in live.refused(connect, old_creds)

    # A new key pair: its creds are accepted, while the old JWT stays refused.
    user = svc.reactivate_user(user)
    connect(svc.user_creds(user)).publish("telemetry.sensor-1", b"back")
    assert "authorization violation" in live.refused(connect, old_creds)


def test_a_user_deactivated_right_after_its_reactivation_stays_locked_out(acme, connect):
    """Deactivate, reactivate and deactivate again within one second: the reissued JWT must be revoked too."""
    user = make_device(acme)
    svc.deactivate_user(user)
    user = svc.reactivate_user(user)
    reissued_creds = svc.user_creds(user)
    svc.deactivate_user(user)
    live.wait_pushed(5)
    assert "authorization violation" in live.refused(connect, reissued_creds)


def test_deactivating_an_organization_disconnects_all_its_clients(api, celery_worker, nats_server, connect):
    acme, globex = live_org("acme"), live_org("globex")
    acme_creds = [svc.user_creds(make_device(acme, f"sensor-{i}")) for i in range(3)]
    acme_clients = [connect(creds) for creds in acme_creds]
    globex_client = connect(svc.user_creds(make_device(globex)))
    api.force_authenticate(make_user("root", superuser=True))

    started = time.monotonic()
    response = api.patch("/api/v1/orgs/acme/", {"active": False}, format="json")
    assert response.status_code == 200, response.content
    for client in acme_clients:
        assert_dropped(client, started)
    assert live.refused(connect, acme_creds[0])
    globex_client.publish("telemetry.sensor-1", b"unaffected")
    assert not globex_client.closed.is_set()

    response = api.patch("/api/v1/orgs/acme/", {"active": True}, format="json")
    assert response.status_code == 200, response.content
    live.wait_pushed(5)
    connect(acme_creds[0]).publish("telemetry.sensor-0", b"back")


def test_deleting_an_organization_deletes_its_account_from_nats(api, celery_worker, nats_server, connect):
    acme = live_org("acme")
    client = connect(svc.user_creds(make_device(acme)))
    api.force_authenticate(make_user("root", superuser=True))

    started = time.monotonic()
    response = api.delete("/api/v1/orgs/acme/")
    assert response.status_code == 204, response.content
    assert_dropped(client, started)
    assert not Organization.objects.filter(slug="acme").exists()
    wait_until(lambda: not live.pending_deletions(), 5, what="the deletion to be recorded as done")
