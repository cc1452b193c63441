"""Prometheus metrics of the control plane, served at `/metrics` (prometheus-client's text format).

Three kinds of series, by where their figures live:

- **This process** (prometheus-client metrics): request latency by view (`MetricsMiddleware`), and the twin's
  viewers and NATS connections of this ASGI process (`TWIN_VIEWERS`, `TWIN_NATS_CONNECTIONS`: the twin consumer
  calls `.inc()` / `.dec()`). With several web processes on one host, set `PROMETHEUS_MULTIPROC_DIR` (an empty
  directory, the same for all of them) and any of them answers for all; otherwise scrape each one.
- **Shared through Redis** (`SharedCounter`, `SharedHistogram`): what Celery workers and web processes count
  alike: push latency and failures, command outcomes, task failures and retries. Each event is one
  `HINCRBY` pipeline on `METRICS_REDIS_URL` (default `REDIS_URL`), read back at scrape time, so a worker's
  figures show on the web's `/metrics` without a pushgateway or a shared filesystem, whichever host the worker
  runs on. Counting never fails the counted work: with Redis down the event is dropped (Redis is the broker
  too, so little runs then) and `stoneage_metrics_store_up` reads 0.
- **From the database at scrape time** (`DatabaseCollector`): the push backlog and the certificates and CAs
  expiring within `METRICS_EXPIRY_DAYS`, computed at most once per `METRICS_CACHE_SECONDS`.

`/metrics` is not public: it answers only a request carrying `Authorization: Bearer <METRICS_TOKEN>` and/or
coming from an address in `METRICS_ALLOW` (each one configured must pass); with neither configured, and to
anyone refused, it answers 404 as if it did not exist.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import timedelta
from functools import lru_cache

import redis
from celery import signals as celery_signals
from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import REGISTRY, CollectorRegistry, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# --- Per process ---------------------------------------------------------------------------------------------

REQUEST_LATENCY = Histogram(
    "stoneage_http_request_duration_seconds",
    "Time to answer an HTTP request, by view (the URL pattern's name, not the path), method and status class.",
    ["view", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
TWIN_VIEWERS = Gauge(
    "stoneage_twin_viewers",
    "Websocket viewers of the digital-twin panel connected to this process.",
    multiprocess_mode="livesum",
)
TWIN_NATS_CONNECTIONS = Gauge(
    "stoneage_twin_nats_connections",
    "NATS connections this process holds to read organizations' twins (one per organization being viewed).",
    multiprocess_mode="livesum",
)

# --- Shared through Redis ------------------------------------------------------------------------------------

_SEP = "\x1f"  # between label values in a hash field
_SUFFIX = "\x1e"  # between the labels and a histogram's bucket, sum or count


class SharedStore:
    """The Redis hashes shared metrics are counted in. One client per process (redis-py reconnects after a
    fork), short timeouts: a slow Redis must not slow the work being counted."""

    def __init__(self) -> None:
        self._client: redis.Redis | None = None
        self._url: str | None = None
        self._lock = threading.Lock()

    def client(self) -> redis.Redis:
        url = settings.METRICS_REDIS_URL or settings.REDIS_URL
        with self._lock:
            if self._client is None or self._url != url:
                self._client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
                self._url = url
            return self._client

    @staticmethod
    def key(name: str) -> str:
        return f"{settings.METRICS_REDIS_PREFIX}:{name}"

    def write(self, operations: Iterable[tuple[str, str, str, float]]) -> None:
        """Apply (`hincrby` | `hincrbyfloat`, metric name, field, amount) in one round trip; errors are dropped."""
        operations = list(operations)
        if not operations:
            return
        try:
            pipe = self.client().pipeline(transaction=False)
            for command, name, field, amount in operations:
                getattr(pipe, command)(self.key(name), field, amount)
            pipe.execute()
        except redis.RedisError as exc:
            log.debug("Could not count %d metric event(s): %s", len(operations), exc)

    def read(self, names: list[str]) -> dict[str, dict[str, str]]:
        pipe = self.client().pipeline(transaction=False)
        for name in names:
            pipe.hgetall(self.key(name))
        rows = pipe.execute()
        return {
            name: {field.decode(): value.decode() for field, value in row.items()}
            for name, row in zip(names, rows, strict=True)
        }


STORE = SharedStore()
_shared: list[SharedCounter | SharedHistogram] = []


class SharedCounter:
    """A counter whose value lives in Redis: `inc(status="acknowledged")` from any process. Label values listed
    in `known` are exposed (at 0) before they are first counted, so that rates work from the start."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...] = (), known: Iterable = ()):
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self.known = [self._labels(values) for values in known]
        _shared.append(self)

    def _labels(self, values) -> tuple[str, ...]:
        values = (values,) if isinstance(values, str) else tuple(values)
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {values!r}")
        return tuple(str(v) for v in values)

    def field(self, labels: dict[str, object]) -> str:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {sorted(labels)}")
        return _SEP.join(str(labels[n]) for n in self.labelnames)

    def increments(self, amount: float = 1, **labels) -> list[tuple[str, str, str, float]]:
        return [("hincrbyfloat", self.name, self.field(labels), amount)]

    def inc(self, amount: float = 1, **labels) -> None:
        STORE.write(self.increments(amount, **labels))

    def family(self, row: dict[str, str]) -> CounterMetricFamily:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labelnames)
        values = {tuple(field.split(_SEP)) if self.labelnames else (): float(v) for field, v in row.items()}
        for labels in self.known:
            values.setdefault(labels, 0.0)
        for labels, value in sorted(values.items()):
            family.add_metric(list(labels), value)
        return family


