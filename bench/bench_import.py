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
import base64
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
#: A PostgreSQL database of the benchmark's own, emptied at every run (never the one DATABASE_URL names).
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_import")
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

GOAL = 1_000  # things per second


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

    reset_database(DATABASE_URL)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
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
