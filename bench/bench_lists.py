"""List endpoints at 50,000 rows in one organization on PostgreSQL: NATS users, Nebula hosts, audit events.

Run: ``.venv/bin/python bench/bench_lists.py [--rows 50000] [--requests 40]``

The database is the bench's own: BENCH_DATABASE_URL, by default ``postgres://postgres@127.0.0.1:5432/bench_lists``
(created with psql when missing; its name must contain ``bench``). Each run empties its ``public`` schema and
migrates it afresh, then bulk-creates ``--rows`` rows of each kind in one organization (a NATS user carries a
real JWT's worth of text and a seed sealed through the real field; a host a real certificate and a sealed
private key; an audit event realistic before/after/extra), plus three small organizations of 5 rows each.

Every request goes through the full stack (Django test client: middleware, API token authentication,
organization scoping, role checks, filters, pagination, serializers). For each list it measures p50/p95 of
the first page, a deep page (a cursor 90% down the list), a filtered page and a search, 100 rows a page, and
the queries of a page at 50,000 rows against those at 5 rows. Goal: p95 <= 50 ms, queries not growing with
rows. Runtime: about a minute, data creation included.
"""

from __future__ import annotations

import argparse
import base64
import math
import os
import secrets
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
#: A PostgreSQL database of the benchmark's own, emptied at every run (never the one DATABASE_URL names).
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_lists")
os.environ.update(
    DATABASE_URL=DATABASE_URL,
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

from report import result  # noqa: E402


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
        ["psql", url, "-qc", "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"],
        check=True,
        capture_output=True,
    )


def b32(size: int) -> str:
    return base64.b32encode(os.urandom(size)).decode().rstrip("=")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000, help="rows of each kind in the big organization")
    parser.add_argument("--requests", type=int, default=40, help="timed requests per figure")
    args = parser.parse_args()
    rows, requests = max(1_000, min(args.rows, 200_000)), max(10, min(args.requests, 200))

    reset_database(DATABASE_URL)
    import django

    django.setup()
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    migrated = time.perf_counter()
    world = build(rows)
    built = time.perf_counter()
    print(f"migrate {migrated - started:.1f} s, {rows:,} rows of each kind in {built - migrated:.1f} s", flush=True)
    result(f"lists bench: migrate + create 3 x {rows:,} rows", f"{built - started:.1f} s")
    measure(world, requests)
    print(f"total {time.perf_counter() - started:.1f} s", flush=True)
    return 0


# --- Data -----------------------------------------------------------------------------------------------------


class World:
    def __init__(self, big, small, token, small_token, role, network):
        self.big, self.small, self.token, self.small_token = big, small, token, small_token
        self.role, self.network = role, network


def build(rows: int) -> World:
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
    organizations, tokens, firsts = [], [], []
    for index, size in enumerate([rows, 5, 5, 5]):
        owner = User.objects.create_user(f"owner-{index}", password=None)
        organization = Organization.objects.create(name=f"Fleet {index}", slug=f"fleet-{index}")
        Membership.objects.create(user=owner, organization=organization, role="owner")
        token = ApiToken(user=owner, organization=organization, name="bench")
        raw = token.set_new_secret()
        token.save()
        clock = time.perf_counter()
        with audit.disabled():
            role = nats_users(organization, size)
            users = time.perf_counter()
            network = nebula_hosts(organization, size)
            hosts = time.perf_counter()
        audit_events(organization, owner, size)
        if size == rows:
            done = time.perf_counter()
            print(
                f"{size:,} NATS users in {users - clock:.1f} s, hosts in {hosts - users:.1f} s, "
                f"audit events in {done - hosts:.1f} s",
                flush=True,
            )
        organizations.append(organization)
        tokens.append(raw)
        firsts.append((role, network))
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # what autovacuum does to a table that grew: index lists merged, statistics
    return World(organizations[0], organizations[1], tokens[0], tokens[1], *firsts[0])


