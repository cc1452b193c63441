import pytest

pytest_plugins = ["tests.support.secret_scan"]


@pytest.fixture
def world(db):
    """Two organizations: `acme` with one user per role, `globex` whose owner is the outsider."""
    from tests.support.world import build_world

    return build_world()


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    return APIClient()
