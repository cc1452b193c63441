"""Pushes account JWTs to nats-server (`$SYS.REQ.CLAIMS.UPDATE` / `$SYS.REQ.CLAIMS.DELETE`).

One run opens one NATS connection as a short-lived system-account user, sends every request concurrently,
and records each outcome with compare-and-set: `pushed_revision` only moves forward. A pusher whose revision
turned out stale (a newer one was stored meanwhile) pushes again, so the last JWT on the server is always
the newest one, whichever worker finished last.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import nats
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from credentials.codecs import natsjwt as nj
from credentials.models import Account, AccountTombstone
from credentials.services import nats as svc

log = logging.getLogger(__name__)

UPDATE_SUBJECT = "$SYS.REQ.CLAIMS.UPDATE"
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
        subject, payload = UPDATE_SUBJECT, account.jwt
    else:
        subject, payload = DELETE_SUBJECT, svc.delete_claim_jwt(account.public_key)
    return Job(subject, payload, account_id=account.pk, revision=account.revision, label=account.name)


def tombstone_job(tombstone: AccountTombstone) -> Job:
    return Job(
        DELETE_SUBJECT,
        svc.delete_claim_jwt(tombstone.public_key),
        tombstone_id=tombstone.pk,
        label=f"{tombstone.name} (deleted)",
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


async def _send_all(jobs: list[Job], credentials: tuple[str, str], url: str, timeout: float) -> list:
    nc = await system_connection(credentials, url, timeout)
    limit = asyncio.Semaphore(CONCURRENCY)

    async def send(job: Job) -> str | Exception:
        async with limit:
            try:
                msg = await nc.request(job.subject, job.payload.encode(), timeout=timeout)
                return parse_reply(msg.data)
            except Exception as exc:
                return exc

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


def send_jobs(jobs: list[Job]) -> list[str | Exception]:
    """Send jobs over one connection; a connection failure fails every job with the same error."""
    if not jobs:
        return []
    try:
        credentials = svc.system_push_credentials()
        url, timeout = settings.NATS_URL, settings.NATS_REQUEST_TIMEOUT
        return run_async(lambda: _send_all(jobs, credentials, url, timeout))
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
        Account.objects.filter(pk=job.account_id, pushed_revision__lt=job.revision).update(
            pushed_revision=job.revision, pushed_at=now, push_error=""
        )
    if job.tombstone_id is not None:
        AccountTombstone.objects.filter(pk=job.tombstone_id).update(done_at=now, last_error="")


def push(accounts: list[Account], tombstones: list[AccountTombstone] = ()) -> PushReport:
    """Push the current state of `accounts` and pending `tombstones`, catching up with revisions stored
    while the push was in flight."""
    report = PushReport()
    jobs = [job_for(a) for a in accounts] + [tombstone_job(t) for t in tombstones]
    for _ in range(MAX_CATCH_UP_ROUNDS):
        outcomes = send_jobs(jobs)
        with transaction.atomic():  # one commit for the whole run, not one per account (1,000s on reconcile)
            for job, outcome in zip(jobs, outcomes, strict=True):
                _record(job, outcome, report)
        pushed_ids = {
            job.account_id: job.revision
            for job, outcome in zip(jobs, outcomes, strict=True)
            if job.account_id is not None and not isinstance(outcome, Exception)
        }
        stale = [a for a in Account.objects.filter(pk__in=pushed_ids) if a.revision != pushed_ids[a.pk]]
        if not stale:
            break
        jobs = [job_for(a) for a in stale]
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
