"""Bad input to the admin's forms is a form error, never a 500 and never a half-made row: NUL characters
(PostgreSQL refuses them in text and JSON), numbers past 64 bits, forms submitted without what they need."""

import json

import pytest
from django.urls import reverse

from credentials.models import Host, NatsRole, NatsUser
from tenancy.models import ApiToken
from tests.credentials.nats_support import account_of
from tests.credentials.nebula_support import network_of, reload
from tests.credentials.test_nats_admin import account_form, role_form, user_form
from tests.credentials.test_nebula_admin import host_form

pytestmark = pytest.mark.django_db

HUGE = str(10**30)


@pytest.fixture
def superuser(world, client):
    client.force_login(world.superuser)
    return client


def test_a_nats_user_added_without_an_organization_is_a_form_error(world, superuser):
    response = superuser.post(reverse("admin:credentials_natsuser_add"), user_form(world.org, organization=""))
    assert response.status_code == 200
    assert "Choose the organization" in response.content.decode()
    assert not NatsUser.objects.filter(name="pump-1").exists()


def test_api_tokens_are_not_added_in_the_admin(world, superuser):
    url = reverse("admin:tenancy_apitoken_add")
    assert superuser.get(url).status_code == 403
    assert superuser.post(url, {}).status_code == 403
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("hostname", "web\x00"),
        ("public_host_port", "lh\x00:4242"),
        ("key_path", "/etc/\x00"),
        ("groups", json.dumps(["web\x00"])),
        ("firewall_inbound", json.dumps([{"port": "any", "proto": "any", "host": "a\x00"}])),
        ("firewall_outbound", json.dumps([{"port": "any", "proto": "any", "group": "a\x00"}])),
        ("unsafe_routes", json.dumps([{"route": "10.50.0.0/24", "via": "\x00"}])),
        ("listen_port", HUGE),
        ("mtu", HUGE),
        ("validity_days", HUGE),
        ("overlay_ip", "::1"),
        ("network", HUGE),
    ],
)
def test_bad_host_fields_are_form_errors(world, superuser, field, value):
    data = {**host_form(network_of(world.org)), field: value}
    response = superuser.post(reverse("admin:credentials_host_add"), data)
    assert response.status_code == 200, response.content[:500]
    assert response.context["adminform"].form.errors
    assert not Host.objects.filter(hostname="web-01").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "sensors\x00"),
        ("description", "\x00"),
        ("publish_allow", "telemetry.\x00"),
        ("max_data", str(2**63)),
        ("max_payload", "-" + HUGE),
        ("response_ttl", HUGE),
    ],
)
def test_bad_nats_role_fields_are_form_errors(world, superuser, field, value):
    response = superuser.post(reverse("admin:credentials_natsrole_add"), role_form(world.org, **{field: value}))
    assert response.status_code == 200, response.content[:500]
    assert response.context["adminform"].form.errors
    assert not NatsRole.objects.filter(name="sensors").exists()


@pytest.mark.parametrize("value", [str(2**63), "-" + str(2**63 + 1), HUGE])
def test_account_limits_past_64_bits_are_form_errors(world, superuser, value):
    account = account_of(world.org)
    url = reverse("admin:credentials_account_change", args=[account.pk])
    response = superuser.post(url, account_form(account, max_connections=value))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert reload(account).max_connections == account.max_connections


@pytest.mark.parametrize("model", ["host", "network", "natsrole", "natsuser", "account"])
def test_changelist_search_and_forged_ids_are_not_errors(world, superuser, model):
    changelist = reverse(f"admin:credentials_{model}_changelist")
    for query in ("q=a%00b", "o=" + HUGE, "p=" + HUGE, "organization__id__exact=a%00"):
        # 400: the accounts changelist offers no organization filter, and lookups it does not offer are refused.
        assert superuser.get(f"{changelist}?{query}").status_code in (200, 302, 400), query
    for pk in (HUGE, "a%00"):
        assert superuser.get(f"{changelist}{pk}/change/").status_code in (302, 404), pk
