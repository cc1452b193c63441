"""Inventory import: 10,000 things with NATS users in one import, on PostgreSQL, against the raw cost of their keys.

Run: ``.venv/bin/python bench/bench_import.py [--things 10000]``

The database is the bench's own: BENCH_DATABASE_URL, by default ``postgres://postgres@127.0.0.1:5432/bench_import``
(created with psql when missing; its name must contain ``bench``). Each run empties its ``public`` schema and
migrates it afresh, bootstraps NATS, creates one organization (its account, as the signal provisions it) with a
thing type whose metadata has a JSON Schema and a location.

Measures, in one run:

* the import: a JSON document of ``--things`` things (type, location, metadata checked against the type's schema,
  ``nats: auto``) read and imported through ``inventory.bulk`` as one request does it: every row checked, the
  things and their NATS users (key pair, seed sealed at rest, JWT signed by the type's key) written in bulk,
  one audit event. Goal: >= 1,000 things/s;
* the raw ceiling, in the same run: the reference ``nkeys`` package generating a user key pair and signing one
  user-JWT-sized message per thing. The import's ratio to it says how much of the time is beyond the keys;
* what the import left: the rows, one audit event, and how many times the account was re-signed (none: a new
  user of a signing key needs no push).

Runtime: under a minute.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.report import result  # noqa: E402
from bench.support import migrate_afresh, production_settings  # noqa: E402

#: A PostgreSQL database of the benchmark's own, emptied at every run (never the one DATABASE_URL names).
DATABASE_URL = production_settings("bench_import")

GOAL = 1_000  # things per second


def raw_rate(count: int, signing_input: bytes) -> float:
    """Key pairs + one signature per thing, per second: the reference nkeys package, nothing else."""
    import nkeys

    signer = nkeys.from_seed(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_ACCOUNT))
    start = time.perf_counter()
    for _ in range(count):
        seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
        nkeys.from_seed(seed).public_key  # noqa: B018 - deriving the public key is part of keygen
        signer.sign(signing_input)
    return count / (time.perf_counter() - start)


def timed_phases(bulk) -> dict[str, float]:
    """Wall time of each phase of the import, filled in as it runs."""
    phases: dict[str, float] = {}
    for name in ("validate_things", "mint_users", "write"):
        method = getattr(bulk._Import, name)

        def timed(self, *args, _method=method, _name=name, **kwargs):
            start = time.perf_counter()
            try:
                return _method(self, *args, **kwargs)
            finally:
                phases[_name] = time.perf_counter() - start

        setattr(bulk._Import, name, timed)
    return phases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--things", type=int, default=10_000, help="things in the import (default 10,000)")
    args = parser.parse_args()
    count = max(100, min(args.things, 100_000))

    migrate_afresh(DATABASE_URL)
    from audit.models import AuditEvent
    from credentials.models import Account, NatsUser
    from credentials.services import nats as nats_svc
    from inventory import bulk
    from inventory.models import Location, Thing
    from inventory.services import types
    from tenancy.models import Organization

    nats_svc.bootstrap()
    organization = Organization.objects.create(name="Bench", slug="bench")
    types.create_type(
        organization=organization,
        code="sensor",
        name="Sensor",
        metadata_schema={
            "type": "object",
            "properties": {"serial": {"type": "string"}, "floor": {"type": "integer", "minimum": 0}},
            "required": ["serial"],
        },
        operations=[{"name": "temp", "capability": "publish", "subject_suffix": "telemetry.temp"}],
    )
    Location.objects.create(organization=organization, code="plant-1", name="Plant 1")
    document = json.dumps(
        {
            "things": [
                {
                    "code": f"sensor-{i:06}",
                    "name": f"Sensor {i}",
                    "type": "sensor",
                    "location": "plant-1",
                    "metadata": {"serial": f"SN{i:08}", "floor": i % 12},
                    "nats": "auto",
                }
                for i in range(count)
            ]
        }
    )
    revision = Account.objects.get(organization=organization).revision
    events = AuditEvent.objects.count()

    phases = timed_phases(bulk)
    start = time.perf_counter()
    outcome = bulk.import_inventory(organization, bulk.read_json(document), filename="bench.json")
    seconds = time.perf_counter() - start
    if not outcome.written:
        print("\n".join(str(e) for e in outcome.errors[:20]))
        raise SystemExit("the import was refused")
    rate = count / seconds

    sample = NatsUser.objects.filter(organization=organization, owner_kind="thing").values_list("jwt", flat=True)[0]
    raw = raw_rate(count, sample.rsplit(".", 1)[0].encode())
    things = Thing.objects.filter(organization=organization, nats_user__isnull=False).count()
    resigned = Account.objects.get(organization=organization).revision - revision
    new_events = AuditEvent.objects.count() - events
    print("phases: " + ", ".join(f"{name} {t:.2f} s" for name, t in phases.items()), flush=True)
    print(
        f"{count:,} things in {seconds:.2f} s; {things:,} with NATS users; {new_events} audit event(s); "
        f"account re-signed {resigned} time(s)",
        flush=True,
    )
    result("raw nkeys key pair + one signature per thing", f"{raw:,.0f}/s", goal="physical limit")
    result(
        f"import {count:,} things with NATS users (postgresql, one request)",
        f"{rate:,.0f}/s",
        goal=f">= {GOAL:,}/s",
        ratio=rate / raw,
        met=rate >= GOAL and things == count and new_events == 1,
    )
    result("account re-signs during the import", str(resigned), goal="<= 1", met=resigned <= 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
