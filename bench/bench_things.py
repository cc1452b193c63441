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

import sys
import time
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

DATABASE_URL = production_settings("bench_things")


def main() -> int:
    return run_list_bench(
        __doc__.splitlines()[0],
        DATABASE_URL,
        rows=100_000,
        most=500_000,
        rows_help="things in the big organization",
        made="{rows:,} things",
        figure="things bench: migrate + create {rows:,} things",
        fill=fill,
        measure=measure,
    )


# --- Data -----------------------------------------------------------------------------------------------------


def fill(organization, owner, size: int, big: bool):
    """One organization's inventory (`fleet`), its creation timed for the big one."""
    clock = time.perf_counter()
    made = fleet(organization, size)
    if big:
        print(f"{size:,} things and their places in {time.perf_counter() - clock:.1f} s", flush=True)
    return made


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
    from inventory.models import Thing

    thing_type, site = world.made
    big, small = world.clients()
    queryset = Thing.objects.filter(organization=world.big)
    rows = queryset.count()
    depth = int(rows * 0.9)
    url = f"/api/v1/orgs/{world.big.slug}/things/"
    pages = [
        ("first page", {}),
        (f"deep page (row {depth:,}, cursor)", deep_page(queryset, depth)),
        ("filtered page (type, active)", {"thing_type": thing_type.pk, "active": "true"}),
        ("location subtree (a site)", {"location_within": site.pk}),
        ("metadata pair", {"metadata": "vendor:globex"}),
        ("search", {"search": "thing-04213"}),
    ]
    page_figures(big, url, pages, requests, label="things", width=34, figure=f"things list at {rows:,} things")
    counts = queries_per_page(world, big, small, "things")
    print(f"things queries per page: {counts[0]} at {rows:,} things, {counts[1]} at 5 things", flush=True)
    result(
        "things list: queries per page",
        f"{counts[0]} at {rows:,} things, {counts[1]} at 5 things",
        goal=f"the same at 5 and {rows:,} things",
        met=counts[0] == counts[1],
    )


if __name__ == "__main__":
    sys.exit(main())
