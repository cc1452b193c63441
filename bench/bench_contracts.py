"""Thing-type contracts: how fast a contract change reaches 1,000 connected things, and bulk thing provisioning.

Run: ``.venv/bin/python bench/bench_contracts.py [--things 1000] [--changes 3]``

Starts what production runs, on free ports: a private redis-server (broker), nats-server in operator mode from
``nats_export``, and one Celery worker (solo pool) that pushes account JWTs. The database is a throwaway
``test_bench_contracts_<pid>`` next to BENCH_DATABASE_URL (default: PostgreSQL on 127.0.0.1), created and dropped
by the run.

* Bulk provisioning: ``--things`` things of one type get their NATS users, issued by the type's scoped key
  (``mint_scoped_users``: key pair, sealed seed, JWT) and inserted with their thing rows (``insert_minted_users``
  and one ``bulk_create``). Goal: >= 1,000 things/s on PostgreSQL.
* Contract change: the things connect (nats-py, one asyncio loop, each with its own inbox prefix and
  reconnection on); the type's operations are replaced (the publish operation moves to another subject) and
  committed. The clock starts at the commit and stops when every thing has been dropped by nats-server,
  reconnected with the credentials it held, and published on its new subject, as received by an observer of the
  account: the new contract is enforced on all of them. A sample of things then checks that the old subject is a
  permissions violation. Goal: <= 2 s for 1,000 things.

Runtime: about half a minute with the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.support import Stack, live_django, production_stack  # noqa: E402

live_django(os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_contracts"))

import nats  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from nats.aio.client import RawCredentials  # noqa: E402

from bench.report import result  # noqa: E402
from credentials.codecs import natsjwt as nj  # noqa: E402
from credentials.models import Account  # noqa: E402
from credentials.secrets import reveal  # noqa: E402
from credentials.services import nats as nats_svc  # noqa: E402
from inventory.contracts import inbox_prefix  # noqa: E402
from inventory.models import Thing  # noqa: E402
from inventory.services import types  # noqa: E402
from tenancy.models import Organization  # noqa: E402
from tests.integration.support import use_broker, wait_until  # noqa: E402

PROVISION_GOAL = 1000.0  # things per second
ENFORCED_GOAL = 2.0  # seconds for 1,000 things
OLD, NEW = "telemetry.temp", "telemetry.humidity"


def provision(organization: Organization, thing_type, count: int) -> tuple[list[Thing], float]:
    """Things with their NATS users, the bulk import's way; returns them and the seconds it took."""
    account = Account.objects.get(organization=organization)
    marks = [time.perf_counter()]
    with transaction.atomic():
        users = nats_svc.mint_scoped_users(
            account,
            thing_type.signing_key,
            [(f"t-{i:05d}", [f"thing:t-{i:05d}", "location:_", "type:sensor"], "thing") for i in range(count)],
        )
        marks.append(time.perf_counter())
        nats_svc.insert_minted_users(users)
        marks.append(time.perf_counter())
        things = Thing.objects.bulk_create(
            Thing(organization=organization, code=user.name, thing_type=thing_type, nats_user=user) for user in users
        )
        marks.append(time.perf_counter())
    marks.append(time.perf_counter())
    phases = ("mint", "insert users", "insert things", "commit")
    print(
        "provisioning: "
        + ", ".join(f"{p} {(b - a) * 1000:.0f} ms" for p, a, b in zip(phases, marks, marks[1:], strict=False))
    )
    return things, marks[-1] - marks[0]


class Fleet:
    """The connected things and an observer of the account, in one asyncio loop."""

    def __init__(self, url: str):
        self.url = url
        self.clients: dict[str, nats.NATS] = {}
        self.reconnected: dict[str, float] = {}  # thing code -> when it was back
        self.dropped: dict[str, float] = {}  # thing code -> when nats-server dropped it
        self.arrived: dict[str, float] = {}  # thing code -> when its message on the new subject arrived
        self.violations: dict[str, list[str]] = {}

    async def connect_observer(self, creds: str, slug: str) -> None:
        self.observer = await nats.connect(self.url, user_credentials=RawCredentials(creds))

        async def seen(msg) -> None:
            code = msg.subject.split(".")[3]
            self.arrived.setdefault(code, time.perf_counter())

        await self.observer.subscribe(f"{slug}._.sensor.*.{NEW}", cb=seen)
        await self.observer.flush()

    async def connect_thing(self, code: str, creds: str, slug: str) -> None:
        new_subject = f"{slug}._.sensor.{code}.{NEW}"

        async def reconnected() -> None:
            self.reconnected.setdefault(code, time.perf_counter())
            await self.clients[code].publish(new_subject, b"40")

        async def disconnected() -> None:
            self.dropped.setdefault(code, time.perf_counter())

        async def error(exc: Exception) -> None:
            self.violations.setdefault(code, []).append(str(exc).lower())

        self.clients[code] = await nats.connect(
            self.url,
            user_credentials=RawCredentials(creds),
            inbox_prefix=inbox_prefix(code).encode(),
            reconnected_cb=reconnected,
            disconnected_cb=disconnected,
            error_cb=error,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.05,
            connect_timeout=5,
        )

    async def connect_all(self, creds: dict[str, str], slug: str) -> None:
        limit = asyncio.Semaphore(100)

        async def one(code: str) -> None:
            async with limit:
                await self.connect_thing(code, creds[code], slug)

        await asyncio.gather(*(one(code) for code in creds))

    async def publish_old(self, codes: list[str], slug: str) -> None:
        for code in codes:
            await self.clients[code].publish(f"{slug}._.sensor.{code}.{OLD}", b"21")
            await self.clients[code].flush()

    async def close(self) -> None:
        await asyncio.gather(*(c.close() for c in self.clients.values()), return_exceptions=True)
        await self.observer.close()


