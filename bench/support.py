"""What the benchmarks share: side-by-side rates and a throwaway Django for the codec benchmarks' service figures; a
PostgreSQL database of the bench's own, migrated afresh, and organizations with an owner and an API token for the
benchmarks of list endpoints; the production stack (nats-server, redis-server, a Celery worker) for the NATS
benchmarks."""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import math
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.report import result


def best_rates(phases: dict[str, Callable[[int], object]], seconds: float, round_size: int) -> dict[str, float]:
    """Calls per CPU second of each phase (time taken by other processes does not count): the best of many short
    rounds of `round_size` calls, the phases taking turns for about `seconds` in all, so that a figure and its
    physical limit are measured under the same conditions."""
    best = dict.fromkeys(phases, 0.0)
    for fn in phases.values():
        fn(0)  # warm-up
    i, deadline = 1, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for name, fn in phases.items():
            start = time.thread_time()
            for _ in range(round_size):
                fn(i)
                i += 1
            best[name] = max(best[name], round_size / max(time.thread_time() - start, 1e-9))
    return best


def throwaway_django() -> str:
    """Set up Django on a fresh in-memory SQLite database, whatever the environment points at; returns the
    database vendor."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stoneage.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("STONEAGE_SECRET_KEYS", base64.urlsafe_b64encode(os.urandom(32)).decode())
    os.environ["DATABASE_URL"] = "sqlite://:memory:"
    import django

    django.setup()
    from django.db import connection

    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    return connection.vendor


# --- A PostgreSQL database of the bench's own ----------------------------------------------------------------


def production_settings(default_database: str) -> str:
    """Production settings on the bench's own PostgreSQL database (never the one DATABASE_URL names):
    BENCH_DATABASE_URL, by default `default_database` on 127.0.0.1. Returns its URL. Call it before Django
    is set up."""
    url = os.environ.get("BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{default_database}")
    os.environ.update(
        DATABASE_URL=url,
        DEBUG="0",  # production settings: no query log in memory
        SECRET_KEY=secrets.token_urlsafe(40),
        ALLOWED_HOSTS="testserver",
        SECURE_SSL_REDIRECT="false",
        CELERY_BROKER_URL="memory://",  # NATS pushes queued by the setup go nowhere
        LOG_LEVEL="WARNING",
    )
    os.environ.setdefault("STONEAGE_SECRET_KEYS", base64.urlsafe_b64encode(os.urandom(32)).decode())
    os.environ.setdefault("STONEAGE_AUDIT_KEYS", base64.urlsafe_b64encode(os.urandom(32)).decode())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stoneage.settings")
    return url


def reset_database(url: str) -> None:
    """Create the database when missing and empty its schema: the run owns it."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if parts.scheme not in ("postgres", "postgresql", "pgsql") or "bench" not in name:
        raise SystemExit(f"BENCH_DATABASE_URL must name a PostgreSQL database of the bench's own (with 'bench'): {url}")
    admin = parts._replace(path="/postgres").geturl()
    databases = subprocess.run(
        ["psql", admin, "-tAc", "SELECT datname FROM pg_database"], capture_output=True, text=True, check=True
    ).stdout.split()
    if name not in databases:
        subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    subprocess.run(
        ["psql", url, "-qc", "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"], check=True, capture_output=True
    )


def migrate_afresh(url: str) -> float:
    """Empty the bench's database, set Django up on it and migrate; returns when the migration started."""
    reset_database(url)
    import django

    django.setup()
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    return started


# --- List endpoints: a big organization and small ones, each with an owner's API token -----------------------

GOAL_MS = 50.0
PAGE = 100


@dataclass
class World:
    big: Any  # the organization of `--rows` rows
    small: Any  # one of 5 rows
    token: str  # the big organization's owner's API token
    small_token: str
    made: Any  # what the bench's `fill` returned for the big organization

    def clients(self):
        """API clients signed in with the big organization's token and the small one's."""
        from rest_framework.test import APIClient

        big, small = APIClient(), APIClient()
        big.credentials(HTTP_AUTHORIZATION=f"Bearer {self.token}")
        small.credentials(HTTP_AUTHORIZATION=f"Bearer {self.small_token}")
        return big, small


