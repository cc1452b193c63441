"""The push pipeline's guarantees against a live server: the newest JWT wins however pushes interleave, and it
is applied, not just stored."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections

from credentials import push
from credentials.models import Account
from credentials.services import nats as svc
from tests.integration import live
from tests.support.world import make_org, make_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_rapid_changes_end_with_the_newest_jwt_applied(celery_worker, nats_server, system_client, connect):
    account = Account.objects.get(organization=make_org("acme", make_user("olivia")))
    creds = svc.user_creds(svc.create_user(account=account, name="sensor-1", publish_allow=["telemetry.>"]))
    for i in range(30):  # two worker processes push these concurrently
        account = svc.update_account(account, max_connections=100 + i)
    account = svc.update_account(account, max_connections=1)
    live.wait_pushed(10)

    account.refresh_from_db()
    assert live.server_jwt(system_client, account) == account.jwt
    connect(creds)
    assert "maximum account active connections exceeded" in live.refused(connect, creds)


def test_a_push_that_finishes_late_with_an_old_revision_is_corrected(nats_server, system_client, monkeypatch):
    # No worker involved: this test plays two workers by calling push() itself, in the worst order.
    monkeypatch.setattr(svc, "queue_push", lambda account_id: None)
    account = Account.objects.get(organization=make_org("acme", make_user("olivia")))
    stale = Account.objects.get(pk=account.pk)
    account = svc.update_account(account, max_connections=5)

    assert push.push([account]).ok
    assert push.push([stale]).ok  # the slow one lands last on the server...

    account.refresh_from_db()
    assert account.pushed_revision == account.revision
    assert live.server_jwt(system_client, account) == account.jwt  # ...and was followed by the newest again


def test_pushing_works_from_a_thread_that_runs_an_event_loop(nats_server, monkeypatch):
    """E.g. under an ASGI server or Playwright's sync API: NATS I/O moves to a helper thread."""
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # the ORM calls around it stay in this thread
    monkeypatch.setattr(svc, "queue_push", lambda account_id: None)  # left for the push below
    make_org("acme", make_user("olivia"))

    async def from_a_coroutine():
        return push.push(*push.pending()), push.check_nats()

    def on_a_fresh_thread():  # whatever runs on this one (Playwright's loop, in a full test run)
        try:
            return asyncio.run(from_a_coroutine())
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        report, readiness = pool.submit(on_a_fresh_thread).result()
    assert report.ok and report.pushed == ["acme"]
    assert readiness["ok"] is True
