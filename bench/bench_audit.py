"""Cost of the audit log on a create: the same Membership creates with auditing on and off.

Run: ``DEBUG=1 .venv/bin/python bench/bench_audit.py [--creates 500] [--rounds 3]``

Each create runs in its own transaction, as a request would. With auditing on, that transaction also locks
the organization's chain head, hashes and inserts the event and moves the head; with auditing off
(`audit.disabled()`) it is the bare insert. Rounds alternate off/on and the fastest round of each counts,
which keeps the ratio steady on a busy machine.

The database is a throwaway test database: in-memory SQLite by default, or `test_<name>` next to
DATABASE_URL (e.g. PostgreSQL), created and dropped by the run. Runtime stays well under a minute.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stoneage.settings")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("STONEAGE_SECRET_KEYS", base64.urlsafe_b64encode(os.urandom(32)).decode())

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402

import audit  # noqa: E402
from audit.models import AuditEvent  # noqa: E402
from bench.report import result  # noqa: E402
from tenancy.models import Membership, Organization  # noqa: E402


def create_memberships(organization, users) -> float:
    """Seconds per create."""
    start = time.perf_counter()
    for user in users:
        Membership.objects.create(user=user, organization=organization, role="viewer")
    return (time.perf_counter() - start) / len(users)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=500, help="creates per round and mode (default 500)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per mode (default 3)")
    args = parser.parse_args()
    creates, rounds = max(10, min(args.creates, 2000)), max(1, min(args.rounds, 5))

    if connection.vendor != "sqlite":  # a database of its own, never one a test run may be using
        connection.settings_dict["TEST"]["NAME"] = f"test_bench_audit_{os.getpid()}"
    database = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        User = get_user_model()
        with audit.disabled():
            organization = Organization.objects.create(name="Bench", slug="bench")
            users = User.objects.bulk_create(User(username=f"bench-{i}") for i in range(creates * rounds * 2))
        batches = iter([users[i : i + creates] for i in range(0, len(users), creates)])
        timings = {"off": [], "on": []}
        for _ in range(rounds):
            with audit.disabled():
                timings["off"].append(create_memberships(organization, next(batches)))
            timings["on"].append(create_memberships(organization, next(batches)))
        events = AuditEvent.objects.filter(organization=organization, action="create").count()
        assert events == creates * rounds, f"expected {creates * rounds} events, found {events}"
        off, on = min(timings["off"]), min(timings["on"])
        print(f"database {connection.vendor} ({database}); {creates} creates per round, best of {rounds} rounds")
        result(f"create without audit ({connection.vendor})", f"{off * 1e6:.1f} µs")
        result(
            f"create with its audit event ({connection.vendor})",
            f"{on * 1e6:.1f} µs (+{(on - off) * 1e6:.1f} µs, {on / off:.2f}x)",
        )
    finally:
        connection.creation.destroy_test_db(database, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
