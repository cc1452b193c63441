"""What the codec benchmarks share: side-by-side rates and a throwaway Django for their service figures."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable


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
