"""Failure drills: NATS down, the broker down, the resolver directory lost. Every change made meanwhile reaches
nats-server without a manual step (the first two) or with the one documented command (`nats_reconcile`)."""

import io
import logging
import time

import pytest
from django.core.management import call_command

from credentials import outbox
from credentials.models import Account, NatsUser
from credentials.services import nats as svc
from tests.integration import live
from tests.integration.support import CeleryProcess, RedisServer, use_broker
from tests.support.world import make_org, make_user

pytestmark = [pytest.mark.integration, pytest.mark.drill, pytest.mark.django_db(transaction=True)]

#: A request that changes an account answers within this, whatever is down (the push happens elsewhere).
REQUEST_BUDGET = 5.0
CONVERGENCE_BUDGET = 30.0


def make_devices(account: Account, count: int) -> list[NatsUser]:
    return [
        svc.create_user(account=account, name=f"sensor-{i}", publish_allow=["telemetry.>"], subscribe_allow=["cmd.>"])
        for i in range(count)
    ]


def timed(request):
    started = time.monotonic()
    response = request()
    elapsed = time.monotonic() - started
    assert response.status_code < 300, response.content
    assert elapsed < REQUEST_BUDGET, f"the request took {elapsed:.1f}s"
    return response


def create_org(api, slug: str):
    owner = make_user(f"{slug}-owner")
    return timed(lambda: api.post("/api/v1/orgs/", {"name": slug, "slug": slug, "owner": owner.email}, format="json"))


def revoke(api, user: NatsUser):
    return timed(lambda: api.post(f"/api/v1/orgs/{user.organization.slug}/nats/users/{user.pk}/revoke/"))


def assert_server_matches_database(connect) -> None:
    """Every account JWT the server serves is the database's newest; inactive ones are gone."""
    system = connect(live.system_creds())
    for account in Account.objects.exclude(is_system=True):
        expected = account.jwt if account.active else ""
        assert live.server_jwt(system, account) == expected, f"{account.name} differs on the server"
    system.close()


def assert_only_new_credentials_work(connect, old_creds: list[str], users: list[NatsUser]) -> None:
    for creds in old_creds:
        assert "authorization violation" in live.refused(connect, creds)
    for user in users:
        user.refresh_from_db()
        connect(svc.user_creds(user)).close()


def test_nats_down_while_orgs_are_created_and_users_revoked(api, celery_worker, celery_beat, nats_server, connect):
    root = make_user("root", superuser=True)
    api.force_authenticate(root)
    accounts = [Account.objects.get(organization=make_org(f"fleet-{i}", make_user(f"o{i}"))) for i in range(5)]
    users = [user for account in accounts for user in make_devices(account, 10)]
    old_creds = [svc.user_creds(user) for user in users]
    live.wait_pushed(5)

    nats_server.stop()
    for i in range(20):
        create_org(api, f"new-{i}")
    for user in users:
        revoke(api, user)
    time.sleep(1.5)  # the worker's retries and at least one beat run fail meanwhile
    assert Account.objects.behind().count() == 25

    nats_server.start()
    restarted = time.monotonic()
    live.wait_pushed(CONVERGENCE_BUDGET)
    print(f"converged {time.monotonic() - restarted:.2f}s after nats-server came back")

    assert_server_matches_database(connect)
    assert_only_new_credentials_work(connect, old_creds, users)
    for account in Account.objects.filter(name__startswith="new_"):
        service_user = account.users.get(name=svc.PLATFORM_SERVICE_USER)
        connect(svc.user_creds(service_user)).close()


@pytest.fixture
def own_broker(tmp_path, worker_env, nats_server):
    """A broker this test may stop, with its own worker and beat (`push_pending` every second)."""
    redis = RedisServer(tmp_path)
    env = {**worker_env, "REDIS_URL": redis.url, "CELERY_BROKER_URL": redis.url}
    worker = CeleryProcess("worker", tmp_path, env, "--pool", "solo")
    beat = CeleryProcess("beat", tmp_path, env)
    live.WORKER_LOGS.extend([worker.log, beat.log])
    try:
        redis.start()
        worker.start()
        beat.start()
        with use_broker(redis.url):
            yield redis
    finally:
        for process in (beat, worker, redis):
            process.stop()
        live.WORKER_LOGS.remove(worker.log)
        live.WORKER_LOGS.remove(beat.log)


def test_broker_down_during_writes_then_the_beat_catches_up(api, own_broker, connect, caplog):
    api.force_authenticate(make_user("root", superuser=True))
    acme = Account.objects.get(organization=make_org("acme", make_user("olivia")))
    users = make_devices(acme, 5)
    old_creds = [svc.user_creds(user) for user in users]
    live.wait_pushed(5)  # the account is on the server before its devices connect
    clients = [connect(creds) for creds in old_creds]

    own_broker.stop()
    with caplog.at_level(logging.WARNING, logger="credentials.outbox"):
        started = time.monotonic()
        outbox.push_account(acme.pk)  # what every change does after commit: gives up at once, raises nothing
        assert time.monotonic() - started < 0.5
        for i in range(3):
            create_org(api, f"new-{i}")
        for user in users:
            revoke(api, user)
    assert "the beat task will retry" in caplog.text
    assert Account.objects.behind().count() == 4
    time.sleep(1)
    assert not any(client.closed.is_set() for client in clients), "nothing can have been pushed yet"

    own_broker.start()
    returned = time.monotonic()
    live.wait_pushed(CONVERGENCE_BUDGET)
    print(f"converged {time.monotonic() - returned:.2f}s after redis-server came back")

    assert all(client.closed.wait(2) for client in clients)
    assert_server_matches_database(connect)
    assert_only_new_credentials_work(connect, old_creds, users)


def test_an_emptied_resolver_is_repopulated_by_nats_reconcile(celery_worker, nats_server, connect):
    accounts = [Account.objects.get(organization=make_org(f"fleet-{i}", make_user(f"o{i}"))) for i in range(5)]
    creds = [svc.user_creds(make_devices(account, 1)[0]) for account in accounts]
    dormant = make_org("dormant", make_user("dora"))
    dormant.active = False
    dormant.save()
    live.wait_pushed(5)
    for each in creds:
        connect(each).close()

    nats_server.stop()
    nats_server.wipe_resolver()
    nats_server.start()
    assert live.refused(connect, creds[0])  # the server no longer knows the account

    out = io.StringIO()
    call_command("nats_reconcile", stdout=out)
    assert "Pushed 7 of 7." in out.getvalue()  # SYS, five fleets and the deletion of the dormant one
    assert_server_matches_database(connect)
    for each in creds:
        connect(each).close()
