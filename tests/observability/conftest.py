import pytest

from stoneage import metrics
from tests.observability.support import TOKEN, drop_prefix, fresh_prefix


@pytest.fixture
def metrics_on(settings):
    """/metrics behind a bearer token, shared metrics under a Redis prefix of this test's own, no caching."""
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOW = []
    settings.METRICS_REDIS_PREFIX = fresh_prefix()
    settings.METRICS_CACHE_SECONDS = 0
    metrics.DATABASE.clear()
    yield settings
    drop_prefix(settings.METRICS_REDIS_PREFIX)
    metrics.DATABASE.clear()
