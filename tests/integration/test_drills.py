"""Failure drills (marked `drill`): a service killed or cut off while the fleet changes, then restored. Each ends
with every account converged (`pushed_revision == revision`, the server holding the database's newest JWT),
nothing lost (revoked devices refused, new ones admitted), and prints its convergence time.

The other drills (NATS down while organizations are created and users revoked, the broker stopped, the resolver
emptied) are in test_nats_drills.py."""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request

import pytest
from django.db import connection, transaction

from credentials.models import Account
from credentials.services import nats as svc
from inventory.models import Thing
from inventory.services import things
from tests.integration import live
from tests.integration.support import CeleryProcess, Process, RedisServer, free_port, port_open, use_broker, wait_until
from tests.integration.test_nats_drills import CONVERGENCE_BUDGET, assert_server_matches_database
from tests.inventory.api_support import make_type
from tests.support.world import make_org, make_user

pytestmark = [pytest.mark.integration, pytest.mark.drill, pytest.mark.django_db(transaction=True)]


def provision(org, thing_type, prefix: str, count: int) -> list[Thing]:
    return [
        things.create_thing(organization=org, code=f"{prefix}-{i:03d}", thing_type=thing_type, nats_mode="auto")
        for i in range(count)
    ]


def creds_of(thing: Thing) -> str:
    thing.nats_user.refresh_from_db()
    return svc.user_creds(thing.nats_user)


def converge(what: str, since: float) -> float:
    """Wait for every account to be pushed; prints the time from `since` (when the service was brought back)."""
    live.wait_pushed(CONVERGENCE_BUDGET)
    elapsed = time.monotonic() - since
    print(f"\n{what}: converged {elapsed:.2f}s after")
    return elapsed


def test_nats_killed_while_200_things_are_provisioned_and_revoked(celery_worker, celery_beat, nats_server, connect):
    org = make_org("fleet", make_user("olivia"))
    sensor = make_type(org)
    doomed = provision(org, sensor, "old", 100)
    doomed_creds = [creds_of(thing) for thing in doomed]
    live.wait_pushed(10)

    nats_server.kill()
    started = time.monotonic()
    fresh = provision(org, sensor, "new", 200)
    for thing in doomed:
        things.deactivate_thing(thing)
    print(f"\n200 things provisioned and 100 revoked in {time.monotonic() - started:.1f}s with nats-server down")
    assert Account.objects.behind().filter(organization=org).exists()

    back = time.monotonic()
    nats_server.start()
    converge("nats-server restarted", back)
    assert_server_matches_database(connect)
    for creds in doomed_creds:
        assert "authorization violation" in live.refused(connect, creds)
    for thing in fresh[::20]:
        connect(creds_of(thing)).close()


@pytest.fixture
def own_worker(tmp_path, worker_env, nats_server):
    """A broker of this test's own and a worker on it that the test may kill; `restart()` brings a new worker
    and a beat (`push_pending` every second)."""
    redis = RedisServer(tmp_path).start()
    env = {**worker_env, "REDIS_URL": redis.url, "CELERY_BROKER_URL": redis.url}
    processes: list[Process] = []

    def worker(name: str) -> CeleryProcess:
        (tmp_path / name).mkdir()
        process = CeleryProcess("worker", tmp_path / name, env, "--pool", "prefork", "--concurrency", "1")
        live.WORKER_LOGS.append(process.log)
        processes.append(process)
        return process.start()

    def restart() -> None:
        worker("second")
        beat = CeleryProcess("beat", tmp_path, env)
        live.WORKER_LOGS.append(beat.log)
        processes.append(beat.start())

    try:
        with use_broker(redis.url):
            yield worker("first"), restart
    finally:
        for process in reversed(processes):
            process.stop()
            live.WORKER_LOGS.remove(process.log)
        redis.stop()


def test_the_worker_killed_in_the_middle_of_pushes(own_worker, connect):
    first, restart = own_worker
    accounts = [Account.objects.get(organization=make_org(f"fleet-{i}", make_user(f"o{i}"))) for i in range(30)]
    users = [
        svc.create_user(account=account, name=f"sensor-{j}", publish_allow=["telemetry.>"])
        for account in accounts
        for j in range(2)
    ]
    old_creds = [svc.user_creds(user) for user in users]
    live.wait_pushed(20)

    with transaction.atomic():  # 60 revocations in 30 accounts: their push tasks are queued at once, at commit
        for user in users:
            svc.revoke_user(user)
    behind_at_start = Account.objects.behind().count()
    wait_until(lambda: Account.objects.behind().count() < behind_at_start, 10, what="the worker to start pushing")
    first.kill()
    behind = Account.objects.behind().count()
    print(f"\nworker killed with {behind} of {behind_at_start} accounts still behind")
    assert behind > 0, "the worker finished before it could be killed: the drill proved nothing"

    back = time.monotonic()
    restart()  # a new worker (its start takes a few seconds) and the beat
    converge("worker restarted", back)
    assert_server_matches_database(connect)
    for creds in old_creds:
        assert "authorization violation" in live.refused(connect, creds)
    for user in users[::10]:
        user.refresh_from_db()
        connect(svc.user_creds(user)).close()


def terminate_other_connections() -> int:
    """pg_terminate_backend on every other connection to the test database (the web's and the worker's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


@pytest.fixture
def web(worker_env, tmp_path, nats_server):
    """The web process (`runserver`, no reloader) on the test database, as a separate process."""
    port = free_port()
    server = Process("web", tmp_path / "web.log")
    server._spawn(
        [sys.executable, "manage.py", "runserver", "--noreload", "--nothreading", f"127.0.0.1:{port}"],
        env={**worker_env, "ALLOWED_HOSTS": "127.0.0.1"},
    )
    try:
        wait_until(lambda: port_open(port) or server.check_alive(), 30, what="the web process")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_database_connections_dropped_under_the_web_and_the_worker(web, celery_worker, nats_server, connect):
    if connection.vendor != "postgresql":
        pytest.skip("pg_terminate_backend is PostgreSQL's")
    from tenancy.services import create_api_token

    owner = make_user("olivia")
    org = make_org("fleet", owner)
    _, token = create_api_token(user=owner, organization=org, name="drill")
    users = [svc.create_user(account=org.nats_account, name=f"s-{i}", publish_allow=["t.>"]) for i in range(5)]
    old_creds = [svc.user_creds(user) for user in users]

    def call(method: str, path: str) -> dict:
        headers = {"Authorization": f"Bearer {token}"}
        request = urllib.request.Request(f"{web}{path}", method=method, headers=headers)  # noqa: S310 - http only
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own test server
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path} answered {exc.code}: {exc.read()[:300]!r}") from None

    call("GET", "/api/v1/orgs/fleet/nats/users/")
    live.wait_pushed(10)

    dropped = terminate_other_connections()
    started = time.monotonic()
    assert dropped >= 1, "neither the web nor the worker held a connection"
    for user in users:  # the web's next requests, each queueing a push for the worker
        call("POST", f"/api/v1/orgs/fleet/nats/users/{user.pk}/revoke/")
    print(f"\n{dropped} connections dropped; the web answered again after {time.monotonic() - started:.2f}s")

    terminate_other_connections()  # and the worker's again, in the middle of its pushes
    converge("database connections dropped", started)
    assert_server_matches_database(connect)
    for creds in old_creds:
        assert "authorization violation" in live.refused(connect, creds)