class SharedHistogram:
    """A histogram whose buckets live in Redis (each bucket counted on its own, made cumulative when read)."""

    def __init__(self, name: str, documentation: str, labelnames: tuple[str, ...] = (), buckets=LATENCY_BUCKETS):
        self.name, self.documentation, self.labelnames = name, documentation, tuple(labelnames)
        self.buckets = tuple(sorted(buckets))
        _shared.append(self)

    def increments(self, value: float, **labels) -> list[tuple[str, str, str, float]]:
        if set(labels) != set(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {sorted(labels)}")
        prefix = _SEP.join(str(labels[n]) for n in self.labelnames) + _SUFFIX
        bucket = next((i for i, bound in enumerate(self.buckets) if value <= bound), len(self.buckets))
        return [
            ("hincrby", self.name, f"{prefix}{bucket}", 1),
            ("hincrbyfloat", self.name, f"{prefix}sum", value),
        ]

    def observe(self, value: float, **labels) -> None:
        STORE.write(self.increments(value, **labels))

    def family(self, row: dict[str, str]) -> HistogramMetricFamily:
        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labelnames)
        series: dict[tuple[str, ...], dict[str, float]] = {}
        for field, value in row.items():
            labels, _, part = field.rpartition(_SUFFIX)
            key = tuple(labels.split(_SEP)) if self.labelnames else ()
            series.setdefault(key, {})[part] = float(value)
        for labels, parts in sorted(series.items()):
            running, buckets = 0.0, []
            for i, bound in enumerate((*self.buckets, float("inf"))):
                running += parts.get(str(i), 0.0)
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
            family.add_metric(list(labels), buckets, parts.get("sum", 0.0))
        return family


PUSH_LATENCY = SharedHistogram(
    "stoneage_nats_push_duration_seconds",
    "Round trip of one account push to nats-server (update or deletion), answered or not.",
    ("kind",),
)
PUSH_FAILURES = SharedCounter(
    "stoneage_nats_push_failures_total",
    "Account pushes that failed (NATS unreachable, no answer, or refused); the beat task pushes them again.",
    ("kind",),
    known=("update", "delete"),
)
COMMAND_OUTCOMES = SharedCounter(
    "stoneage_command_outcomes_total",
    "Commands sent to things, by outcome.",
    ("status",),
    known=("sent", "acknowledged", "failed", "timed_out", "expired"),
)
TASK_FAILURES = SharedCounter(
    "stoneage_celery_task_failures_total", "Celery tasks that failed for good (retries exhausted).", ("task",)
)
TASK_RETRIES = SharedCounter("stoneage_celery_task_retries_total", "Celery task retries scheduled.", ("task",))


def record_pushes(outcomes: Iterable[tuple[str, float | None, bool]]) -> None:
    """Count pushes given as (kind, seconds or None when never sent, failed), in one round trip."""
    operations = []
    for kind, seconds, failed in outcomes:
        if seconds is not None:
            operations += PUSH_LATENCY.increments(seconds, kind=kind)
        if failed:
            operations += PUSH_FAILURES.increments(kind=kind)
    STORE.write(operations)


