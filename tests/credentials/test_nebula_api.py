"""Nebula API: the role matrix of every endpoint, cross-tenant isolation, host creation, configs, actions."""

from datetime import timedelta

import pytest
import yaml
from django.utils import timezone

from audit.models import AuditEvent
from credentials.codecs import nebulacert as nc
from credentials.models import Host, Network, RevokedCertificate
from credentials.services import nebula as svc
from tenancy.roles import ALL_ROLES, MANAGERS, Role
from tests.credentials.nebula_support import (
    ED25519_PUBLIC_PEM,
    SECRET_MARKERS,
    assert_key_pair,
    ca_of,
    make_host,
    make_network,
    network_of,
    public_key_pem,
    reload,
    replace_ca_certificate,
    unique,
    url,
)
from tests.support.authz import assert_access, expect

pytestmark = pytest.mark.django_db

HOST_READERS = MANAGERS | {Role.AUDITOR}


def ca_id(world):
    return ca_of(world.org).pk


# --- Role matrix --------------------------------------------------------------------------------------------------


def test_everyone_in_the_organization_reads_its_ca(world):
    assert_access(world, "get", lambda w: url("ca-list", w), expect(ALL_ROLES, 200))
    assert_access(world, "get", lambda w: url("ca-detail", w, ca_id(w)), expect(ALL_ROLES, 200))
    assert_access(world, "get", lambda w: url("ca-crt", w, ca_id(w)), expect(ALL_ROLES, 200))


def test_only_platform_operators_rotate_a_ca(world):
    assert_access(
        world,
        "post",
        lambda w: url("ca-rotate", w, ca_id(w)),
        expect(set(), 200),
        data_for=lambda w: {"phase": "prepare"},
    )
    assert reload(ca_of(world.org)).rotation_phase == "prepared"


def test_everyone_reads_networks_managers_change_them(world):
    network = make_network(world.org)
    assert_access(world, "get", lambda w: url("network-list", w), expect(ALL_ROLES, 200))
    assert_access(world, "get", lambda w: url("network-detail", w, network.pk), expect(ALL_ROLES, 200))
    counter = iter(range(100, 250))
    assert_access(
        world,
        "post",
        lambda w: url("network-list", w),
        expect(MANAGERS, 201),
        data_for=lambda w: {"name": unique("net"), "cidr": f"10.{next(counter)}.0.0/24"},
    )
    assert_access(
        world,
        "patch",
        lambda w: url("network-detail", w, network.pk),
        expect(MANAGERS, 200),
        data_for=lambda w: {"description": unique("d")},
    )
    cidrs = iter(range(1, 100))
    assert_access(
        world,
        "delete",
        lambda w: url("network-detail", w, make_network(w.org, cidr=f"172.16.{next(cidrs)}.0/24").pk),
        expect(MANAGERS, 204),
    )


def test_managers_and_auditors_read_hosts_managers_change_them(world):
    host = make_host(world.org)
    assert_access(world, "get", lambda w: url("host-list", w), expect(HOST_READERS, 200))
    assert_access(world, "get", lambda w: url("host-detail", w, host.pk), expect(HOST_READERS, 200))
    assert_access(
        world,
        "post",
        lambda w: url("host-list", w),
        expect(MANAGERS, 201),
        data_for=lambda w: {"network": network_of(w.org).pk, "hostname": unique("h")},
    )
    assert_access(
        world,
        "patch",
        lambda w: url("host-detail", w, host.pk),
        expect(MANAGERS, 200),
        data_for=lambda w: {"mtu": 1280},
    )
    assert_access(world, "delete", lambda w: url("host-detail", w, make_host(w.org).pk), expect(MANAGERS, 204))


def test_only_owners_and_admins_download_configs(world):
    host = make_host(world.org)
    assert_access(world, "get", lambda w: url("host-config", w, host.pk), expect(MANAGERS, 200))
    reads = AuditEvent.objects.filter(action="credential_read", object_type="credentials.host", object_id=str(host.pk))
    assert reads.count() == 3  # owner, admin, superuser


@pytest.mark.parametrize("name", ["host-renew", "host-rekey", "host-deactivate", "host-reactivate"])
def test_host_actions_are_for_managers(world, name):
    assert_access(world, "post", lambda w: url(name, w, make_host(w.org).pk), expect(MANAGERS, 200))


