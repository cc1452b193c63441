"""Security regressions of the org-scoping base in the admin."""

import pytest
from django.urls import reverse

from tenancy.models import Membership, Organization
from tenancy.roles import Role

pytestmark = pytest.mark.django_db

ORG_FILTERED_CHANGELISTS = [
    "admin:tenancy_membership_changelist",
    "admin:credentials_natsrole_changelist",
    "admin:credentials_natsuser_changelist",
    "admin:credentials_accountexport_changelist",
    "admin:credentials_accountimport_changelist",
    "admin:credentials_network_changelist",
    "admin:credentials_host_changelist",
]


@pytest.fixture
def nats_world(world):
    from credentials.services import nats as svc

    svc.bootstrap()
    for org in Organization.objects.all():
        org.save()  # provisions the NATS account the bootstrap came too late for
    return world


@pytest.mark.parametrize("changelist", ORG_FILTERED_CHANGELISTS)
def test_admin_organization_filter_names_only_the_users_organizations(nats_world, client, changelist):
    Organization.objects.create(name="Initech Secret Project", slug="initech")
    client.force_login(nats_world.user("owner"))
    Membership.objects.create(user=nats_world.user("owner"), organization=nats_world.other_org, role=Role.VIEWER)
    page = client.get(reverse(changelist))
    assert page.status_code == 200
    assert b"Initech Secret Project" not in page.content


def test_superusers_still_filter_by_every_organization(nats_world, client):
    Organization.objects.create(name="Initech Secret Project", slug="initech")
    client.force_login(nats_world.superuser)
    page = client.get(reverse("admin:tenancy_membership_changelist"))
    assert b"Initech Secret Project" in page.content
