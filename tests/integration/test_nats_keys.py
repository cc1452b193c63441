"""NATS key handling against a real nats-server: reactivation with a new key, and pruning revocations only
once nats-server refuses the JWTs they covered for their expiry alone."""

import time

import pytest

from credentials.codecs import natsjwt as nj
from credentials.models import Account, NatsUser
from credentials.services import nats as svc
from tests.credentials.nats_support import parse_creds
from tests.integration import live
from tests.integration.support import wait_until
from tests.support.world import make_org, make_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def acme(celery_worker, nats_server) -> Account:
    organization = make_org("acme", make_user("acme-owner"))
    live.wait_pushed(5)
    return Account.objects.get(organization=organization)


def make_device(account: Account, name: str, **fields) -> NatsUser:
    return svc.create_user(account=account, name=name, publish_allow=["telemetry.>"], **fields)


def server_revocations(system_client, account: Account) -> dict:
    return nj.decode(live.server_jwt(system_client, account))["nats"].get("revocations", {})


def test_a_reactivated_user_connects_with_its_new_key_and_the_old_creds_stay_refused(acme, connect):
    user = make_device(acme, "sensor-1")
    old_creds, old_key = svc.user_creds(user), user.public_key
    connect(old_creds).publish("telemetry.sensor-1", b"before")

    svc.deactivate_user(user)
    user = svc.reactivate_user(user)
    live.wait_pushed(5)

    assert user.public_key != old_key
    assert old_key in Account.objects.get(pk=acme.pk).revocations
    assert "authorization violation" in live.refused(connect, old_creds)
    client = connect(svc.user_creds(user))
    client.publish("telemetry.sensor-1", b"back")
    assert client.errors == []


def test_pruning_drops_only_revocations_of_jwts_the_server_refuses_as_expired(acme, connect, settings, system_client):
    settings.NATS_USER_JWT_LIFETIME = {**settings.NATS_USER_JWT_LIFETIME, "thing": 3, "leaf_node": 3600}
    settings.NATS_REVOCATION_PRUNE_MARGIN = 0
    short = make_device(acme, "sensor-short")
    long = make_device(acme, "edge-long", owner_kind=NatsUser.OwnerKind.LEAF_NODE)
    short_creds, long_creds = svc.user_creds(short), svc.user_creds(long)
    short_exp = nj.decode(parse_creds(short_creds)[0])["exp"]
    svc.deactivate_user(short)
    svc.deactivate_user(long)
    live.wait_pushed(5)
    assert {short.public_key, long.public_key} <= set(server_revocations(system_client, acme))

    wait_until(lambda: time.time() > short_exp + 1, 10, what="the short JWT to expire")
    assert svc.prune_account_revocations(acme) == 1
    live.wait_pushed(5)

    on_server = server_revocations(system_client, acme)
    assert short.public_key not in on_server and long.public_key in on_server
    # No longer revoked, but expired: still refused. Revoked and not expired: still refused.
    assert "authorization violation" in live.refused(connect, short_creds)
    assert "authorization violation" in live.refused(connect, long_creds)