def measure(stack: Stack, count: int, changes: int) -> None:
    server, loop = stack.server, stack.loop
    organization = Organization.objects.create(name="Acme", slug="acme")
    # The default limit is 1,000 connections per account: the things and the observer need more.
    nats_svc.update_account(Account.objects.get(organization=organization), max_connections=-1)
    sensor = types.create_type(
        organization=organization,
        code="sensor",
        name="Sensor",
        operations=[{"name": "temp", "capability": "publish", "subject_suffix": OLD}],
    )
    things, seconds = provision(organization, sensor, count)
    result(
        f"bulk thing provisioning, {count} things with scoped NATS users ({connection.vendor})",
        f"{count / seconds:,.0f} things/s ({seconds:.2f} s)",
        goal=f">= {PROVISION_GOAL:,.0f} things/s",
        met=count / seconds >= PROVISION_GOAL if connection.vendor == "postgresql" else None,
    )
    wait_until(lambda: not Account.objects.behind().exists(), 15, what="the type's contract pushed")

    creds = {}
    for thing in things:  # the stored JWTs and seeds, as a device holds them: no new JWT is issued here
        user = thing.nats_user
        creds[thing.code] = nj.format_user_creds(user.jwt, reveal(user, "seed"), verify=False)
    observer = nats_svc.create_user(
        account=Account.objects.get(organization=organization), name="observer", subscribe_allow=["acme.>"]
    )
    fleet = Fleet(server.url)
    wait_until(lambda: not Account.objects.behind().exists(), 15, what="the observer's account pushed")
    loop.run(fleet.connect_observer(nats_svc.user_creds(observer), "acme"), timeout=30)
    started = time.perf_counter()
    loop.run(fleet.connect_all(creds, "acme"), timeout=120)
    print(f"{count} things connected in {time.perf_counter() - started:.1f}s (setup, not measured)")

    samples = []
    # Rounds alternate the publish subject: to NEW (timed: the things publish on it once reconnected), back to OLD
    # (untimed), and so on, ending on NEW.
    for round_ in range(2 * changes - 1):
        old, new = (OLD, NEW) if round_ % 2 == 0 else (NEW, OLD)
        fleet.reconnected.clear()
        fleet.arrived.clear()
        fleet.dropped.clear()
        marks: list[float] = []
        with transaction.atomic():
            transaction.on_commit(lambda marks=marks: marks.append(time.perf_counter()))
            types.replace_operations(sensor, [{"name": "m", "capability": "publish", "subject_suffix": new}])
        if new == NEW:
            wait_until(
                lambda: len(fleet.arrived) >= count, 30, interval=0.005, what="every thing under the new contract"
            )
            samples.append(max(fleet.arrived.values()) - marks[0])
            commit = marks[0]
            print(
                f"  from the commit: first drop {(min(fleet.dropped.values()) - commit) * 1000:.0f} ms, "
                f"last drop {(max(fleet.dropped.values()) - commit) * 1000:.0f} ms, "
                f"last reconnection {(max(fleet.reconnected.values()) - commit) * 1000:.0f} ms, "
                f"last new-subject message {(max(fleet.arrived.values()) - commit) * 1000:.0f} ms"
            )
        else:  # back to the old subject, unmeasured: wait until every thing came back
            wait_until(lambda: len(fleet.reconnected) >= count, 30, interval=0.01, what="every thing reconnected")
            time.sleep(0.5)
        print(f"round {round_}: {old} -> {new}, {len(fleet.reconnected)} reconnected")

    # The old subject is now a violation (a sample of things).
    sample = list(creds)[:: max(1, count // 20)]
    fleet.violations.clear()
    loop.run(fleet.publish_old(sample, "acme"), timeout=30)
    wait_until(lambda: len(fleet.violations) >= len(sample), 5, what="violations on the old subject")
    refused = sum(any("permissions violation" in e for e in fleet.violations.get(code, [])) for code in sample)
    loop.run(fleet.close(), timeout=60)

    worst = max(samples)
    goal = ENFORCED_GOAL * count / 1000
    result(
        f"contract change, commit -> {count} connected things enforced (n={len(samples)})",
        f"median {statistics.median(samples):.2f} s, worst {worst:.2f} s; old subject refused for "
        f"{refused}/{len(sample)} sampled",
        goal=f"<= {ENFORCED_GOAL:.0f} s per 1,000 things",
        met=worst <= goal and refused == len(sample),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--things", type=int, default=1000, help="connected things (default 1000)")
    parser.add_argument("--changes", type=int, default=3, help="timed contract changes (default 3)")
    args = parser.parse_args()
    count, changes = max(10, min(args.things, 5000)), max(1, min(args.changes, 9))

    with production_stack("contracts") as stack, use_broker(stack.redis.url):
        measure(stack, count, changes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
