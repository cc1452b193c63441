"""The migration that makes overlay IPs unique per CA, run on rows written before it (overlapping networks)."""

import pytest
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from credentials.models import Host, Network
from tests.credentials.nebula_support import ca_of, make_host, make_network

pytestmark = pytest.mark.django_db(transaction=True)

MIGRATION = ("credentials", "0006_host_ca_and_rekey")


@pytest.fixture
def before_migration(world):
    """The database as it was before the migration; the tables are migrated forward again afterwards."""
    executor = MigrationExecutor(connection)
    previous = executor.loader.get_migration(*MIGRATION).dependencies
    executor.migrate(previous)
    try:
        yield executor.loader.project_state(previous).apps
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def migrate_forward() -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([MIGRATION])


def old_host(apps, network, hostname: str, overlay_ip: str):
    return apps.get_model("credentials", "Host").objects.create(
        organization_id=network.organization_id,
        network_id=network.pk,
        hostname=hostname,
        overlay_ip=overlay_ip,
        public_key="00" * 32,
    )


@pytest.fixture
def legacy(world):
    """An overlapping pair of networks of one CA, as they were accepted before, with a host each."""
    wide = make_network(world.org, "wide", "10.77.0.0/24")
    make_host(wide, "in-wide", overlay_ip="10.77.0.130")
    make_host(make_network(world.other_org, "elsewhere", "10.77.0.0/24"), overlay_ip="10.77.0.130")
    return wide


def test_hosts_get_their_networks_ca_and_overlapping_networks_are_kept(world, legacy, before_migration):
    narrow = before_migration.get_model("credentials", "Network").objects.create(
        organization_id=world.org.pk, ca_id=legacy.ca_id, name="narrow", cidr="10.77.0.128/25"
    )
    old_host(before_migration, narrow, "in-narrow", "10.77.0.131")
    migrate_forward()
    assert {(h.hostname, h.ca_id) for h in Host.objects.filter(organization=world.org)} == {
        ("in-wide", ca_of(world.org).pk),
        ("in-narrow", ca_of(world.org).pk),
    }
    assert Host.objects.get(network__name="elsewhere").ca == ca_of(world.other_org)
    assert set(Network.objects.filter(organization=world.org).values_list("name", flat=True)) == {"wide", "narrow"}


def test_hosts_sharing_an_address_under_one_ca_stop_the_migration_with_a_list(world, legacy, before_migration):
    narrow = before_migration.get_model("credentials", "Network").objects.create(
        organization_id=world.org.pk, ca_id=legacy.ca_id, name="narrow", cidr="10.77.0.128/25"
    )
    duplicate = old_host(before_migration, narrow, "in-narrow", "10.77.0.130")
    with pytest.raises(CommandError) as exc:
        migrate_forward()
    message = str(exc.value)
    assert f"organization {world.org.slug}, 10.77.0.130:" in message
    assert "“in-wide”" in message and f"“in-narrow” (id {duplicate.pk}, network “narrow”)" in message
    assert "elsewhere" not in message and "run migrate again" in message

    duplicate.delete()
    migrate_forward()
    assert Host.objects.get(hostname="in-wide").ca == ca_of(world.org)