def organizations(sizes: list[int], fill: Callable[[Any, Any, int, bool], Any]) -> World:
    """NATS bootstrapped, then one organization per size with an owner and the owner's API token, filled by
    `fill(organization, owner, size, big)` (`big` for the first) with the audit log off; the World of the first
    two (the big one, a small one)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    import audit
    from credentials.services import nats as nats_svc
    from tenancy.models import ApiToken, Membership, Organization

    User = get_user_model()
    with connection.cursor() as cursor:
        # A throwaway database: commits need not wait for the disk, and the trigram indexes take the new rows
        # in bulk at the VACUUM below instead of in many small merges during the inserts.
        cursor.execute("SET synchronous_commit TO off")
        cursor.execute("SET gin_pending_list_limit TO '512MB'")
    nats_svc.bootstrap()
    made = []
    for index, size in enumerate(sizes):
        owner = User.objects.create_user(f"owner-{index}", password=None)
        organization = Organization.objects.create(name=f"Fleet {index}", slug=f"fleet-{index}")
        Membership.objects.create(user=owner, organization=organization, role="owner")
        token = ApiToken(user=owner, organization=organization, name="bench")
        raw = token.set_new_secret()
        token.save()
        with audit.disabled():  # what `fill` writes in bulk leaves no trace in the audit log
            made.append((organization, raw, fill(organization, owner, size, index == 0)))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # what autovacuum does to a table that grew: index lists merged, statistics
    (big, token, first), (small, small_token, _) = made[:2]
    return World(big, small, token, small_token, first)


def run_list_bench(
    description: str,
    url: str,
    *,
    rows: int,
    most: int,
    rows_help: str,
    made: str,
    figure: str,
    fill: Callable[[Any, Any, int, bool], Any],
    measure: Callable[[World, int], None],
) -> int:
    """A list bench's run: `--rows` and `--requests` read, the database migrated afresh, an organization of
    `--rows` rows and three of 5 made by `fill` (see `organizations`) and timed (`made` and `figure` name what was
    made, with a `{rows}` placeholder), then `measure(world, requests)`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rows", type=int, default=rows, help=rows_help)
    parser.add_argument("--requests", type=int, default=40, help="timed requests per figure")
    args = parser.parse_args()
    rows, requests = max(1_000, min(args.rows, most)), max(10, min(args.requests, 200))

    started = migrate_afresh(url)
    migrated = time.perf_counter()
    world = organizations([rows, 5, 5, 5], fill)
    built = time.perf_counter()
    print(f"migrate {migrated - started:.1f} s, {made.format(rows=rows)} in {built - migrated:.1f} s", flush=True)
    result(figure.format(rows=rows), f"{built - started:.1f} s")
    measure(world, requests)
    print(f"total {time.perf_counter() - started:.1f} s", flush=True)
    return 0


def deep_page(queryset, depth: int) -> dict:
    """The query of the page that starts `depth` rows down the list."""
    from stoneage.api import encode_cursor, sort_keys

    keys = sort_keys(queryset)
    row = queryset.order_by(*(key.order_by(False) for key in keys))[depth - 1]
    return {"cursor": encode_cursor(keys, [getattr(row, key.name) for key in keys])}


