import pytest

from tests.support.world import build_world


@pytest.fixture
def world(db):
    """Two organizations: `acme` with one user per role, `globex` whose owner is the outsider."""
    return build_world()


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
