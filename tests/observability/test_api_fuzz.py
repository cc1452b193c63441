"""API fuzzing with schemathesis against our own OpenAPI schema (`/api/schema/`), through the WSGI app: every
operation, a bounded number of generated requests with a fixed seed, as an organization owner with an API token.
No request may answer 5xx, and every response must match the schema. No operation is left out; one that had to
be would be filtered out of `schema` here, with its reason."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, seed, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from credentials.services import nats as nats_svc
from credentials.services import nebula as nebula_svc
from inventory.services import things
from tenancy import services as tenancy_svc
from tests.inventory.api_support import make_location, make_location_type, make_type
from tests.support.world import build_world

pytestmark = pytest.mark.django_db

#: Generated requests per operation: about 130 operations stay within a minute or two.
EXAMPLES = 10
SEED = 20261130


# Loaded at collection (the schema view reads no database). The lazy `from_fixture` loader is not used: it
# relies on a pytest internal that pytest 9 no longer has.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())
schema.config.seed = SEED
# Generated requests only (`max_examples` of them per operation); the coverage phase's boundary cases would
# multiply the run time several times over.
schema.config.phases.coverage.enabled = False


@pytest.fixture(autouse=True)
def keep_the_connection(db):
    """Requests through the WSGI app must not close the database connection when they end (Django's test
    client does the same): the test's transaction lives on it."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def owner_token(db):
    """An org owner's API token, in an organization holding one of most things (so lists have rows to render)."""
    nats_svc.bootstrap()
    world = build_world()
    org, owner = world.org, world.user("owner")
    sensor = make_type(org)
    room = make_location(org, "hq", location_type=make_location_type(org))
    network = nebula_svc.create_network(organization=org, name="mesh", cidr="10.42.0.0/24")
    things.create_thing(
        organization=org,
        code="s-01",
        thing_type=sensor,
        location=room,
        nats_mode="auto",
        nebula_mode="auto",
        network=network,
    )
    nebula_svc.create_host(
        network=network, hostname="lighthouse", is_lighthouse=True, public_host_port="203.0.113.10:4242"
    )
    nats_svc.create_user(account=org.nats_account, name="svc-1", publish_allow=["telemetry.>"])
    tenancy_svc.invite(organization=org, email="new@example.com", role="member", acting_user=owner)
    _, secret = tenancy_svc.create_api_token(user=owner, organization=org, name="fuzz")
    return secret


@schema.parametrize()
@seed(SEED)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_api_answers_as_its_schema_says(case, owner_token):
    for name in ("org_slug", "slug"):
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = "acme"
    case.call_and_validate(
        headers={"Authorization": f"Bearer {owner_token}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