def nats_users(organization, size: int):
    from credentials.models import Account, NatsRole, NatsUser
    from credentials.secrets import reveal, seal
    from credentials.services import nats as svc

    account = Account.objects.get(organization=organization)
    roles = [
        NatsRole.objects.create(
            organization=organization,
            name=f"role-{r}",
            publish_allow=[f"{organization.slug}.telemetry.{r}.>", "_INBOX.>"],
            subscribe_allow=[f"{organization.slug}.commands.{r}.>", "_INBOX.>"],
        )
        for r in range(5)
    ]
    template = svc.create_user(account=account, name="template", role=roles[0], description="A real user's JWT")
    jwt, seed = template.jwt, reveal(template, "seed")
    users = []
    for i in range(size):
        user = NatsUser(
            organization=organization,
            account=account,
            name=f"sensor-{i:05d}",
            description=f"Sensor {i} in hall {i % 40}" if i % 3 else "",
            role=roles[i % len(roles)],
            publish_allow=[f"{organization.slug}.telemetry.sensor-{i:05d}.>"],
            subscribe_allow=[f"{organization.slug}.commands.sensor-{i:05d}.>"],
            active=i % 50 != 0,
            public_key="U" + b32(35)[:55],
            signing_key_id=template.signing_key_id,
            jwt=jwt,
            jwt_iat=template.jwt_iat,
        )
        seal(user, "seed", seed)
        users.append(user)
    NatsUser.objects.bulk_create(users, batch_size=2000)
    return roles[2]


def nebula_hosts(organization, size: int):
    from credentials.models import Host
    from credentials.secrets import reveal, seal
    from credentials.services import nebula as svc

    network = svc.create_network(organization=organization, name="fleet", cidr="10.64.0.0/16")
    template = svc.create_host(network=network, hostname="template", groups=["sensors"])
    private_key = reveal(template, "private_key")
    base = int(network.ip_network.network_address) + 2
    hosts = []
    for i in range(size):
        host = Host(
            organization=organization,
            network=network,
            ca=network.ca,
            hostname=f"sensor-{i:05d}",
            overlay_ip=str(network.ip_network[0].__class__(base + i)),
            groups=["sensors", f"hall-{i % 40}"],
            key_source=template.key_source,
            public_key=secrets.token_hex(32),
            certificate=template.certificate,
            fingerprint=secrets.token_hex(32),
            issuer_fingerprint=template.issuer_fingerprint,
            not_before=template.not_before,
            not_after=template.not_after,
            active=i % 50 != 0,
        )
        seal(host, "private_key", private_key)
        hosts.append(host)
    Host.objects.bulk_create(hosts, batch_size=2000)
    return network


def audit_events(organization, actor, size: int) -> None:
    """Events as the chain writes them, inserted in bulk (the chain's own writer goes one at a time)."""
    from django.db.models import QuerySet

    from audit.models import AuditChainHead, AuditEvent, chain_for

    chain = chain_for(organization.pk)
    head, _ = AuditChainHead.objects.get_or_create(chain=chain)
    actions = ["create", "update", "update", "api_request", "credential_read", "delete"]
    start = datetime.now(UTC) - timedelta(days=365)
    previous, events = head.hash, []
    for i in range(size):
        name = f"sensor-{i:05d}"
        digest = secrets.token_hex(32)
        events.append(
            AuditEvent(
                timestamp=start + timedelta(seconds=600 * i, microseconds=i),
                organization=organization,
                organization_slug=organization.slug,
                actor=actor,
                actor_name=actor.username,
                request_id=uuid.uuid4().hex,
                ip="203.0.113.7",
                user_agent="stoneage-cli/1.4 (python-requests/2.32)",
                action=actions[i % len(actions)],
                object_type="credentials.natsuser",
                object_id=str(i),
                object_repr=name,
                before={"name": name, "description": "", "role": 3, "active": True, "bearer": False},
                after={"name": name, "description": f"Sensor {i}", "role": 4, "active": True, "bearer": False},
                changed_fields=["description", "role"],
                extra={"path": f"/api/v1/orgs/{organization.slug}/nats/users/{i}/", "method": "PATCH", "status": 200},
                chain=chain,
                sequence=head.sequence + 1 + i,
                prev_hash=previous,
                hash=digest,
            )
        )
        previous = digest
    QuerySet(AuditEvent).bulk_create(events, batch_size=2000)  # the model's own manager refuses bulk writes
    AuditChainHead.objects.filter(chain=chain).update(sequence=head.sequence + size, hash=previous)


