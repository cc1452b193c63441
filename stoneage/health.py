"""Liveness and readiness endpoints.

`/readyz` runs every registered check; apps add theirs with `register_check` from `AppConfig.ready()`.
A check returns a dict with at least `ok`; an exception counts as a failure.

The endpoint is public, so it answers each check's `ok` only. The detail (URLs, error messages, backlogs) goes
to the log when a check fails and to signed-in platform operators, with the passwords of URLs masked in both.
Results are reused for `READYZ_CACHE_SECONDS`, however often and however many at once the endpoint is called,
so that it cannot be used to hammer the database, Redis or NATS.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from time import monotonic
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

logger = logging.getLogger(__name__)

Check = Callable[[], dict]
_checks: dict[str, Check] = {}

#: `scheme://user:password@` in a URL; greedy up to the host's `@`, so a password holding `@` is masked whole.
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s,]*@")


def register_check(name: str, check: Check) -> None:
    _checks[name] = check


def redact(value: Any) -> Any:
    """`value` with the user and password of every URL in its strings replaced by `***`."""
    if isinstance(value, str):
        return _USERINFO.sub(r"\g<scheme>***@", value)
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    return value


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
    """Every check's result, URLs' passwords masked; a failure is logged with its detail."""
    results = {}
    for name, check in _checks.items():
        started = monotonic()
        try:
            result = dict(check())
        except Exception as exc:  # a failing dependency is reported, never raised
            result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        result["duration_ms"] = round((monotonic() - started) * 1000, 1)
        results[name] = result = redact(result)
        if not result.get("ok"):
            logger.warning("Readiness check %s failed: %s", name, result)
    return results


class ReadinessCache:
    """The latest results and when they were taken. Callers arriving while the checks run wait for those
    results instead of starting their own run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken_at: float | None = None
        self._results: dict[str, dict] = {}

    def results(self, max_age: float) -> dict[str, dict]:
        with self._lock:
            if self._taken_at is None or monotonic() - self._taken_at >= max_age:
                self._results = run_checks()
                self._taken_at = monotonic()
            return self._results


_cache = ReadinessCache()


def _shows_detail(request) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_active and user.is_superuser)


@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request):
    results = _cache.results(settings.READYZ_CACHE_SECONDS)
    ok = all(r.get("ok") for r in results.values())
    if _shows_detail(request):
        checks = results
    else:
        checks = {name: {"ok": bool(result.get("ok"))} for name, result in results.items()}
    return JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)
