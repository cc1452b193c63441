"""Bad input to the NATS and Nebula APIs is a 4xx with a message, never a 500 and never a half-made change:
filters past 64 bits, malformed addresses, NUL characters (PostgreSQL refuses them in text and JSON), forged
path values."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from credentials.models import AccountImport, AccountSigningKey, Host
from tests.credentials.nats_support import account_of, make_nats_user, make_role
from tests.credentials.nebula_support import make_host, network_of, url

pytestmark = pytest.mark.django_db

HUGE = str(10**30)
#: Values a whole-number filter refuses: past 64 bits either way, floats, text, NUL.
BAD_NUMBERS = (HUGE, "-" + HUGE, str(2**63), "-1e300", "1e308", "1.5", "abc", "\x00")


@pytest.fixture
def owner(world) -> APIClient:
    client = APIClient()
    client.force_authenticate(world.user("owner"))
    return client


@pytest.mark.parametrize(
    ("name", "parameter"),
    [
        ("nats-api:natsuser-list", "role"),
        ("nats-api:natsuser-list", "membership"),
        ("nebula-api:host-list", "network"),
        ("nebula-api:network-list", "ca"),
    ],
)
def test_id_filters_take_whole_numbers_within_64_bits(world, owner, name, parameter):
    list_url = reverse(name, args=["acme"])
    assert owner.get(list_url, {parameter: "12345"}).status_code == 200
    for value in BAD_NUMBERS:
        response = owner.get(list_url, {parameter: value})
        assert response.status_code == 400, (value, response.content)
        assert parameter in response.data


def test_id_filters_still_filter(world, owner):
    role = make_role(world.org)
    user = make_nats_user(world.org, role=role)
    make_nats_user(world.org)
    results = owner.get(reverse("nats-api:natsuser-list", args=["acme"]), {"role": role.pk}).data["results"]
    assert [u["id"] for u in results] == [user.pk]
    host = make_host(world.org)
    results = owner.get(url("host-list", world), {"network": host.network_id}).data["results"]
    assert [h["id"] for h in results] == [host.pk]


def test_an_address_filter_takes_an_ip_address(world, owner):
    host = make_host(world.org)
    assert [h["id"] for h in owner.get(url("host-list", world), {"overlay_ip": host.overlay_ip}).data["results"]] == [
        host.pk
    ]
    assert owner.get(url("host-list", world), {"overlay_ip": "::1"}).data["results"] == []
    for value in ("b0", "10.42.0.300", "10.42.0.0/24", "\x00"):
        response = owner.get(url("host-list", world), {"overlay_ip": value})
        assert response.status_code == 400, (value, response.content)
        assert "overlay_ip" in response.data


@pytest.mark.parametrize("key", ["host", "group", "ca_name", "ca_sha"])
@pytest.mark.parametrize("text", ["web\x00", "web\nserver", "\x7f"])
def test_firewall_rules_refuse_control_characters(world, owner, key, text):
    rule = {"port": "any", "proto": "any", key: text}
    response = owner.post(
        url("host-list", world),
        {"network": network_of(world.org).pk, "hostname": "fw", "firewall_inbound": [rule]},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "firewall_inbound" in response.data
    assert not Host.objects.filter(hostname="fw").exists()


def test_firewall_rules_with_ordinary_text_still_save(world, owner):
    rules = [{"port": 443, "proto": "tcp", "host": "any"}, {"port": "any", "proto": "any", "group": "laptops"}]
    response = owner.post(
        url("host-list", world),
        {"network": network_of(world.org).pk, "hostname": "fw", "firewall_inbound": rules},
        format="json",
    )
    assert response.status_code == 201, response.content


def test_a_huge_host_id_in_the_path_is_a_404(world, owner):
    host = make_host(world.org)
    for pk in (HUGE, str(2**63), "abc"):
        assert owner.get(url("host-list", world) + f"{pk}/").status_code == 404
        assert owner.post(url("host-list", world) + f"{pk}/renew/").status_code == 404
    assert owner.get(url("host-detail", world, host.pk)).status_code == 200


def test_huge_numbers_in_a_host_body_are_field_errors(world, owner):
    network = network_of(world.org)
    for field in ("listen_port", "mtu", "validity_days"):
        response = owner.post(
            url("host-list", world), {"network": network.pk, "hostname": "big", field: 2**64}, format="json"
        )
        assert response.status_code == 400, (field, response.content)
        assert field in response.data
    response = owner.post(url("host-list", world), {"network": 10**30, "hostname": "big"}, format="json")
    assert response.status_code == 400
    assert "network" in response.data
    assert not Host.objects.filter(hostname="big").exists()


def test_an_import_from_an_exporter_key_with_a_nul_is_a_field_error(world, owner):
    response = owner.post(
        reverse("nats-api:import-list", args=["acme"]),
        {"name": "in", "subject": "a.b", "exporter": "A\x00"},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert "exporter" in response.data
    assert not AccountImport.objects.exists()


@pytest.mark.parametrize("key", ["A%00", "A" * 56, "not-a-key", "A" * 5000])
def test_removing_a_malformed_signing_key_is_a_field_error(world, owner, key):
    keys = AccountSigningKey.objects.filter(account=account_of(world.org)).count()
    response = owner.delete(f"/api/v1/orgs/acme/nats/account/signing-keys/{key}/")
    assert response.status_code == 400, response.content
    assert response.data == {"public_key": ["This account has no such signing key."]}
    assert AccountSigningKey.objects.filter(account=account_of(world.org)).count() == keys


def test_limits_past_64_bits_are_field_errors(world, owner):
    response = owner.post(
        reverse("nats-api:natsrole-list", args=["acme"]), {"name": "big", "max_data": 2**63}, format="json"
    )
    assert response.status_code == 400
    assert "max_data" in response.data
    superuser = APIClient()
    superuser.force_authenticate(world.superuser)
    for value in (2**63, -(2**63) - 1, 10**30):
        response = superuser.patch(
            reverse("nats-api:account", args=["acme"]), {"max_connections": value}, format="json"
        )
        assert response.status_code == 400, (value, response.content)
        assert "max_connections" in response.data


def test_a_users_empty_relations_are_null_in_every_answer(world, owner):
    user = make_nats_user(world.org)
    detail = reverse("nats-api:natsuser-detail", args=["acme", user.pk])
    for response in (owner.get(detail), owner.patch(detail, {"description": "x"}, format="json")):
        assert response.status_code == 200
        assert response.data["role_name"] is None
        assert response.data["membership_username"] is None
        assert "signing_key" in response.data


def test_the_schema_admits_every_owner_kind_a_list_shows(world, owner):
    schema = owner.get("/api/schema/?format=json").json()
    kinds = schema["components"]["schemas"]["OwnerKindEnum"]["enum"]
    users = owner.get(reverse("nats-api:natsuser-list", args=["acme"])).data["results"]
    listed = {u["owner_kind"] for u in users}
    assert "service" in listed
    assert listed <= set(kinds)
    response = owner.post(
        reverse("nats-api:natsuser-list", args=["acme"]), {"name": "svc", "owner_kind": "service"}, format="json"
    )
    assert response.status_code == 400
    assert "managed by the platform" in response.data["owner_kind"][0]