def timed(client, url: str, params: dict, requests: int) -> tuple[float, float, int]:
    """p50 and p95 in ms of `requests` requests after three warm-ups, and the rows of the page."""
    for _ in range(3):
        response = client.get(url, params)
        if response.status_code != 200:
            raise SystemExit(f"{url} {params}: {response.status_code} {response.content[:300]!r}")
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(url, params)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return samples[len(samples) // 2], samples[math.ceil(len(samples) * 0.95) - 1], len(response.json()["results"])


def page_figures(
    client, url: str, pages: list[tuple[str, dict]], requests: int, *, label: str, width: int, figure: str
) -> None:
    """p50/p95 of each page of a list, `PAGE` rows a page, against the goal; `label` starts the printed line
    (then the page's name, `width` wide), `figure` names the figure."""
    for name, params in pages:
        p50, p95, count = timed(client, url, {"limit": PAGE, **params}, requests)
        print(f"{label} {name:{width}} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  ({count} rows)", flush=True)
        result(
            f"{figure}: {name}, {PAGE} a page",
            f"p95 {p95:.1f} ms (p50 {p50:.1f} ms)",
            goal=f"p95 <= {GOAL_MS:.0f} ms",
            met=p95 <= GOAL_MS,
        )


def queries_per_page(world: World, big, small, path: str) -> list[int]:
    """Queries of a first page of `path` in the big organization and in the small one."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for client, slug in ((big, world.big.slug), (small, world.small.slug)):
        page_url = f"/api/v1/orgs/{slug}/{path}/"
        client.get(page_url, {"limit": PAGE})  # the token's last use is recorded once a minute
        with CaptureQueriesContext(connection) as queries:
            assert client.get(page_url, {"limit": PAGE}).status_code == 200
        counts.append(len(queries))
    return counts


# --- The production stack, for the NATS benchmarks ------------------------------------------------------------


def live_django(database_url: str | None = None) -> None:
    """Set Django up for a bench that runs the production stack (`database_url`, if given, in place of
    DATABASE_URL; a throwaway test database is made next to it by `production_stack`)."""
    if database_url is not None:
        os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stoneage.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("STONEAGE_SECRET_KEYS", base64.urlsafe_b64encode(os.urandom(32)).decode())
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


@dataclass
class Stack:
    work: Path  # a temporary directory, removed at the end
    loop: Any  # an EventLoopThread for NATS clients
    server: Any  # nats-server in operator mode, from `nats_export`
    redis: Any  # the Celery broker
    worker: Any  # one Celery worker, solo pool


@contextlib.contextmanager
def production_stack(name: str) -> Iterator[Stack]:
    """What production runs, on free ports: a throwaway database (`test_bench_<name>_<pid>` next to the configured
    one, or a SQLite file the worker shares), NATS bootstrapped, nats-server in operator mode from `nats_export`
    and reconciled, a private redis-server and one Celery worker (solo pool). All stopped, dropped and removed
    at the end."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from credentials.services import nats as nats_svc
    from tests.integration.support import (
        CeleryProcess,
        EventLoopThread,
        NatsServer,
        RedisServer,
        celery_env,
        database_url,
        free_port,
    )

    work = Path(tempfile.mkdtemp(prefix=f"bench-{name}-"))
    if connection.vendor == "sqlite":  # a file, so that the worker process shares it
        connection.settings_dict["TEST"]["NAME"] = str(work / "db.sqlite3")
    else:
        connection.settings_dict["TEST"]["NAME"] = f"test_bench_{name}_{os.getpid()}"
    database = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    loop = EventLoopThread()
    redis = worker = server = None
    try:
        nats_svc.bootstrap()
        port = free_port()
        call_command("nats_export", output=str(work / "nats"), port=port, websocket_port=0, stdout=io.StringIO())
        server = NatsServer(work / "nats", port).start()
        settings.NATS_URL = server.url
        call_command("nats_reconcile", stdout=io.StringIO())
        redis = RedisServer(work).start()
        env = celery_env(
            settings_module="stoneage.settings",
            database=database_url(connection.settings_dict),
            broker=redis.url,
            nats_url=server.url,
        )
        worker = CeleryProcess("worker", work, env, "--pool", "solo").start()
        print(f"database {connection.vendor}; nats-server {server.url}; one Celery worker (solo pool)")
        yield Stack(work, loop, server, redis, worker)
    finally:
        for process in (worker, server, redis):
            if process is not None:
                process.stop()
        loop.close()
        connection.creation.destroy_test_db(database, verbosity=0)
        shutil.rmtree(work, ignore_errors=True)
