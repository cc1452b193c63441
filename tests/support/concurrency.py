"""Run actions at the same moment from threads of their own, each on its own database connection."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def race(*actions: Callable[[], object], expected: tuple[type[Exception], ...]) -> list[str]:
    """Start every action together; the sorted outcomes: "ok", or the name of the `expected` error it raised (any
    other error fails the thread loudly)."""
    barrier = threading.Barrier(len(actions))
    results = []

    def run(action):
        try:
            barrier.wait()
            action()
            results.append("ok")
        except expected as exc:
            results.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(results)
