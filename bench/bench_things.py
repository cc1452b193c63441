"""The things list at 100,000 things in one organization on PostgreSQL.

Run: ``.venv/bin/python bench/bench_things.py [--rows 100000] [--requests 40]``

The database is the bench's own: BENCH_DATABASE_URL, by default ``postgres://postgres@127.0.0.1:5432/bench_things``
(created when missing, emptied and migrated at every run, like bench_lists.py). The big organization gets five
thing types, a location tree of 4 sites x 10 halls x 5 rooms and ``--rows`` things spread over them with
metadata; three small organizations get 5 things each.

Every request goes through the full stack (API token, organization scoping, role check, filters, keyset
pagination, serializer). Figures: p50/p95 of the first page, a deep page (a cursor 90% down the list), a page
filtered by type and activity, a location subtree, a metadata pair, and a search, 100 things a page; and the
queries of a page at 100,000 things against those at 5. Goal: p95 <= 50 ms, queries not growing with rows.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_things")

from bench_lists import DATABASE_URL, GOAL_MS, PAGE, deep_page, reset_database, timed  # noqa: E402
from report import result  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="things in the big organization")
    parser.add_argument("--requests", type=int, default=40, help="timed requests per figure")
    args = parser.parse_args()
    rows, requests = max(1_000, min(args.rows, 500_000)), max(10, min(args.requests, 200))

    reset_database(DATABASE_URL)
    import django

    django.setup()
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    migrated = time.perf_counter()
    world = build(rows)
    built = time.perf_counter()
    print(f"migrate {migrated - started:.1f} s, {rows:,} things in {built - migrated:.1f} s", flush=True)
    result(f"things bench: migrate + create {rows:,} things", f"{built - started:.1f} s")
    measure(world, requests)
    print(f"total {time.perf_counter() - started:.1f} s", flush=True)
    return 0


# --- Data -----------------------------------------------------------------------------------------------------


class World:
    def __init__(self, big, small, token, small_token, thing_type, site):
        self.big, self.small, self.token, self.small_token = big, small, token, small_token
        self.thing_type, self.site = thing_type, site


def build(rows: int) -> World:
    from django.contrib.auth import get_user_model
    from django.db import connection

    import audit
    from credentials.services import nats as nats_svc
    from tenancy.models import ApiToken, Membership, Organization

    User = get_user_model()
    with connection.cursor() as cursor:
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
            firsts.append(fleet(organization, size))
        if size == rows:
            print(f"{size:,} things and their places in {time.perf_counter() - clock:.1f} s", flush=True)
        organizations.append(organization)
        tokens.append(raw)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return World(organizations[0], organizations[1], tokens[0], tokens[1], *firsts[0])


def fleet(organization, size: int):
    """Types, a location tree and `size` things; returns a type and a site to filter on."""
    from inventory.models import Location, Thing
    from inventory.services import places, types

    schema = {"type": "object", "properties": {"floor": {"type": "integer"}, "vendor": {"type": "string"}}}
    kinds = [
        types.create_type(
            organization=organization,
            code=code,
            name=code.title(),
            metadata_schema=schema,
            operations=[{"name": "state", "capability": "publish", "subject_suffix": "state"}],
        )
        for code in ("sensor", "camera", "meter", "valve", "gateway")
    ]
    rooms, sites = [], []
    for s in range(4):
        site = places.save_location(Location(organization=organization, code=f"site-{s}", name=f"Site {s}"))
        sites.append(site)
        for h in range(10):
            hall = places.save_location(
                Location(organization=organization, code=f"hall-{s}-{h}", name=f"Hall {h}", parent=site)
            )
            rooms += [
                places.save_location(
                    Location(organization=organization, code=f"room-{s}-{h}-{r}", name=f"Room {r}", parent=hall)
                )
                for r in range(5)
            ]
    vendors = ("acme", "globex", "initech")
    batch = []
    for i in range(size):
        batch.append(
            Thing(
                organization=organization,
                code=f"thing-{i:06d}",
                name=f"{kinds[i % 5].name} {i}",
                description="" if i % 4 else f"Installed in batch {i // 1000}",
                thing_type=kinds[i % 5],
                location=rooms[(i * 7) % len(rooms)] if i % 10 else None,
                metadata={"floor": i % 12, "vendor": vendors[i % 3], "serial": f"SN{i:08d}"},
                active=i % 50 != 0,
            )
        )
        if len(batch) == 5000:
            Thing.objects.bulk_create(batch)
            batch = []
    Thing.objects.bulk_create(batch)
    return kinds[2], sites[1]


# --- Measurements ---------------------------------------------------------------------------------------------


def measure(world: World, requests: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from inventory.models import Thing

    big, small = APIClient(), APIClient()
    big.credentials(HTTP_AUTHORIZATION=f"Bearer {world.token}")
    small.credentials(HTTP_AUTHORIZATION=f"Bearer {world.small_token}")
    queryset = Thing.objects.filter(organization=world.big)
    rows = queryset.count()
    depth = int(rows * 0.9)
    url = f"/api/v1/orgs/{world.big.slug}/things/"
    pages = [
        ("first page", {}),
        (f"deep page (row {depth:,}, cursor)", deep_page(queryset, depth)),
        ("filtered page (type, active)", {"thing_type": world.thing_type.pk, "active": "true"}),
        ("location subtree (a site)", {"location_within": world.site.pk}),
        ("metadata pair", {"metadata": "vendor:globex"}),
        ("search", {"search": "thing-04213"}),
    ]
    for name, params in pages:
        p50, p95, count = timed(big, url, {"limit": PAGE, **params}, requests)
        print(f"things {name:34} p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  ({count} rows)", flush=True)
        result(
            f"things list at {rows:,} things: {name}, {PAGE} a page",
            f"p95 {p95:.1f} ms (p50 {p50:.1f} ms)",
            goal=f"p95 <= {GOAL_MS:.0f} ms",
            met=p95 <= GOAL_MS,
        )
    counts = []
    for client, slug in ((big, world.big.slug), (small, world.small.slug)):
        page_url = f"/api/v1/orgs/{slug}/things/"
        client.get(page_url, {"limit": PAGE})  # the token's last use is recorded once a minute
        with CaptureQueriesContext(connection) as queries:
            assert client.get(page_url, {"limit": PAGE}).status_code == 200
        counts.append(len(queries))
    print(f"things queries per page: {counts[0]} at {rows:,} things, {counts[1]} at 5 things", flush=True)
    result(
        "things list: queries per page",
        f"{counts[0]} at {rows:,} things, {counts[1]} at 5 things",
        goal=f"the same at 5 and {rows:,} things",
        met=counts[0] == counts[1],
    )


if __name__ == "__main__":
    sys.exit(main())
