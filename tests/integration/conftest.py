"""Fixtures for tests against the real thing: an operator-mode nats-server started from `nats_export` output, a
Celery worker (and beat where a test needs it) on a private redis-server, all sharing the test database.

Integration tests use `django_db(transaction=True)`: the worker is another process and sees committed rows only.
The test database is flushed after each test, bootstrap rows included, so the NATS server is per test (it starts
in milliseconds) on ports fixed for the session, which is what the session's Celery worker connects to.
"""

from __future__ import annotations

import contextlib
import io

import pytest
from django.core.management import call_command

from tests.integration import live
from tests.integration.support import (
    CeleryProcess,
    Client,
    EventLoopThread,
    NatsServer,
    RedisServer,
    celery_env,
    database_url,
    free_port,
    use_broker,
)


@pytest.fixture(scope="session")
def integration_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("integration")


@pytest.fixture(scope="session")
def nats_ports() -> dict[str, int]:
    return {"port": free_port(), "websocket_port": free_port(), "http_port": free_port()}


@pytest.fixture(scope="session")
def broker(integration_dir):
    """A private redis-server as the Celery broker of this test session (this process and its workers)."""
    directory = integration_dir / "broker"
    directory.mkdir()
    redis = RedisServer(directory).start()
    try:
        with use_broker(redis.url):
            yield redis
    finally:
        redis.stop()


@pytest.fixture(scope="session")
def worker_env(django_db_setup, broker, nats_ports) -> dict:
    """Environment of Celery processes: this session's test database, broker and NATS ports."""
    from django.db import connection

    return celery_env(
        settings_module="tests.settings",
        database=database_url(connection.settings_dict),
        broker=broker.url,
        nats_url=f"nats://127.0.0.1:{nats_ports['port']}",
        NATS_PUSH_PENDING_INTERVAL="1",
        COMMAND_REPLY_TIMEOUT="1",
    )


@pytest.fixture(scope="session")
def celery_worker(worker_env, integration_dir):
    worker = CeleryProcess("worker", integration_dir, worker_env, "--pool", "prefork", "--concurrency", "2")
    live.WORKER_LOGS.append(worker.log)
    try:
        yield worker.start()
    finally:
        worker.stop()


@pytest.fixture
def celery_beat(worker_env, tmp_path, celery_worker):
    """`celery beat` with `push_pending` every second (NATS_PUSH_PENDING_INTERVAL=1)."""
    beat = CeleryProcess("beat", tmp_path, worker_env)
    try:
        yield beat.start()
    finally:
        beat.stop()


@pytest.fixture
def nats_server(transactional_db, settings, tmp_path, nats_ports, broker):
    """Bootstrap the operator, export the config, run nats-server from it and reconcile (the deploy sequence);
    stopped at teardown. Pushes queued meanwhile go to this session's private broker."""
    from credentials.services import nats as svc

    svc.bootstrap()
    directory = tmp_path / "nats"
    call_command("nats_export", output=str(directory), stdout=io.StringIO(), **nats_ports)
    server = NatsServer(directory, nats_ports["port"])
    try:
        server.start()
        settings.NATS_URL = server.url
        # SYS was queued for a push at bootstrap, before any server ran; don't leave it to that task's retries.
        call_command("nats_reconcile", stdout=io.StringIO())
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def client_loop():
    loop = EventLoopThread()
    yield loop
    loop.close()


@pytest.fixture
def connect(client_loop, nats_server):
    """`connect(creds_text)` → a connected `Client` (raises if the server refuses it); closed at teardown."""
    clients: list[Client] = []

    def connect(creds: str, **options) -> Client:
        client = Client(client_loop)
        clients.append(client)
        return client.connect(nats_server.url, creds, **options)

    yield connect
    for client in clients:
        with contextlib.suppress(Exception):  # already dropped by the server
            client.close()


@pytest.fixture
def system_client(connect):
    """A system-account connection for `$SYS.REQ.ACCOUNT.<A>.CLAIMS.LOOKUP`."""
    return connect(live.system_creds())