class SharedCollector:
    """The shared metrics as read from Redis at scrape time."""

    def collect(self) -> Iterator:
        up = GaugeMetricFamily("stoneage_metrics_store_up", "Whether the shared metrics could be read from Redis.")
        try:
            rows = STORE.read([metric.name for metric in _shared])
        except redis.RedisError as exc:
            log.warning("Shared metrics unavailable: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        for metric in _shared:
            yield metric.family(rows[metric.name])


def _task_failed(sender=None, **kwargs) -> None:
    TASK_FAILURES.inc(task=getattr(sender, "name", "unknown"))


def _task_retried(sender=None, **kwargs) -> None:
    TASK_RETRIES.inc(task=getattr(sender, "name", "unknown"))


def connect_celery() -> None:
    celery_signals.task_failure.connect(_task_failed, dispatch_uid="metrics:task-failure")
    celery_signals.task_retry.connect(_task_retried, dispatch_uid="metrics:task-retry")


# --- From the database ---------------------------------------------------------------------------------------


class DatabaseCollector:
    """Gauges computed from the database, at most once per `METRICS_CACHE_SECONDS` whatever the scrape rate."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken_at: float | None = None
        self._values: dict[str, list[tuple[tuple[str, ...], float]]] = {}

    def values(self) -> dict[str, list[tuple[tuple[str, ...], float]]]:
        with self._lock:
            if self._taken_at is None or time.monotonic() - self._taken_at >= settings.METRICS_CACHE_SECONDS:
                self._values = self.compute()
                self._taken_at = time.monotonic()
            return self._values

    def clear(self) -> None:
        with self._lock:
            self._taken_at = None

    @staticmethod
    def compute() -> dict[str, list[tuple[tuple[str, ...], float]]]:
        from django.db.models import Min
        from django.utils import timezone

        from credentials import push
        from credentials.models import Account, CertificateAuthority, Host

        now = timezone.now()
        soon = now + timedelta(days=settings.METRICS_EXPIRY_DAYS)
        backlog = push.backlog()
        oldest = Account.objects.behind().aggregate(oldest=Min("updated"))["oldest"]

        def expiry(queryset) -> list[tuple[tuple[str, ...], float]]:
            active = queryset.filter(active=True, not_after__isnull=False)
            return [
                (("expired",), active.filter(not_after__lte=now).count()),
                (("expiring",), active.filter(not_after__gt=now, not_after__lte=soon).count()),
            ]

        return {
            "backlog": [(("update",), backlog["accounts_behind"]), (("delete",), backlog["deletions_pending"])],
            "oldest": [((), (now - oldest).total_seconds() if oldest else 0.0)],
            "cas": expiry(CertificateAuthority.objects.all()),
            "hosts": expiry(Host.objects.all()),
        }

    def collect(self) -> Iterator:
        try:
            values = self.values()
        except Exception as exc:  # the database is down: the other series still answer
            log.warning("Database metrics unavailable: %s", exc)
            return
        days = settings.METRICS_EXPIRY_DAYS
        families = [
            ("stoneage_nats_push_backlog", "Account pushes owed to nats-server, by kind.", ["kind"], "backlog"),
            (
                "stoneage_nats_push_backlog_oldest_seconds",
                "Age of the oldest account change not yet on nats-server (0 when none is pending).",
                [],
                "oldest",
            ),
            (
                "stoneage_nebula_cas_expiring",
                f"Active Nebula CAs expired, or expiring within {days} days.",
                ["state"],
                "cas",
            ),
            (
                "stoneage_nebula_host_certificates_expiring",
                f"Certificates of active Nebula hosts expired, or expiring within {days} days.",
                ["state"],
                "hosts",
            ),
        ]
        for name, documentation, labels, key in families:
            family = GaugeMetricFamily(name, documentation, labels=labels)
            for label_values, value in values[key]:
                family.add_metric(list(label_values), value)
            yield family


DATABASE = DatabaseCollector()


class ProcessCollector:
    """This process's prometheus-client metrics, or every process's of this host in multiprocess mode."""

    def collect(self) -> Iterator:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            yield from registry.collect()
        else:
            yield from REGISTRY.collect()


def registry() -> CollectorRegistry:
    scrape = CollectorRegistry(auto_describe=False)
    for collector in (ProcessCollector(), SharedCollector(), DATABASE):
        scrape.register(collector)
    return scrape


# --- The endpoint and the request-latency middleware ---------------------------------------------------------


@lru_cache(maxsize=8)
def allowed_networks(entries: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def refusal(request) -> str | None:
    """Why this request may not read the metrics (None when it may)."""
    from audit.context import client_ip

    token, allow = settings.METRICS_TOKEN, tuple(settings.METRICS_ALLOW)
    if not token and not allow:
        return "neither METRICS_TOKEN nor METRICS_ALLOW is set"
    if token:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), token.encode()):
            return "no valid bearer token"
    if allow:
        address = client_ip(request)
        if address is None or not any(ipaddress.ip_address(address) in net for net in allowed_networks(allow)):
            return f"address {address} is not in METRICS_ALLOW"
    return None


@never_cache
def metrics_view(request):
    reason = refusal(request)
    if reason is not None:
        log.info("Metrics refused: %s.", reason)
        raise Http404
    return HttpResponse(generate_latest(registry()), content_type=CONTENT_TYPE_LATEST)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class MetricsMiddleware:
    """Times every request (first in the chain, so the other middleware count too). The view label is the
    resolved URL pattern's name (or route), never the raw path, so that the label's values stay bounded."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name or match.route) if match is not None else "unresolved"
        method = request.method if request.method in _METHODS else "other"
        REQUEST_LATENCY.labels(view, method, f"{response.status_code // 100}xx").observe(time.perf_counter() - started)
        return response