# --- Cross-tenant -------------------------------------------------------------------------------------------------


def test_another_organizations_rows_are_not_found(world, api):
    foreign_host = make_host(world.other_org)
    foreign_network = foreign_host.network
    api.force_authenticate(world.user("owner"))
    for name, pk in [
        ("host-detail", foreign_host.pk),
        ("host-config", foreign_host.pk),
        ("network-detail", foreign_network.pk),
        ("ca-detail", ca_of(world.other_org).pk),
        ("ca-crt", ca_of(world.other_org).pk),
    ]:
        assert api.get(url(name, world, pk)).status_code == 404, name
    for name in ("host-renew", "host-rekey", "host-deactivate", "host-reactivate"):
        assert api.post(url(name, world, foreign_host.pk)).status_code == 404
    assert api.delete(url("host-detail", world, foreign_host.pk)).status_code == 404
    assert api.patch(url("network-detail", world, foreign_network.pk), {"name": "x"}).status_code == 404
    assert reload(foreign_host).active and reload(foreign_host).public_key == foreign_host.public_key
    assert not AuditEvent.objects.filter(action="credential_read").exists()
    listing = api.get(url("host-list", world)).json()
    assert listing["results"] == []


def test_relations_to_another_organization_are_refused(world, api):
    api.force_authenticate(world.user("admin"))
    foreign_network = make_network(world.other_org)
    response = api.post(url("host-list", world), {"network": foreign_network.pk, "hostname": "x"}, format="json")
    assert response.status_code == 400 and "network" in response.json()
    response = api.post(
        url("network-list", world),
        {"name": "x", "cidr": "10.77.0.0/24", "ca": ca_of(world.other_org).pk},
        format="json",
    )
    assert response.status_code == 400 and "ca" in response.json()
    assert not Host.objects.filter(hostname="x").exists() and not Network.objects.filter(name="x").exists()


# --- CAs ----------------------------------------------------------------------------------------------------------


def test_ca_shows_certificates_but_never_keys(world, api):
    api.force_authenticate(world.user("viewer"))
    data = api.get(url("ca-detail", world, ca_id(world))).json()
    ca = ca_of(world.org)
    assert data["fingerprint"] == ca.fingerprint and data["version"] == 1
    assert data["certificate"] == ca.certificate == data["bundle"]
    assert not any(marker in str(data) for marker in SECRET_MARKERS)
    response = api.get(url("ca-crt", world, ca.pk))
    assert response["Content-Type"].startswith("application/x-pem-file")
    assert 'filename="ca.crt"' in response["Content-Disposition"]
    assert response.content.decode() == ca.certificate


def test_rotation_through_the_api(world, client):
    host = make_host(world.org)
    client.force_login(world.superuser)
    rotate = url("ca-rotate", world, ca_id(world))
    assert client.post(rotate, {"phase": "commit"}).status_code == 400
    assert client.post(rotate, {"phase": "prepare"}).json()["ca"]["rotation_phase"] == "prepared"
    bundle = client.get(url("ca-crt", world, ca_id(world))).content.decode()
    assert len(nc.load_certificates(bundle)) == 2
    assert client.post(rotate, {"phase": "commit"}).json()["hosts_resigned"] == 1
    assert client.post(rotate, {"phase": "finish"}).json()["ca"]["rotation_phase"] == ""
    assert reload(host).issuer_fingerprint == ca_of(world.org).fingerprint
    assert client.post(rotate, {"phase": "bogus"}).status_code == 400


def test_superusers_api_token_does_not_rotate(world):
    from rest_framework.test import APIClient

    from tenancy.models import Membership
    from tenancy.services import create_api_token

    Membership.objects.create(user=world.superuser, organization=world.org, role="owner")
    _, secret = create_api_token(user=world.superuser, organization=world.org, name="t")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    response = client.post(url("ca-rotate", world, ca_id(world)), {"phase": "prepare"})
    assert response.status_code == 403


# --- Networks -----------------------------------------------------------------------------------------------------


