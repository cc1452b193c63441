import pytest


@pytest.fixture
def world(db):
    """The tenancy world with a NATS trust chain: the operator exists before the organizations, so each
    organization gets its account (and platform service user) from the post_save signal."""
    from credentials.services import nats as svc
    from tests.support.world import build_world

    svc.bootstrap()
    return build_world()
