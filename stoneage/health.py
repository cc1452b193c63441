"""Liveness and readiness endpoints.

`/readyz` runs every registered check; apps add theirs with `register_check` from `AppConfig.ready()`.
A check returns a dict with at least `ok`; an exception counts as a failure and its message is reported.
"""

from collections.abc import Callable
from time import monotonic

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

Check = Callable[[], dict]
_checks: dict[str, Check] = {}


def register_check(name: str, check: Check) -> None:
    _checks[name] = check


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True, "vendor": connection.vendor}


def check_redis() -> dict:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()
    return {"ok": True}


register_check("database", check_database)
register_check("redis", check_redis)


def run_checks() -> dict[str, dict]:
    results = {}
    for name, check in _checks.items():
        started = monotonic()
        try:
            result = dict(check())
        except Exception as exc:  # a failing dependency is reported, never raised
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        result["duration_ms"] = round((monotonic() - started) * 1000, 1)
        results[name] = result
    return results


@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request):
    results = run_checks()
    ok = all(r.get("ok") for r in results.values())
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": results}, status=200 if ok else 503
    )