def test_network_create_defaults_to_the_organizations_ca_and_validates(world, api):
    api.force_authenticate(world.user("admin"))
    response = api.post(url("network-list", world), {"name": "mesh", "cidr": "10.42.0.0/24"}, format="json")
    assert response.status_code == 201
    assert response.json()["ca"] == ca_id(world) and response.json()["host_count"] == 0
    response = api.post(url("network-list", world), {"name": "bad", "cidr": "10.42.0.7/24"}, format="json")
    assert response.status_code == 400
    assert response.json()["cidr"] == ["10.42.0.7/24 has host bits set; the network address is 10.42.0.0/24."]
    response = api.post(url("network-list", world), {"name": "mesh", "cidr": "10.43.0.0/24"}, format="json")
    assert response.status_code == 400 and "name" in response.json()


def test_overlapping_networks_are_400s_naming_the_network(world, api):
    api.force_authenticate(world.user("admin"))
    assert api.post(url("network-list", world), {"name": "mesh-a", "cidr": "10.77.0.0/24"}).status_code == 201
    response = api.post(url("network-list", world), {"name": "mesh-b", "cidr": "10.77.0.128/25"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "cidr": [
            "10.77.0.128/25 overlaps the network “mesh-a” (10.77.0.0/24) of the same certificate authority, whose "
            "hosts could then get the same address: choose a range outside 10.77.0.0/24."
        ]
    }
    other = api.post(url("network-list", world), {"name": "mesh-b", "cidr": "10.78.0.0/24"}).json()
    response = api.patch(url("network-detail", world, other["id"]), {"cidr": "10.77.0.0/16"}, format="json")
    assert response.status_code == 400 and "“mesh-a”" in response.json()["cidr"][0]
    assert list(Network.objects.filter(organization=world.org).order_by("name").values_list("cidr", flat=True)) == [
        "10.77.0.0/24",
        "10.78.0.0/24",
    ]


def test_network_with_hosts_is_not_deleted(world, api):
    host = make_host(world.org)
    api.force_authenticate(world.user("owner"))
    response = api.delete(url("network-detail", world, host.network_id))
    assert response.status_code == 400 and "delete them first" in str(response.json())
    response = api.patch(url("network-detail", world, host.network_id), {"cidr": "10.99.0.0/24"}, format="json")
    assert response.status_code == 400


def test_network_filters(world, api):
    make_network(world.org, "alpha", "10.1.0.0/24")
    make_network(world.org, "beta", "10.2.0.0/24")
    api.force_authenticate(world.user("viewer"))
    assert [n["name"] for n in api.get(url("network-list", world), {"search": "beta"}).json()["results"]] == ["beta"]
    assert api.get(url("network-list", world), {"ca": ca_of(world.other_org).pk}).json()["count"] == 0


# --- Hosts --------------------------------------------------------------------------------------------------------


def test_create_host_with_a_generated_key(world, api):
    network = make_network(world.org)
    api.force_authenticate(world.user("admin"))
    response = api.post(
        url("host-list", world),
        {"network": network.pk, "hostname": "web-01", "groups": ["web"], "firewall_inbound": None},
        format="json",
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    host = Host.objects.get(pk=data["id"])
    assert data["overlay_ip"] == "10.42.0.1" and data["key_source"] == "generated"
    assert data["public_key"] == host.public_key and data["fingerprint"] == host.fingerprint
    assert data["active"] is True and data["certificate"] == host.certificate
    assert "private_key" not in data
    assert not any(marker in response.content.decode() for marker in SECRET_MARKERS)


def test_create_host_with_a_device_key(world, api):
    private, public = nc.generate_host_keypair()
    api.force_authenticate(world.user("owner"))
    response = api.post(
        url("host-list", world),
        {
            "network": network_of(world.org).pk,
            "hostname": "sensor-7",
            "public_key": public_key_pem(public),
            "key_path": "/data/nebula/host.key",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    host = Host.objects.get(pk=response.json()["id"])
    assert host.key_source == "device" and host.private_key == "" and host.public_key == public.hex()
    assert_key_pair(nc.load_certificate(host.certificate), private)
    config = api.get(url("host-config", world, host.pk))
    assert yaml.safe_load(config.content)["pki"]["key"] == "/data/nebula/host.key"


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (ED25519_PUBLIC_PEM, "Ed25519"),
        ("c2hvcnQ=", "32 bytes"),
    ],
)
def test_create_host_refuses_wrong_keys_with_400(world, api, key, message):
    api.force_authenticate(world.user("owner"))
    response = api.post(
        url("host-list", world), {"network": network_of(world.org).pk, "hostname": "x", "public_key": key}
    )
    assert response.status_code == 400
    assert message in response.json()["public_key"][0]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"overlay_ip": "10.42.9.9"}, "overlay_ip"),
        ({"is_lighthouse": True}, "public_host_port"),
        ({"firewall_inbound": [{"proto": "tcp", "port": 22}]}, "firewall_inbound"),
        ({"unsafe_networks": ["10.42.0.0/25"]}, "unsafe_networks"),
        ({"hostname": "bad name"}, "hostname"),
    ],
)
def test_create_host_validation_errors_are_400s_on_the_field(world, api, payload, field):
    api.force_authenticate(world.user("owner"))
    body = {"network": network_of(world.org).pk, "hostname": "ok", **payload}
    response = api.post(url("host-list", world), body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_a_host_under_an_expired_ca_is_a_400(world, api):
    network = network_of(world.org)
    now = timezone.now()
    replace_ca_certificate(ca_of(world.org), now - timedelta(days=30), now - timedelta(days=1))
    api.force_authenticate(world.user("owner"))
    response = api.post(url("host-list", world), {"network": network.pk, "hostname": "late"}, format="json")
    assert response.status_code == 400
    assert "certificate authority has expired" in response.json()["network"][0]


def test_host_cannot_change_network_or_key(world, api):
    host = make_host(world.org)
    api.force_authenticate(world.user("owner"))
    other = make_network(world.org, cidr="10.50.0.0/24")
    response = api.patch(url("host-detail", world, host.pk), {"network": other.pk}, format="json")
    assert response.status_code == 400 and "network" in response.json()
    _, public = nc.generate_host_keypair()
    response = api.patch(url("host-detail", world, host.pk), {"public_key": public.hex()}, format="json")
    assert response.status_code == 400 and "public_key" in response.json()
    response = api.patch(url("host-detail", world, host.pk), {"public_key": host.public_key}, format="json")
    assert response.status_code == 200


def test_changing_groups_reissues_the_certificate(world, api):
    host = make_host(world.org, groups=["admin"])
    api.force_authenticate(world.user("owner"))
    response = api.patch(url("host-detail", world, host.pk), {"groups": ["web"]}, format="json")
    assert response.status_code == 200
    assert nc.load_certificate(response.json()["certificate"]).groups == ["web"]
    assert RevokedCertificate.objects.filter(fingerprint=host.fingerprint).exists()


def test_config_download(world, api):
    host = make_host(world.org)
    api.force_authenticate(world.user("admin"))
    response = api.get(url("host-config", world, host.pk))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/yaml; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{host.hostname}.yml"'
    assert "no-store" in response["Cache-Control"]
    config = yaml.safe_load(response.content)
    assert config["pki"]["cert"] == host.certificate
    assert "NEBULA X25519 PRIVATE KEY" in config["pki"]["key"]
    event = AuditEvent.objects.get(action="credential_read")
    assert event.actor_id == world.user("admin").pk and event.object_id == str(host.pk)
    assert event.extra["kind"] == "nebula.config" and event.organization_id == world.org.pk
    assert api.get(url("host-config", world, host.pk), HTTP_ACCEPT="application/yaml").status_code == 200


def test_config_of_a_deactivated_host_is_refused(world, api):
    host = svc.deactivate_host(make_host(world.org))
    api.force_authenticate(world.user("owner"))
    response = api.get(url("host-config", world, host.pk))
    assert response.status_code == 400 and "deactivated" in str(response.json())
    assert not AuditEvent.objects.filter(action="credential_read").exists()


def test_deactivate_reactivate_and_renew(world, api):
    peer = make_host(world.org)
    host = make_host(world.org)
    api.force_authenticate(world.user("owner"))
    data = api.post(url("host-deactivate", world, host.pk)).json()
    assert data["active"] is False
    blocklist = yaml.safe_load(api.get(url("host-config", world, peer.pk)).content)["pki"]["blocklist"]
    assert blocklist == [host.fingerprint]
    response = api.post(url("host-renew", world, host.pk))
    assert response.status_code == 400
    data = api.post(url("host-reactivate", world, host.pk)).json()
    assert data["active"] is True and data["fingerprint"] != host.fingerprint
    renewed = api.post(url("host-renew", world, host.pk)).json()
    assert renewed["active"] is True


def test_rekey_through_the_api(world, api):
    peer = make_host(world.org)
    host = make_host(world.org)
    api.force_authenticate(world.user("admin"))
    response = api.post(url("host-rekey", world, host.pk))
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["public_key"] != host.public_key and data["fingerprint"] != host.fingerprint and data["active"]
    assert not any(marker in response.content.decode() for marker in SECRET_MARKERS)
    config = yaml.safe_load(api.get(url("host-config", world, host.pk)).content)
    cert = nc.load_certificate(config["pki"]["cert"])
    assert_key_pair(cert, config["pki"]["key"])
    assert cert.public_key.hex() == data["public_key"]
    blocklist = yaml.safe_load(api.get(url("host-config", world, peer.pk)).content)["pki"]["blocklist"]
    assert blocklist == [host.fingerprint]


def test_rekey_of_a_device_held_key_is_a_400_that_says_why(world, api):
    _, public = nc.generate_host_keypair()
    host = make_host(world.org, public_key=public.hex())
    api.force_authenticate(world.user("owner"))
    response = api.post(url("host-rekey", world, host.pk))
    assert response.status_code == 400
    message = response.json()["key_source"][0]
    assert "held by the device" in message and "nebula-cert keygen" in message and "new public key" in message
    assert reload(host).fingerprint == host.fingerprint and not RevokedCertificate.objects.exists()


def test_reactivation_rekeys_generated_keys_unless_told_not_to(world, api):
    host = svc.deactivate_host(make_host(world.org))
    api.force_authenticate(world.user("owner"))
    data = api.post(url("host-reactivate", world, host.pk), {"rekey": False}, format="json").json()
    assert data["active"] and data["public_key"] == host.public_key
    svc.deactivate_host(host)
    data = api.post(url("host-reactivate", world, host.pk)).json()
    assert data["active"] and data["public_key"] != host.public_key
    device = svc.deactivate_host(make_host(world.org, public_key=nc.generate_host_keypair()[1].hex()))
    response = api.post(url("host-reactivate", world, device.pk), {"rekey": True}, format="json")
    assert response.status_code == 400 and "held by the device" in response.json()["key_source"][0]
    response = api.post(url("host-reactivate", world, device.pk), {"rekey": "maybe"}, format="json")
    assert response.status_code == 400 and "rekey" in response.json()
    data = api.post(url("host-reactivate", world, device.pk)).json()
    assert data["active"] and data["public_key"] == device.public_key


def test_deleting_a_host_through_the_api_revokes_it(world, api):
    peer = make_host(world.org)
    host = make_host(world.org)
    api.force_authenticate(world.user("owner"))
    assert api.delete(url("host-detail", world, host.pk)).status_code == 204
    assert yaml.safe_load(api.get(url("host-config", world, peer.pk)).content)["pki"]["blocklist"] == [host.fingerprint]


def test_host_filters(world, api):
    network = make_network(world.org)
    make_host(network, "web-01", groups=["web"])
    make_host(network, "db-01", groups=["db"])
    svc.deactivate_host(make_host(network, "old"))
    api.force_authenticate(world.user("auditor"))
    listing = url("host-list", world)
    assert [h["hostname"] for h in api.get(listing, {"group": "web"}).json()["results"]] == ["web-01"]
    assert [h["hostname"] for h in api.get(listing, {"active": "false"}).json()["results"]] == ["old"]
    assert len(api.get(listing, {"network": network.pk}).json()["results"]) == 3
    assert len(api.get(listing, {"search": "db-01"}).json()["results"]) == 1


def test_host_list_query_count_does_not_grow_with_hosts(world, api, django_assert_max_num_queries):
    network = make_network(world.org)
    for _ in range(5):
        make_host(network)
    api.force_authenticate(world.user("owner"))
    with django_assert_max_num_queries(12):
        assert len(api.get(url("host-list", world)).json()["results"]) == 5
