import pytest


@pytest.fixture
def world(db):
    """The tenancy world with a NATS trust chain, so that each organization has its account."""
    from credentials.services import nats as svc
    from tests.support.world import build_world

    svc.bootstrap()
    return build_world()
