"""The push pipeline's guarantees against a live server: the newest JWT wins however pushes interleave, and it
is applied, not just stored."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from django.utils import timezone

from credentials import outbox, push
from credentials.models import Account, AccountTombstone
from credentials.services import nats as svc
from credentials.tasks.nats import push_account
from tenancy import services as tenancy
from tests.integration import live
from tests.integration.support import wait_until
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
    monkeypatch.setattr(outbox, "push_account", lambda account_id: None)
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
    monkeypatch.setattr(outbox, "push_account", lambda account_id: None)  # left for the push below
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


# --- Deletion wins -------------------------------------------------------------------------------------------------


@pytest.fixture
def by_hand(nats_server, monkeypatch):
    """Nothing is queued: each test plays the workers itself by calling push() in the order it wants."""
    monkeypatch.setattr(outbox, "push_account", lambda account_id: None)
    monkeypatch.setattr(outbox, "push_pending", lambda: None)
    root = make_user("root", superuser=True)
    organization = make_org("acme", make_user("olivia"))
    account = Account.objects.get(organization=organization)
    creds = svc.user_creds(svc.create_user(account=account, name="sensor-1", publish_allow=["telemetry.>"]))
    assert push.push(*push.pending()).ok
    return root, organization, account, creds


def assert_gone(system_client, connect, account: Account, creds: str) -> None:
    assert live.server_jwt(system_client, account) == ""
    assert "authorization violation" in live.refused(connect, creds)


def test_a_queued_update_that_runs_after_the_deletion_does_not_bring_the_account_back(
    by_hand, api, system_client, connect
):
    root, organization, account, creds = by_hand
    connect(creds).close()
    account = svc.update_account(account, max_connections=50)  # its push is queued...
    stale = Account.objects.get(pk=account.pk)  # ...and this is what the job will read
    api.force_authenticate(root)
    assert api.delete("/api/v1/orgs/acme/").status_code == 204
    assert push.push(*push.pending()).ok  # the tombstone is pushed
    assert_gone(system_client, connect, stale, creds)

    push.push([stale])  # the stale update runs late (a retry, a worker that was slow to pick it up)
    push_account.apply(args=[stale.pk])  # the task itself, redelivered after the row is gone
    assert_gone(system_client, connect, stale, creds)


def test_a_deletion_that_overtakes_an_update_in_flight_still_wins(
    by_hand, system_client, connect, monkeypatch, settings
):
    """The update is claimed, then the account is deleted and the deletion pushed by another worker before the
    update reaches the server (which brings the account back). The worker of the update dies right after: the
    overtaken deletion did not count, so the next run deletes the account again."""
    settings.NATS_REQUEST_TIMEOUT = 0.5  # a short lease, so the test can outwait it
    root, organization, account, creds = by_hand
    account = svc.update_account(account, max_connections=50)
    send_jobs, redeletions = push.send_jobs, push._redeletions

    def dies_before_its_checks(sent, deletes):
        assert live.server_jwt(system_client, account) == account.jwt  # the late update brought it back
        raise SystemExit("worker killed")

    def another_worker_deletes_first(jobs, send_by=None):
        monkeypatch.setattr(push, "send_jobs", send_jobs)
        tenancy.delete_organization(organization, acting_user=root)
        assert push.push(*push.pending()).ok
        assert live.server_jwt(system_client, account) == ""
        monkeypatch.setattr(push, "_redeletions", dies_before_its_checks)
        return send_jobs(jobs, send_by)

    monkeypatch.setattr(push, "send_jobs", another_worker_deletes_first)
    with pytest.raises(SystemExit):
        push.push([account])
    monkeypatch.setattr(push, "_redeletions", redeletions)

    tombstone = AccountTombstone.objects.get(public_key=account.public_key)
    assert tombstone.done_at is None and tombstone.not_before is not None  # the overtaken deletion did not count
    push.push(*push.pending())  # the beat's next run
    assert_gone(system_client, connect, account, creds)
    wait_until(lambda: timezone.now() > tombstone.not_before, 10, what="the lease to run out")
    push.push(*push.pending())
    assert AccountTombstone.objects.get(pk=tombstone.pk).done_at is not None
    assert_gone(system_client, connect, account, creds)


def test_an_update_overtaken_by_a_deletion_deletes_it_again_in_the_same_run(
    by_hand, system_client, connect, monkeypatch
):
    root, organization, account, creds = by_hand
    account = svc.update_account(account, max_connections=50)
    send_jobs = push.send_jobs

    def another_worker_deletes_first(jobs, send_by=None):
        if jobs and jobs[0].is_update:
            monkeypatch.setattr(push, "send_jobs", send_jobs)
            tenancy.delete_organization(organization, acting_user=root)
            assert push.push(*push.pending()).ok
        return send_jobs(jobs, send_by)

    monkeypatch.setattr(push, "send_jobs", another_worker_deletes_first)
    push.push([account])
    assert_gone(system_client, connect, account, creds)
