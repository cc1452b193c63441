"""Reading `/metrics` in tests."""

from __future__ import annotations

import uuid

import redis
from django.conf import settings
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "scrape-" + "t" * 32


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """{(sample name, frozenset of label items): value} of an exposition."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client, **headers) -> dict[tuple[str, frozenset], float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return samples(response.content.decode())


def value(found: dict, name: str, **labels) -> float | None:
    return found.get((name, frozenset((k, str(v)) for k, v in labels.items())))


def fresh_prefix() -> str:
    return f"test-metrics:{uuid.uuid4().hex[:12]}"


def drop_prefix(prefix: str) -> None:
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()
