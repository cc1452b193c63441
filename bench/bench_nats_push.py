"""NATS push pipeline: commit-to-live latency of account changes, and reconcile time into an empty resolver.

Run: ``.venv/bin/python bench/bench_nats_push.py [--changes 50] [--revocations 20] [--accounts 1000]``

Starts what production runs, on free ports: a private redis-server (broker), nats-server in operator mode from
``nats_export``, and one Celery worker (solo pool). The database is a throwaway: a temporary SQLite file by
default (the worker shares it), or ``test_bench_nats_<pid>`` next to DATABASE_URL (e.g. PostgreSQL), created and
dropped by the run.

* Commit-to-live, account change: an organization's limits are updated; the clock starts when the transaction
  commits (an on-commit hook registered first) and stops when nats-server answers the pusher's
  ``$SYS.REQ.ACCOUNT.<account>.CLAIMS.UPDATE``
  carrying exactly that JWT ("jwt updated": stored and applied), as seen by a
  system-account observer subscribed to the request subject and to the replies. Goal: p95 <= 200 ms.
* Commit-to-disconnect, user revocation (informational): a connected client's user is revoked; the clock
  stops when the client sees the server close its connection.
* Reconcile: ``--accounts`` organization accounts are created, a fresh nats-server with an empty resolver
  directory is started and ``manage.py nats_reconcile`` pushes them all. Goal: <= 10 s for 1,000. Every
  account is then looked up on the server to check it is really there.

Runtime is bounded (about a minute with the defaults).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import statistics
import sys
import time
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.support import live_django, production_stack  # noqa: E402

live_django()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402

from bench.report import result  # noqa: E402
from credentials import outbox  # noqa: E402
from credentials.codecs import natsjwt as nj  # noqa: E402
from credentials.models import Account  # noqa: E402
from credentials.services import nats as svc  # noqa: E402
from tenancy.models import Organization  # noqa: E402
from tests.integration.support import (  # noqa: E402
    Client,
    EventLoopThread,
    NatsServer,
    free_port,
    use_broker,
    wait_until,
)

LATENCY_GOAL_P95 = 0.200
RECONCILE_GOAL = 10.0


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def observer_creds() -> str:
    """A system-account user that may watch the update requests and their replies (nothing else)."""
    account = svc.system_account()
    key = svc.newest_signing_key(account.signing_keys.all())
    claims = nj.UserClaims(
        name="bench-observer",
        expires=svc.now() + 600,
        pub_deny=[">"],
        sub_allow=["$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE", "_INBOX.>"],
        issuer_account=account.public_key,
    )
    return nj.mint_user_credentials(claims, svc.keypair_of(key)).creds


class UpdateWatcher:
    """Records when the server answered an update request carrying a given JWT. The request and its reply
    arrive on two subscriptions whose callbacks may run in either order; each is matched to the other."""

    def __init__(self, client: Client):
        self.requests: dict[str, str] = {}  # reply subject -> JWT
        self.replies: dict[str, float] = {}  # reply subject -> time the server answered "jwt updated"
        self.live: dict[str, float] = {}  # JWT -> time the server answered
        client.loop.run(self._subscribe(client))

    async def _subscribe(self, client: Client) -> None:
        await client.nc.subscribe("$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE", cb=self._on_request)
        await client.nc.subscribe("_INBOX.>", cb=self._on_reply)
        await client.nc.flush()

    async def _on_request(self, msg) -> None:
        self.requests[msg.reply] = msg.data.decode()
        self._match(msg.reply)

    async def _on_reply(self, msg) -> None:
        if b'"jwt updated"' in msg.data:
            self.replies[msg.subject] = time.perf_counter()
            self._match(msg.subject)

    def _match(self, inbox: str) -> None:
        if inbox in self.requests and inbox in self.replies:
            self.live.setdefault(self.requests.pop(inbox), self.replies.pop(inbox))

    def wait_for(self, jwt: str, timeout: float = 10) -> float:
        wait_until(lambda: jwt in self.live, timeout, interval=0.001, what="the update to go live")
        return self.live[jwt]


def committed(change) -> tuple[object, float]:
    """Run `change()` in a transaction; return its result and the moment the transaction committed."""
    marks: list[float] = []
    with transaction.atomic():
        transaction.on_commit(lambda: marks.append(time.perf_counter()))  # runs before the push is queued
        result = change()
    return result, marks[0]


def summary(name: str, samples: list[float], goal: float | None = None) -> None:
    p50, p95 = statistics.median(samples), percentile(samples, 95)
    result(
        f"{name} (n={len(samples)})",
        f"p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, max {max(samples) * 1000:.1f} ms",
        goal=f"p95 <= {goal * 1000:.0f} ms" if goal else "measured only",
        met=p95 <= goal if goal else None,
    )


def measure_latency(server: NatsServer, loop: EventLoopThread, changes: int, revocations: int) -> None:
    organization = Organization.objects.create(name="Latency", slug="latency")
    account = Account.objects.get(organization=organization)
    wait_until(lambda: not Account.objects.behind().exists(), 15, what="the first pushes")

    watcher = UpdateWatcher(Client(loop).connect(server.url, observer_creds()))
    latencies = []
    for i in range(changes):
        account, commit = committed(lambda i=i, account=account: svc.update_account(account, max_connections=i))
        latencies.append(watcher.wait_for(account.jwt) - commit)
        time.sleep(random.uniform(0.01, 0.05))
    summary("account change, commit -> live", latencies, LATENCY_GOAL_P95)

    disconnects = []
    for i in range(revocations):
        user = svc.create_user(account=account, name=f"sensor-{i}", publish_allow=["telemetry.>"])
        client = Client(loop).connect(server.url, svc.user_creds(user))
        _, commit = committed(lambda user=user: svc.revoke_user(user))
        assert client.closed.wait(10), "the revoked client was not disconnected"
        disconnects.append(client.disconnected_at - commit)
        time.sleep(random.uniform(0.01, 0.05))
    if disconnects:
        summary("user revocation, commit -> disconnect", disconnects)


def measure_reconcile(directory: Path, port: int, accounts: int, loop: EventLoopThread) -> None:
    started = time.perf_counter()
    # Accounts straight from the service (no per-organization extras such as the twin reader or a Nebula CA),
    # in one transaction, and nothing queued: the reconcile below is what pushes them.
    with transaction.atomic(), mock.patch.object(outbox, "push_account", lambda account_id: None):
        organizations = Organization.objects.bulk_create(
            Organization(name=f"Fleet {i}", slug=f"fleet-{i}") for i in range(accounts)
        )
        for organization in organizations:
            svc.create_account(organization=organization, name=f"fleet_{organization.slug[6:]}")
    created = time.perf_counter() - started
    total = Account.objects.count()

    call_command("nats_export", output=str(directory), port=port, websocket_port=0, stdout=io.StringIO())
    server = NatsServer(directory, port).start()  # a fresh resolver directory: it knows no account
    settings.NATS_URL = server.url
    try:
        started = time.perf_counter()
        call_command("nats_reconcile", stdout=io.StringIO())
        elapsed = time.perf_counter() - started

        observer = Client(loop).connect(server.url, observer_creds_lookup())
        missing = loop.run(count_missing(observer, list(Account.objects.all())))
    finally:
        server.stop()
    print(f"created {accounts} organization accounts in {created:.1f}s (setup, not measured)")
    goal = RECONCILE_GOAL * accounts / 1000
    result(
        f"nats_reconcile, {total} accounts into an empty resolver",
        f"{elapsed:.2f} s ({total / elapsed:,.0f}/s), {missing} missing after",
        goal=f"<= {RECONCILE_GOAL:.0f} s per 1,000, none missing",
        met=elapsed <= goal and missing == 0,
    )


def observer_creds_lookup() -> str:
    jwt, seed = svc.system_push_credentials()
    return nj.format_user_creds(jwt, seed)


async def count_missing(client: Client, accounts: list[Account]) -> int:
    limit = asyncio.Semaphore(64)

    async def served(account: Account) -> bool:
        async with limit:
            reply = await client.nc.request(f"$SYS.REQ.ACCOUNT.{account.public_key}.CLAIMS.LOOKUP", b"", timeout=5)
            return reply.data.decode() == account.jwt

    return sum(not ok for ok in await asyncio.gather(*(served(a) for a in accounts)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=50, help="account changes timed (default 50)")
    parser.add_argument("--revocations", type=int, default=20, help="user revocations timed (default 20)")
    parser.add_argument("--accounts", type=int, default=1000, help="accounts reconciled (default 1000)")
    args = parser.parse_args()
    changes, revocations = max(5, min(args.changes, 500)), max(0, min(args.revocations, 200))
    accounts = max(10, min(args.accounts, 5000))

    with production_stack("nats") as stack:
        with use_broker(stack.redis.url):
            measure_latency(stack.server, stack.loop, changes, revocations)
        stack.worker.stop()
        stack.server.stop()
        measure_reconcile(stack.work / "nats-empty", free_port(), accounts, stack.loop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