# --- Measurements ---------------------------------------------------------------------------------------------


GOAL_MS = 50.0
PAGE = 100


def deep_page(queryset, depth: int) -> dict:
    """The query of the page that starts `depth` rows down the list."""
    from stoneage.api import encode_cursor, sort_keys

    keys = sort_keys(queryset)
    row = queryset.order_by(*(key.order_by(False) for key in keys))[depth - 1]
    return {"cursor": encode_cursor(keys, [getattr(row, key.name) for key in keys])}


def measure(world: World, requests: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from audit.models import AuditEvent
    from credentials.models import Host, NatsUser

    big, small = APIClient(), APIClient()
    big.credentials(HTTP_AUTHORIZATION=f"Bearer {world.token}")
    small.credentials(HTTP_AUTHORIZATION=f"Bearer {world.small_token}")
    rows = NatsUser.objects.filter(organization=world.big).count()
    depth = int(rows * 0.9)
    lists = [
        (
            "NATS users",
            "nats/users",
            NatsUser.objects.filter(organization=world.big),
            {"role": world.role.pk, "active": "true"},
            {"search": "sensor-0421"},
        ),
        (
            "Nebula hosts",
            "nebula/hosts",
            Host.objects.filter(organization=world.big),
            {"group": "hall-7", "active": "true"},
            {"search": "sensor-0421"},
        ),
        (
            "audit events",
            "audit/events",
            AuditEvent.objects.filter(organization=world.big),
            {"action": "update", "object_type": "credentials.natsuser"},
            {"search": "sensor-0421"},
        ),
    ]
    for title, path, queryset, filters, search in lists:
        url = f"/api/v1/orgs/{world.big.slug}/{path}/"
        pages = [
            ("first page", {}),
            (f"deep page (row {depth:,}, cursor)", deep_page(queryset, depth)),
            ("filtered page", filters),
            ("search", search),
        ]
        for name, params in pages:
            p50, p95, count = timed(big, url, {"limit": PAGE, **params}, requests)
            print(f"{title:13} {name:32} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  ({count} rows)", flush=True)
            result(
                f"{title} list at {rows:,} rows: {name}, {PAGE} a page",
                f"p95 {p95:.1f} ms (p50 {p50:.1f} ms)",
                goal=f"p95 <= {GOAL_MS:.0f} ms",
                met=p95 <= GOAL_MS,
            )
        counts = []
        for client, slug in ((big, world.big.slug), (small, world.small.slug)):
            page_url = f"/api/v1/orgs/{slug}/{path}/"
            client.get(page_url, {"limit": PAGE})  # the token's last use is recorded once a minute
            with CaptureQueriesContext(connection) as queries:
                assert client.get(page_url, {"limit": PAGE}).status_code == 200
            counts.append(len(queries))
        print(f"{title:13} queries per page: {counts[0]} at {rows:,} rows, {counts[1]} at 5 rows", flush=True)
        result(
            f"{title} list: queries per page",
            f"{counts[0]} at {rows:,} rows, {counts[1]} at 5 rows",
            goal="the same at 5 and 50,000 rows",
            met=counts[0] == counts[1],
        )


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


if __name__ == "__main__":
    sys.exit(main())
