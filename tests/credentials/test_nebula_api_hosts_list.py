"""The Nebula hosts list at scale: keyset pages, queries that do not grow with rows, no private key read."""

import pytest
from django.db import connection
from rest_framework.test import APIClient

from credentials.models import Host
from tests.credentials.nebula_support import make_host, make_network, url
from tests.support.lists import page_queries, queries_of, token_client, walk, walk_back

pytestmark = pytest.mark.django_db


@pytest.fixture
def auditor(world) -> APIClient:
    client = APIClient()
    client.force_authenticate(world.user("auditor"))
    return client


def hostnames(org, *ordering) -> list[str]:
    return list(Host.objects.filter(organization=org).order_by(*ordering).values_list("hostname", flat=True))


def make_hosts(network, count: int, start: int = 0) -> list[Host]:
    return [make_host(network, f"node-{i:03d}", groups=["fleet", f"rack-{i % 3}"]) for i in range(start, start + count)]


def test_a_page_costs_the_same_queries_over_5_and_50_hosts(world, auditor):
    first, second = make_network(world.org, cidr="10.42.0.0/24"), make_network(world.org, cidr="10.43.0.0/24")
    make_hosts(first, 5)
    small = queries_of(lambda: auditor.get(url("host-list", world), {"limit": 100}))
    make_hosts(first, 20, start=5)
    make_hosts(second, 25, start=25)
    assert Host.objects.filter(organization=world.org).count() == 50
    large = queries_of(lambda: auditor.get(url("host-list", world), {"limit": 100}))
    assert len(large) == len(small), "\n".join(large)


def test_a_page_is_two_queries_with_a_token_or_signed_in(world, auditor):
    make_hosts(make_network(world.org), 6)
    # The token with its user, organization and role there; the page.
    with_token = page_queries(token_client(world.user("auditor"), world.org), url("host-list", world))
    assert len(with_token) == 2, "\n".join(with_token)
    # The organization with the role there; the page.
    signed_in = page_queries(auditor, url("host-list", world))
    assert len(signed_in) == 2, "\n".join(signed_in)


def test_the_list_reads_no_private_key(world, auditor):
    make_hosts(make_network(world.org), 2)
    sql = "\n".join(queries_of(lambda: auditor.get(url("host-list", world))))
    assert '"credentials_host"."private_key"' not in sql
    assert '"credentials_host"."hostname"' in sql


def test_pages_follow_cursors_forward_and_back(world, auditor):
    make_hosts(make_network(world.org), 11)
    everything = hostnames(world.org, "hostname")
    names, pages = walk(auditor, url("host-list", world), {"limit": 4}, key="hostname")
    assert names == everything and [len(page["results"]) for page in pages] == [4, 4, 3]
    assert walk_back(auditor, pages[-1], key="hostname") == everything[:8]


@pytest.mark.parametrize("ordering", ["-hostname", "overlay_ip", "-not_after", "created"])
def test_every_ordering_pages_through_every_host_once(world, auditor, ordering):
    make_hosts(make_network(world.org), 7)
    names, _ = walk(auditor, url("host-list", world), {"limit": 3, "ordering": ordering}, key="hostname")
    tiebreak = ("-" if ordering.startswith("-") else "") + "id"
    assert names == hostnames(world.org, ordering, tiebreak)


def test_filters_hold_on_every_page(world, auditor):
    network, other = make_network(world.org, cidr="10.42.0.0/24"), make_network(world.org, cidr="10.43.0.0/24")
    make_hosts(network, 9)
    make_hosts(other, 3, start=9)
    listing = url("host-list", world)
    expected = [f"node-{i:03d}" for i in range(9) if i % 3 == 1]
    assert walk(auditor, listing, {"limit": 2, "group": "rack-1", "network": network.pk}, key="hostname")[0] == expected
    assert walk(auditor, listing, {"limit": 2, "network": other.pk}, key="hostname")[0] == [
        "node-009",
        "node-010",
        "node-011",
    ]
    assert walk(auditor, listing, {"limit": 2, "search": "node-01"}, key="hostname")[0] == ["node-010", "node-011"]
    assert walk(auditor, listing, {"group": "no-such-group"}, key="hostname")[0] == []


@pytest.mark.skipif(not connection.features.supports_json_field_contains, reason="JSON containment only")
def test_the_group_filter_asks_the_database(world, auditor):
    make_hosts(make_network(world.org), 3)
    sql = queries_of(lambda: auditor.get(url("host-list", world), {"group": "rack-1"}))
    # One query, the page's: not every host's groups read into Python first.
    hosts = [query for query in sql if 'FROM "credentials_host"' in query]
    assert len(hosts) == 1 and "@>" in hosts[0]


def test_another_organizations_hosts_never_appear(world, auditor):
    make_hosts(make_network(world.org), 3)
    foreign = make_host(make_network(world.other_org), "globex-node")
    names, _ = walk(auditor, url("host-list", world), {"limit": 1}, key="hostname")
    assert foreign.hostname not in names and len(names) == 3
    assert walk(auditor, url("host-list", world), {"network": foreign.network_id}, key="hostname")[0] == []
    outsider = APIClient()
    outsider.force_authenticate(world.outsider)
    assert outsider.get(url("host-list", world)).status_code == 404


def test_the_list_has_an_index_in_its_order():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Host._meta.db_table)
    assert any(c["index"] and c["columns"][:2] == ["organization_id", "hostname"] for c in constraints.values())
