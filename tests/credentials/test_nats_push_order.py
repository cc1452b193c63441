"""The push pipeline's ordering rules, with NATS replaced by a recorder of what would be sent in which batch
(the same rules against a live nats-server: tests/integration/test_push_pipeline.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from credentials import push
from credentials.models import Account, AccountTombstone
from credentials.services import nats as svc
from tenancy import services as tenancy
from tests.credentials.nats_support import account_of, reload

pytestmark = pytest.mark.django_db


class Wire:
    """Stands in for nats-server: records each batch as [(subject, public key)], answers every request, and
    can run something between two batches (what another worker does meanwhile)."""

    def __init__(self, monkeypatch):
        self.batches: list[list[tuple[str, str]]] = []
        self.before_update_batch = None
        monkeypatch.setattr(push, "send_jobs", self.send)

    def send(self, jobs, send_by=None):
        if jobs and jobs[0].is_update and self.before_update_batch is not None:
            meanwhile, self.before_update_batch = self.before_update_batch, None
            meanwhile()
        self.batches.append([("update" if job.is_update else "delete", job.public_key) for job in jobs])
        return ["ok"] * len(jobs)

    @property
    def sent(self) -> list[tuple[str, str]]:
        return [request for batch in self.batches for request in batch]

    def to(self, key: str) -> list[str]:
        """What was sent for one account, in order."""
        return [kind for kind, public_key in self.sent if public_key == key]


@pytest.fixture
def wire(monkeypatch):
    return Wire(monkeypatch)


def delete_org(world, organization) -> AccountTombstone:
    key = account_of(organization).public_key
    tenancy.delete_organization(organization, acting_user=world.superuser)
    return AccountTombstone.objects.get(public_key=key)


def test_updates_are_answered_before_any_deletion_is_sent(world, wire):
    acme = account_of(world.org)
    tombstone = delete_org(world, world.other_org)
    svc.update_account(acme, max_connections=9)
    push.push([reload(acme)], [tombstone])
    assert wire.batches == [[("update", acme.public_key)], [("delete", tombstone.public_key)]]
    assert reload(tombstone).done_at is not None


def test_a_stale_update_of_a_deleted_account_is_never_sent(world, wire):
    stale = account_of(world.org)  # read by a job queued before the deletion
    tombstone = delete_org(world, world.org)
    assert push.push([stale]).pushed == []
    assert wire.sent == []
    push.push(*push.pending())
    assert wire.to(stale.public_key) == ["delete"] and reload(tombstone).done_at is not None
    push.push([stale])  # and once more, after the deletion was pushed
    assert wire.to(stale.public_key) == ["delete"]


def test_a_stale_update_of_a_switched_off_account_becomes_its_deletion(world, wire):
    stale = account_of(world.org)
    svc.update_account(stale, suspended=True)
    push.push([stale])
    assert wire.sent == [("delete", stale.public_key)]
    assert not reload(stale).push_pending


def test_a_deletion_that_overtakes_an_update_in_flight_is_repeated_after_it(world, wire):
    account = account_of(world.org)
    tombstones = []

    def another_worker_deletes_and_pushes():
        # The update below is claimed (leased) already; the account is deleted and its deletion pushed first.
        tombstones.append(delete_org(world, world.org))
        push.push(*push.pending())

    wire.before_update_batch = another_worker_deletes_and_pushes
    push.push([account])

    (tombstone,) = tombstones
    assert wire.to(account.public_key) == ["delete", "update", "delete"]  # deletion wins, last
    tombstone = reload(tombstone)
    assert tombstone.not_before is not None and tombstone.not_before > timezone.now()
    assert tombstone.done_at is None  # pushed again by the next run once no update can land any more


def test_a_deletion_counts_only_once_no_update_can_land(world, wire):
    tombstone = delete_org(world, world.org)
    AccountTombstone.objects.filter(pk=tombstone.pk).update(not_before=timezone.now() + timedelta(minutes=1))
    push.push([], [tombstone])
    assert wire.sent == [("delete", tombstone.public_key)] and reload(tombstone).done_at is None
    AccountTombstone.objects.filter(pk=tombstone.pk).update(not_before=timezone.now() - timedelta(seconds=1))
    push.push(*push.pending())
    assert wire.to(tombstone.public_key) == ["delete", "delete"] and reload(tombstone).done_at is not None


def test_switching_off_waits_for_a_lease_like_a_deletion(world, wire):
    account = svc.update_account(account_of(world.org), suspended=True)
    Account.objects.filter(pk=account.pk).update(push_lease_until=timezone.now() + timedelta(minutes=1))
    push.push([account])
    assert wire.sent == [("delete", account.public_key)] and reload(account).push_pending
    Account.objects.filter(pk=account.pk).update(push_lease_until=timezone.now() - timedelta(seconds=1))
    push.push(*push.pending())
    assert not reload(account).push_pending


def test_an_answered_update_releases_its_lease(world, wire):
    account = account_of(world.org)
    push.push([account])
    assert wire.sent == [("update", account.public_key)]
    assert reload(account).push_lease_until is None and not reload(account).push_pending


def test_an_unanswered_update_keeps_its_lease(world, monkeypatch):
    account = account_of(world.org)
    monkeypatch.setattr(push, "send_jobs", lambda jobs, send_by=None: [push.PushError("timeout")] * len(jobs))
    assert not push.push([account]).ok
    assert reload(account).push_lease_until > timezone.now()  # the request may still land: a deletion waits
    tombstone = delete_org(world, world.org)
    assert tombstone.not_before is not None


def test_deleting_a_leased_account_copies_the_lease(world):
    account = account_of(world.org)
    lease = timezone.now() + timedelta(seconds=30)
    Account.objects.filter(pk=account.pk).update(push_lease_until=lease)
    assert delete_org(world, world.org).not_before == lease
