"""Pushes account JWTs to nats-server (`$SYS.REQ.ACCOUNT.<account>.CLAIMS.UPDATE` / `$SYS.REQ.CLAIMS.DELETE`).

One run opens one NATS connection as a short-lived system-account user, sends requests concurrently, and
records each outcome with compare-and-set: `pushed_revision` only moves forward. A pusher whose revision
turned out stale (a newer one was stored meanwhile) pushes again, so the last JWT on the server is always
the newest one, whichever worker finished last.

Deletion wins: a late update never brings back an account that was deleted or switched off.

- An update is sent only under a *lease*: one statement sets `Account.push_lease_until` on the rows that are
  still there, switched on and not tombstoned, and only those are sent, within the lease. Deleting an account
  locks its row first, so it either comes before the claim (nothing is sent) or after it (its tombstone copies
  the lease into `not_before`). The lease ends early when every request of the run was answered.
- In one run, updates are sent and answered (or given up) before any deletion is sent.
- A deletion counts (tombstone done, or an inactive account's revision pushed) only if it was sent after any
  lease on that account: until then it stays pending and is sent again by the next run (the beat task).
- After its updates, a run reopens the tombstones of the keys it just updated and deletes them again, so a
  deletion that overtook one of its updates is repeated at once.

A worker that dies at any point leaves either nothing sent, or a lease that makes the deletion wait for it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import nats
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from credentials import outbox
from credentials.codecs import natsjwt as nj
from credentials.models import Account, AccountTombstone
from credentials.services import nats as svc
from stoneage import metrics

log = logging.getLogger(__name__)

#: Per account, not the generic `$SYS.REQ.CLAIMS.UPDATE`: the hub's resolver takes both, and this one also reaches
#: the memory resolvers of leaf nodes whose system remote listens to their account's updates (inventory.services.edge).
UPDATE_SUBJECT = "$SYS.REQ.ACCOUNT.{}.CLAIMS.UPDATE"
DELETE_SUBJECT = "$SYS.REQ.CLAIMS.DELETE"
MAX_CATCH_UP_ROUNDS = 5
CONCURRENCY = 64


class PushError(Exception):
    pass


@dataclass
class Job:
    subject: str
    payload: str
    account_id: int | None = None
    revision: int = 0
    tombstone_id: int | None = None
    label: str = ""
    public_key: str = ""
    #: When its batch started sending (a deletion counts only if sent after any lease on the account).
    sent_at: datetime | None = None
    #: Seconds its request took (None when it was never sent).
    duration: float | None = None

    @property
    def is_update(self) -> bool:
        return self.subject == UPDATE_SUBJECT.format(self.public_key)

    @property
    def kind(self) -> str:
        return "update" if self.is_update else "delete"


@dataclass
class PushReport:
    pushed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def parse_reply(data: bytes) -> str:
    """The server's message on success; raises PushError with the server's description on failure."""
    try:
        reply = json.loads(data)
    except ValueError as exc:
        raise PushError(f"unreadable reply from nats-server: {data[:200]!r}") from exc
    if not isinstance(reply, dict):
        raise PushError(f"unexpected reply from nats-server: {data[:200]!r}")
    if "error" in reply:
        error = reply["error"] or {}
        raise PushError(error.get("description") or json.dumps(error))
    body = reply.get("data")
    if not isinstance(body, dict):
        raise PushError(f"reply without data: {data[:200]!r}")
    return str(body.get("message", ""))


def job_for(account: Account) -> Job:
    if account.active:
        subject, payload = UPDATE_SUBJECT.format(account.public_key), account.jwt
    else:
        subject, payload = DELETE_SUBJECT, svc.delete_claim_jwt(account.public_key)
    return Job(
        subject,
        payload,
        account_id=account.pk,
        revision=account.revision,
        label=account.name,
        public_key=account.public_key,
    )


def tombstone_job(tombstone: AccountTombstone) -> Job:
    return Job(
        DELETE_SUBJECT,
        svc.delete_claim_jwt(tombstone.public_key),
        tombstone_id=tombstone.pk,
        label=f"{tombstone.name} (deleted)",
        public_key=tombstone.public_key,
    )


async def system_connection(credentials: tuple[str, str], url: str, timeout: float) -> nats.NATS:
    """Connect as a system-account user from `svc.system_push_credentials()` (minted outside the loop).

    One attempt, bounded by `timeout`: nats-py retries the initial connect every `reconnect_time_wait` for as
    long as `max_reconnect_attempts` allows, and forever when it is 0, which would park a worker (and /readyz)
    while NATS is down. Retrying is the task queue's job.
    """
    jwt, seed = credentials
    kp = nj.keypair_from_seed(seed)
    nc = nats.NATS()
    errors: list[Exception] = []

    async def record_error(exc: Exception) -> None:
        # Instead of nats-py's default, which logs a traceback per attempt; the caller reports the failure.
        errors.append(exc)

    try:
        await asyncio.wait_for(
            nc.connect(
                servers=[url],
                user_jwt_cb=lambda: jwt.encode(),
                signature_cb=lambda nonce: base64.b64encode(kp.sign(nonce.encode())),
                error_cb=record_error,
                connect_timeout=timeout,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0,
                name="stoneage-control-plane",
            ),
            timeout,
        )
    except TimeoutError as exc:
        with contextlib.suppress(Exception):
            await nc.close()
        raise PushError(f"no answer from NATS at {url} within {timeout}s") from exc
    except nats.errors.NoServersError as exc:
        cause = errors[-1] if errors else exc
        raise PushError(f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__) from exc
    return nc


async def _send_all(
    jobs: list[Job], credentials: tuple[str, str], url: str, timeout: float, send_by: float | None
) -> list:
    nc = await system_connection(credentials, url, timeout)
    limit = asyncio.Semaphore(CONCURRENCY)

    async def send(job: Job) -> str | Exception:
        async with limit:
            if send_by is not None and time.monotonic() > send_by:
                return PushError("not sent within its lease; it is pushed again later")
            started = time.monotonic()
            try:
                msg = await nc.request(job.subject, job.payload.encode(), timeout=timeout)
                return parse_reply(msg.data)
            except Exception as exc:
                return exc
            finally:
                job.duration = time.monotonic() - started

    try:
        return await asyncio.gather(*(send(job) for job in jobs))
    finally:
        with contextlib.suppress(Exception):  # the outcomes are in; a failing close must not discard them
            await nc.close()


def run_async(make_coroutine: Callable[[], Coroutine]):
    """`asyncio.run` for synchronous callers, including one whose thread already runs an event loop (an ASGI
    server's, a notebook's, Playwright's sync API): there the coroutine runs on a loop in a helper thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make_coroutine())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nats-push") as pool:
        return pool.submit(lambda: asyncio.run(make_coroutine())).result()


def send_jobs(jobs: list[Job], send_by: float | None = None) -> list[str | Exception]:
    """Send jobs over one connection; a connection failure fails every job with the same error. No request
    starts after `send_by` (a `time.monotonic()` value): such a job fails, unsent."""
    if not jobs:
        return []
    try:
        credentials = svc.system_push_credentials()
        url, timeout = settings.NATS_URL, settings.NATS_REQUEST_TIMEOUT
        return run_async(lambda: _send_all(jobs, credentials, url, timeout, send_by))
    except Exception as exc:
        error = PushError(f"cannot reach NATS at {settings.NATS_URL}: {exc or type(exc).__name__}")
        return [error] * len(jobs)


def _record(job: Job, outcome: str | Exception, report: PushReport) -> None:
    now = timezone.now()
    if isinstance(outcome, Exception):
        message = str(outcome)[:1000] or type(outcome).__name__
        report.failed[job.label] = message
        if job.account_id is not None:
            Account.objects.filter(pk=job.account_id).update(push_error=message)
        if job.tombstone_id is not None:
            AccountTombstone.objects.filter(pk=job.tombstone_id).update(attempts=F("attempts") + 1, last_error=message)
        return
    report.pushed.append(job.label)
    if job.account_id is not None:
        done = Account.objects.filter(pk=job.account_id, pushed_revision__lt=job.revision)
        if not job.is_update:
            done = done.filter(Q(push_lease_until__isnull=True) | Q(push_lease_until__lte=job.sent_at))
        done.update(pushed_revision=job.revision, pushed_at=now, push_error="")
    if job.tombstone_id is not None:
        AccountTombstone.objects.filter(pk=job.tombstone_id).filter(
            Q(not_before__isnull=True) | Q(not_before__lte=job.sent_at)
        ).update(done_at=now, last_error="")


def _count(sent: list[tuple[Job, object]]) -> None:
    metrics.record_pushes((job.kind, job.duration, isinstance(outcome, Exception)) for job, outcome in sent)


def _lease(count: int) -> tuple[float, timedelta]:
    """How long a batch of `count` updates may take to start sending, and how long its requests may take to land
    (connect, the semaphore's queue, one request timeout, a margin)."""
    timeout = settings.NATS_REQUEST_TIMEOUT
    sending = timeout + timeout * math.ceil(count / CONCURRENCY)
    return sending, timedelta(seconds=sending + timeout + 1)


def claim(jobs: list[Job]) -> tuple[list[Job], datetime]:
    """Lease the accounts of these update jobs: only rows still there, switched on and not tombstoned are
    claimed (an `UPDATE`, so it waits for a deletion in progress). Returns the claimed jobs and the lease."""
    _, duration = _lease(len(jobs))
    lease = timezone.now() + duration
    ids = [job.account_id for job in jobs]
    claimable = Account.objects.filter(pk__in=ids, active=True).exclude(
        public_key__in=AccountTombstone.objects.values("public_key")
    )
    with transaction.atomic():
        claimable.update(push_lease_until=Greatest(Coalesce("push_lease_until", Value(lease)), Value(lease)))
        claimed = set(claimable.filter(push_lease_until__gte=lease).values_list("pk", flat=True))
    return [job for job in jobs if job.account_id in claimed], lease


def _send_updates(updates: list[Job], report: PushReport) -> tuple[list[Job], list[tuple[Job, object]]]:
    """Claim, send and record update jobs; returns the refused jobs and (job, outcome) of those sent."""
    if not updates:
        return [], []
    started = time.monotonic()
    sending, _ = _lease(len(updates))
    claimed, lease = claim(updates)
    outcomes = send_jobs(claimed, send_by=started + sending)
    sent = list(zip(claimed, outcomes, strict=True))
    _count(sent)
    with transaction.atomic():
        first_pushes = _first_pushes(sent)
        for job, outcome in sent:
            _record(job, outcome, report)
        # A request that got no answer may still land: its lease runs out instead of being released.
        answered = [job.account_id for job, outcome in sent if not isinstance(outcome, Exception)]
        Account.objects.filter(pk__in=answered, push_lease_until=lease).update(push_lease_until=None)
    claimed_ids = {job.account_id for job in claimed}
    for account_id in first_pushes:
        transaction.on_commit(lambda account_id=account_id: outbox.create_twin_buckets(account_id))
    return [job for job in updates if job.account_id not in claimed_ids], sent


def _first_pushes(sent: list[tuple[Job, object]]) -> list[int]:
    """Organization accounts whose first push just landed: their twin buckets are created next."""
    landed = [job.account_id for job, outcome in sent if not isinstance(outcome, Exception)]
    if not landed:
        return []
    first = Account.objects.filter(pk__in=landed, pushed_revision=0, organization__isnull=False)
    return list(first.values_list("pk", flat=True))


def _redeletions(sent: list[tuple[Job, object]], deletes: list[Job]) -> list[Job]:
    """Deletion jobs for the tombstones of keys just updated: a deletion that overtook one of these updates is
    sent again after it (the tombstone is reopened first, so the beat task repeats it if this run dies)."""
    keys = {job.public_key for job, _ in sent}
    tombstones = list(AccountTombstone.objects.filter(public_key__in=keys)) if keys else []
    reopened = [t.pk for t in tombstones if t.done_at is not None]
    if reopened:
        AccountTombstone.objects.filter(pk__in=reopened).update(done_at=None)
    queued = {job.tombstone_id for job in deletes}
    return [tombstone_job(t) for t in tombstones if t.pk not in queued]


def _send_deletes(deletes: list[Job], report: PushReport) -> list[tuple[Job, object]]:
    if not deletes:
        return []
    sent_at = timezone.now()
    for job in deletes:
        job.sent_at = sent_at
    sent = list(zip(deletes, send_jobs(deletes), strict=True))
    _count(sent)
    with transaction.atomic():
        for job, outcome in sent:
            _record(job, outcome, report)
    return sent


def _catch_up(refused: list[Job], sent: list[tuple[Job, object]]) -> list[Job]:
    """Jobs for what changed while this round was in flight: accounts pushed at a revision that is no longer
    the newest, and refused updates of accounts still there (switched off meanwhile: now a deletion)."""
    pushed = {
        job.account_id: job.revision
        for job, outcome in sent
        if job.account_id is not None and not isinstance(outcome, Exception)
    }
    refused_ids = {job.account_id for job in refused}
    accounts = Account.objects.filter(pk__in=pushed.keys() | refused_ids)
    return [
        job_for(account)
        for account in accounts
        if (account.pk in pushed and account.revision != pushed[account.pk])
        or (account.pk in refused_ids and account.push_pending)
    ]


def push(accounts: list[Account], tombstones: list[AccountTombstone] = ()) -> PushReport:
    """Push the current state of `accounts` and pending `tombstones`, updates before deletions, catching up
    with revisions stored while the push was in flight (see the module's docstring for the ordering rules)."""
    report = PushReport()
    jobs = [job_for(a) for a in accounts] + [tombstone_job(t) for t in tombstones]
    for _ in range(MAX_CATCH_UP_ROUNDS):
        deletes = [job for job in jobs if not job.is_update]
        refused, updated = _send_updates([job for job in jobs if job.is_update], report)
        deleted = _send_deletes(deletes + _redeletions(updated, deletes), report)
        jobs = _catch_up(refused, updated + deleted)
        if not jobs:
            break
    return report


def pending() -> tuple[list[Account], list[AccountTombstone]]:
    accounts = list(Account.objects.behind())
    tombstones = list(AccountTombstone.objects.filter(done_at__isnull=True))
    return accounts, tombstones


def backlog() -> dict[str, int]:
    return {
        "accounts_behind": Account.objects.behind().count(),
        "deletions_pending": AccountTombstone.objects.filter(done_at__isnull=True).count(),
    }


def check_nats() -> dict:
    """Readiness: NATS answers a system-account connection. The push backlog is reported either way: it is
    what grows while NATS is unreachable."""

    credentials = svc.system_push_credentials(ttl=30)

    async def ping() -> None:
        nc = await system_connection(credentials, settings.NATS_URL, 2)
        try:
            await nc.flush(timeout=2)
        finally:
            await nc.close()

    report = {"url": settings.NATS_URL, **backlog()}
    try:
        run_async(ping)
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}", **report}
    return {"ok": True, **report}
