"""Nebula addressing rules hold when requests race: no two networks of a CA overlap and no two hosts of a CA
share an overlay IP. PostgreSQL only: SQLite takes its write lock at BEGIN, so its requests never overlap."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from credentials.models import Host, Network
from credentials.services import nebula as svc
from tests.credentials.nebula_support import ca_of, make_host, make_network
from tests.support.concurrency import race as support_race

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite serializes writers: nothing races"),
]


def race(*actions) -> list[str]:
    return support_race(*actions, expected=(ValidationError,))


def test_overlapping_networks_created_at_once_leave_one(world):
    ca = ca_of(world.org)
    results = race(
        lambda: svc.create_network(organization=world.org, ca=ca, name="mesh-a", cidr="10.77.0.0/24"),
        lambda: svc.create_network(organization=world.org, ca=ca, name="mesh-b", cidr="10.77.0.128/25"),
    )
    assert results == ["ValidationError", "ok"]
    assert Network.objects.filter(ca=ca).count() == 1


def test_ranges_changed_at_once_do_not_overlap(world):
    first = make_network(world.org, "first", "10.1.0.0/24")
    second = make_network(world.org, "second", "10.2.0.0/24")
    results = race(
        lambda: svc.update_network(first, cidr="10.77.0.0/24"),
        lambda: svc.update_network(second, cidr="10.77.0.0/25"),
    )
    assert results == ["ValidationError", "ok"]
    assert sorted(Network.objects.values_list("cidr", flat=True)) in (
        ["10.2.0.0/24", "10.77.0.0/24"],
        ["10.1.0.0/24", "10.77.0.0/25"],
    )


def test_hosts_allocated_at_once_in_overlapping_networks_never_share_an_address(world):
    """Networks that overlapped before overlaps were refused: each allocation locks only its own network, and
    the database refuses the second host on an address of the CA."""
    wide = make_network(world.org, "wide", "10.77.0.0/29")  # hosts .1 - .6
    narrow = Network.objects.create(organization=world.org, ca=ca_of(world.org), name="narrow", cidr="10.77.0.4/30")
    for ip in ("10.77.0.1", "10.77.0.2", "10.77.0.3", "10.77.0.4"):
        make_host(wide, overlay_ip=ip)
    for _ in range(5):
        results = race(lambda: make_host(wide), lambda: make_host(narrow))
        assert results in (["ok", "ok"], ["ValidationError", "ok"])
        ips = list(Host.objects.filter(ca=ca_of(world.org)).values_list("overlay_ip", flat=True))
        assert len(ips) == len(set(ips))
        Host.objects.filter(overlay_ip__in=["10.77.0.5", "10.77.0.6"]).delete()


def test_hosts_given_the_same_address_at_once_get_one_and_a_400(world):
    network = make_network(world.org, cidr="10.70.0.0/24")
    results = race(
        lambda: make_host(network, "one", overlay_ip="10.70.0.9"),
        lambda: make_host(network, "two", overlay_ip="10.70.0.9"),
    )
    assert results == ["ValidationError", "ok"]
    assert Host.objects.filter(overlay_ip="10.70.0.9").count() == 1
