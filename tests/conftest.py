import pytest

pytest_plugins = ["tests.support.secret_scan"]


@pytest.fixture(autouse=True)
def _clear_cache():
    """Sign-in failures counted by one test never throttle another's."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def world(db):
    """Two organizations: `acme` with one user per role, `globex` whose owner is the outsider."""
    from tests.support.world import build_world

    return build_world()


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    return APIClient()
