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

import base64
import os
import secrets
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.report import result  # noqa: E402
from bench.support import (  # noqa: E402
    World,
    deep_page,
    page_figures,
    production_settings,
    queries_per_page,
    run_list_bench,
)

#: A PostgreSQL database of the benchmark's own, emptied at every run (never the one DATABASE_URL names).
DATABASE_URL = production_settings("bench_lists")


def b32(size: int) -> str:
    return base64.b32encode(os.urandom(size)).decode().rstrip("=")


def main() -> int:
    return run_list_bench(
        __doc__.splitlines()[0],
        DATABASE_URL,
        rows=50_000,
        most=200_000,
        rows_help="rows of each kind in the big organization",
        made="{rows:,} rows of each kind",
        figure="lists bench: migrate + create 3 x {rows:,} rows",
        fill=fill,
        measure=measure,
    )


# --- Data -----------------------------------------------------------------------------------------------------


def fill(organization, owner, size: int, big: bool):
    """One organization's NATS users, Nebula hosts and audit events, their creation timed for the big one."""
    clock = time.perf_counter()
    role = nats_users(organization, size)
    users = time.perf_counter()
    network = nebula_hosts(organization, size)
    hosts = time.perf_counter()
    audit_events(organization, owner, size)
    if big:
        done = time.perf_counter()
        print(
            f"{size:,} NATS users in {users - clock:.1f} s, hosts in {hosts - users:.1f} s, "
            f"audit events in {done - hosts:.1f} s",
            flush=True,
        )
    return role, network


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


def measure(world: World, requests: int) -> None:
    from audit.models import AuditEvent
    from credentials.models import Host, NatsUser

    role, _ = world.made
    big, small = world.clients()
    rows = NatsUser.objects.filter(organization=world.big).count()
    depth = int(rows * 0.9)
    lists = [
        (
            "NATS users",
            "nats/users",
            NatsUser.objects.filter(organization=world.big),
            {"role": role.pk, "active": "true"},
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
        page_figures(big, url, pages, requests, label=f"{title:13}", width=32, figure=f"{title} list at {rows:,} rows")
        counts = queries_per_page(world, big, small, path)
        print(f"{title:13} queries per page: {counts[0]} at {rows:,} rows, {counts[1]} at 5 rows", flush=True)
        result(
            f"{title} list: queries per page",
            f"{counts[0]} at {rows:,} rows, {counts[1]} at 5 rows",
            goal="the same at 5 and 50,000 rows",
            met=counts[0] == counts[1],
        )


if __name__ == "__main__":
    sys.exit(main())
