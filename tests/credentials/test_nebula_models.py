"""Nebula rules: the CA of each organization, network and host validation, address allocation."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import RestrictedError

from credentials.codecs import nebulacert as nc
from credentials.models import CertificateAuthority, Host, Network, RevokedCertificate
from credentials.secrets import VERSION, reveal
from credentials.services import nebula as svc
from tenancy.models import Organization
from tests.credentials.nebula_support import ca_of, make_host, make_lighthouse, make_network, reload, verify

pytestmark = pytest.mark.django_db


def errors_of(exc_info) -> dict:
    return exc_info.value.message_dict


# --- Certificate authority ---------------------------------------------------------------------------------------


def test_every_organization_gets_a_v1_ca_with_an_encrypted_key(world):
    ca = ca_of(world.org)
    cert = nc.load_certificate(ca.certificate)
    assert cert.is_ca and cert.version == 1 and ca.version == 1
    assert cert.fingerprint() == ca.fingerprint
    assert ca.not_after == cert.not_after_dt and ca.not_before == cert.not_before_dt
    assert (ca.not_after - ca.not_before).days >= 3650
    assert ca.key.startswith(f"{VERSION}:") and "PRIVATE" not in ca.key
    nc.HostSigner(cert, nc.load_ca_key(reveal(ca, "key")))  # refuses a key that is not the CA's
    assert ca_of(world.other_org).fingerprint != ca.fingerprint


def test_ca_creation_does_not_need_nats(db):
    organization = Organization.objects.create(name="Initech", slug="initech")
    assert CertificateAuthority.objects.filter(organization=organization, active=True).count() == 1


def test_v2_ca_when_configured(world, settings):
    settings.NEBULA_CA_VERSION = 2
    organization = Organization.objects.create(name="Umbrella", slug="umbrella")
    ca = ca_of(organization)
    assert ca.version == 2 and ca.certificate.startswith("-----BEGIN NEBULA CERTIFICATE V2-----")
    host = make_host(organization)
    cert = nc.load_certificate(host.certificate)
    assert cert.version == 2
    verify(cert, ca.certificate)


def test_saving_an_organization_again_keeps_its_ca(world):
    ca = ca_of(world.org)
    world.org.description = "changed"
    world.org.save()
    assert list(CertificateAuthority.objects.filter(organization=world.org)) == [ca]


# --- Networks -----------------------------------------------------------------------------------------------------


def test_network_uses_the_organizations_ca(world):
    network = make_network(world.org)
    assert network.ca == ca_of(world.org)


@pytest.mark.parametrize(
    ("cidr", "message"),
    [
        ("10.42.0.1/24", "host bits set; the network address is 10.42.0.0/24"),
        ("10.42.0.0", "prefix length"),
        ("fd00::/64", "IPv4"),
        ("10.42.0.0/31", "at least two hosts"),
        ("banana", "IPv4"),
    ],
)
def test_network_cidr_must_be_an_ipv4_network_address(world, cidr, message):
    with pytest.raises(ValidationError) as exc:
        make_network(world.org, cidr=cidr)
    assert message in " ".join(errors_of(exc)["cidr"])


def test_network_names_and_ranges_are_unique_per_ca(world):
    make_network(world.org, "mesh", "10.42.0.0/24")
    with pytest.raises(ValidationError) as exc:
        make_network(world.org, "mesh", "10.43.0.0/24")
    assert "name" in errors_of(exc)
    with pytest.raises(ValidationError) as exc:
        make_network(world.org, "other", "10.42.0.0/24")
    assert "range" in errors_of(exc)["cidr"][0]
    make_network(world.other_org, "mesh", "10.42.0.0/24")  # another CA


def test_networks_of_one_ca_may_not_overlap(world):
    make_network(world.org, "mesh-a", "10.77.0.0/24")
    for cidr in ("10.77.0.128/25", "10.77.0.0/16", "10.77.0.0/24"):
        with pytest.raises(ValidationError) as exc:
            make_network(world.org, "mesh-b", cidr)
        assert errors_of(exc)["cidr"] == [
            f"{cidr} overlaps the network “mesh-a” (10.77.0.0/24) of the same certificate authority, whose hosts "
            "could then get the same address: choose a range outside 10.77.0.0/24."
        ]
    empty = make_network(world.org, "mesh-b", "10.78.0.0/24")
    with pytest.raises(ValidationError) as exc:
        svc.update_network(empty, cidr="10.77.0.64/26")
    assert "“mesh-a”" in errors_of(exc)["cidr"][0]
    assert svc.update_network(empty, cidr="10.77.1.0/24").cidr == "10.77.1.0/24"  # adjacent, not overlapping
    make_network(world.other_org, "mesh-b", "10.77.0.128/25")  # another CA, another trust domain


def legacy_network(org, name: str, cidr: str) -> Network:
    """A network as rows written before overlapping ranges were refused could hold it."""
    return Network.objects.create(organization=org, ca=ca_of(org), name=name, cidr=cidr)


def test_overlapping_networks_from_before_keep_working_with_addresses_unique_per_ca(world):
    wide = make_network(world.org, "wide", "10.77.0.0/29")  # hosts .1 - .6
    narrow = legacy_network(world.org, "narrow", "10.77.0.4/30")  # hosts .5 - .6
    assert svc.update_network(narrow, name="narrow-2").name == "narrow-2"  # its range is unchanged
    with pytest.raises(ValidationError) as exc:
        svc.update_network(narrow, cidr="10.77.0.0/30")
    assert "“wide”" in errors_of(exc)["cidr"][0]
    make_host(wide, "in-wide", overlay_ip="10.77.0.5")
    with pytest.raises(ValidationError) as exc:
        make_host(narrow, "in-narrow", overlay_ip="10.77.0.5")
    assert errors_of(exc)["overlay_ip"] == [
        "10.77.0.5 is already used by the host “in-wide” of the network “wide” under the same certificate authority."
    ]
    assert make_host(narrow, "allocated").overlay_ip == "10.77.0.6"  # .5 is taken by the wider network's host
    assert make_host(wide, "next").overlay_ip == "10.77.0.1"
    with pytest.raises(ValidationError) as exc:
        make_host(narrow)
    assert "no free address" in errors_of(exc)["overlay_ip"][0]


def test_hosts_carry_their_networks_ca_and_the_database_keeps_addresses_unique_per_ca(world):
    first = make_host(make_network(world.org, cidr="10.42.0.0/24"))
    second = make_host(make_network(world.org, cidr="10.43.0.0/24"))
    assert first.ca == second.ca == ca_of(world.org)
    foreign = make_host(make_network(world.other_org, cidr="10.42.0.0/24"))
    assert foreign.overlay_ip == first.overlay_ip  # another CA: another address space
    with pytest.raises(IntegrityError), transaction.atomic():
        Host.objects.filter(pk=second.pk).update(overlay_ip=first.overlay_ip)


def test_a_host_joins_the_organization_and_ca_of_its_network(world):
    network = make_network(world.org)
    host = Host(network=network, hostname="x", public_key="00" * 32, overlay_ip="10.42.0.9")
    host.full_clean(exclude=["private_key", "organization"])  # as the admin's form, which has no such field
    assert (host.organization_id, host.ca_id) == (world.org.pk, network.ca_id)


def test_network_cannot_use_another_organizations_ca(world):
    with pytest.raises(ValidationError) as exc:
        make_network(world.org, ca=ca_of(world.other_org))
    assert "another organization" in errors_of(exc)["ca"][0]


def test_network_range_is_frozen_once_it_has_hosts(world):
    network = make_network(world.org)
    assert svc.update_network(network, cidr="10.50.0.0/16").cidr == "10.50.0.0/16"
    make_host(network)
    with pytest.raises(ValidationError) as exc:
        svc.update_network(network, cidr="10.60.0.0/16")
    assert "hosts" in errors_of(exc)["cidr"][0]
    with pytest.raises(ValidationError):
        svc.update_network(network, ca=ca_of(world.other_org))


def test_network_with_hosts_cannot_be_deleted(world):
    network = make_network(world.org)
    make_host(network)
    with pytest.raises(ValidationError):
        svc.delete_network(network)
    with pytest.raises(RestrictedError):
        network.delete()


def test_deleting_an_organization_removes_its_nebula_rows(world):
    network = make_network(world.org)
    make_host(network)
    svc.deactivate_host(make_host(network))
    make_host(network)  # an active host: its pre_delete revocation goes with the network
    world.org.delete()
    assert not Network.objects.filter(pk=network.pk).exists()
    assert not CertificateAuthority.objects.filter(organization_id=world.org.pk).exists()
    assert not Host.objects.filter(network_id=network.pk).exists()
    # The deleted hosts' revocations went with their network (no rows left pointing at it).
    assert not RevokedCertificate.objects.filter(network_id=network.pk).exists()


# --- Hosts --------------------------------------------------------------------------------------------------------


def test_addresses_are_allocated_in_order_and_reused(world):
    network = make_network(world.org, cidr="10.9.0.0/29")  # hosts .1 - .6
    hosts = [make_host(network) for _ in range(3)]
    assert [h.overlay_ip for h in hosts] == ["10.9.0.1", "10.9.0.2", "10.9.0.3"]
    make_host(network, overlay_ip="10.9.0.5")
    hosts[1].delete()
    assert make_host(network).overlay_ip == "10.9.0.2"
    assert make_host(network).overlay_ip == "10.9.0.4"
    assert make_host(network).overlay_ip == "10.9.0.6"
    with pytest.raises(ValidationError) as exc:
        make_host(network)
    assert "no free address" in errors_of(exc)["overlay_ip"][0]


@pytest.mark.parametrize(
    ("ip", "message"),
    [
        ("10.42.1.5", "outside the network"),
        ("10.42.0.0", "network address"),
        ("10.42.0.255", "broadcast address"),
        ("fd00::1", "IPv4"),
    ],
)
def test_overlay_ip_must_be_a_host_address_of_the_network(world, ip, message):
    with pytest.raises(ValidationError) as exc:
        make_host(make_network(world.org), overlay_ip=ip)
    assert message in " ".join(errors_of(exc)["overlay_ip"])


def test_overlay_ip_and_hostname_are_unique_per_network(world):
    network = make_network(world.org)
    make_host(network, "web-01", overlay_ip="10.42.0.10")
    with pytest.raises(ValidationError) as exc:
        make_host(network, "web-02", overlay_ip="10.42.0.10")
    assert errors_of(exc)["overlay_ip"] == ["10.42.0.10 is already used in this network."]
    with pytest.raises(ValidationError) as exc:
        make_host(network, "web-01")
    assert errors_of(exc)["hostname"] == ["This network already has a host with this name."]
    other = make_network(world.org, cidr="10.43.0.0/24")
    make_host(other, "web-01")


def test_lighthouses_and_relays_need_a_public_address(world):
    network = make_network(world.org)
    for flag in ("is_lighthouse", "is_relay"):
        with pytest.raises(ValidationError) as exc:
            make_host(network, **{flag: True})
        assert "public host:port" in errors_of(exc)["public_host_port"][0]
    make_lighthouse(network, "lh-v4")
    make_host(network, "lh-v6", is_relay=True, public_host_port="[2001:db8::1]:4242")
    make_host(network, "lh-dns", is_lighthouse=True, public_host_port="lh.example.com:4242")


@pytest.mark.parametrize("value", ["203.0.113.10", "203.0.113.10:0", "203.0.113.10:70000", "2001:db8::1:4242"])
def test_public_host_port_is_validated(world, value):
    with pytest.raises(ValidationError) as exc:
        make_host(make_network(world.org), is_lighthouse=True, public_host_port=value)
    assert "public_host_port" in errors_of(exc)


@pytest.mark.parametrize(
    "rules",
    [
        [{"port": "any", "proto": "tcp"}],  # no host/group selector
        [{"port": "any", "proto": "gre", "host": "any"}],
        [{"port": "70000", "proto": "tcp", "host": "any"}],
        [{"port": 22, "proto": "tcp", "host": "any", "nope": 1}],
        {"port": 22},
    ],
)
def test_firewall_rules_follow_nebulas_shape(world, rules):
    with pytest.raises(ValidationError) as exc:
        make_host(make_network(world.org), firewall_inbound=rules)
    assert "firewall_inbound" in errors_of(exc)


def test_good_firewall_rules_are_kept(world):
    rules = [{"port": "22", "proto": "tcp", "groups": ["admin"]}, {"port": "8000-8080", "proto": "any", "host": "any"}]
    host = make_host(make_network(world.org), firewall_inbound=rules)
    assert reload(host).firewall_inbound == rules


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("unsafe_networks", ["192.168.1.0/24", "192.168.1.128/25"], "overlap"),
        ("unsafe_networks", ["10.42.0.0/16"], "overlaps the overlay network"),
        ("unsafe_networks", ["192.168.1.1/24"], "not canonical"),
        ("unsafe_networks", [f"192.168.{i}.0/24" for i in range(17)], "At most 16"),
        ("unsafe_routes", [{"route": "192.168.5.0/24", "via": "10.99.0.1"}], "outside the overlay"),
        ("unsafe_routes", [{"route": "192.168.5.0/24"}], "route and via are required"),
        ("groups", ["ok", ""], "not a valid group name"),
        ("groups", ["web", "web"], "only once"),
        ("groups", "web", "list"),
        ("hostname", "-bad-", "letters, digits"),
        ("mtu", 100, "greater than or equal to 576"),
        ("tun_device", "a-very-long-device-name", "1-15"),
        ("key_path", "/etc/nebula/\nkey", "file path"),
    ],
)
def test_host_fields_are_validated(world, field, value, message):
    fields = {field: value} if field != "hostname" else {}
    with pytest.raises(ValidationError) as exc:
        make_host(make_network(world.org), value if field == "hostname" else None, **fields)
    assert message in " ".join(errors_of(exc)[field])


def test_host_cannot_join_another_organizations_network(world):
    foreign = make_network(world.other_org)
    with pytest.raises(ValidationError) as exc:
        svc.create_host(network=foreign, hostname="x", organization=world.org)
    assert "another organization" in errors_of(exc)["network"][0]
    host = Host(organization=world.org, network=foreign, hostname="x", public_key="00" * 32)
    with pytest.raises(ValidationError):
        host.full_clean()


@pytest.mark.django_db(transaction=True)
def test_concurrent_creations_get_distinct_addresses(world):
    """Allocation runs under the network's row lock: parallel requests never pick the same address."""
    import threading

    from django.db import connection

    network = make_network(world.org, cidr="10.70.0.0/24")
    errors: list[Exception] = []

    def create(worker: int) -> None:
        try:
            for round_ in range(3):
                make_host(network, f"w{worker}-{round_}")
        except Exception as exc:  # reported below with the others
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ips = list(Host.objects.filter(network=network).values_list("overlay_ip", flat=True))
    assert len(ips) == 18 and len(set(ips)) == 18
