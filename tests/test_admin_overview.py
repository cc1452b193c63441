"""The organization overview in the admin, the organization switcher in its header and the index's list."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from credentials.models import Account, AccountTombstone, NatsUser
from credentials.services import nats as nats_svc
from stoneage import admin_overview
from tenancy import services as tenancy_services
from tenancy.models import Invitation, Membership
from tenancy.roles import Role
from tests.credentials.nats_support import make_nats_user
from tests.credentials.nebula_support import ca_of, make_host, replace_ca_certificate
from tests.inventory.admin_support import make_thing, make_type
from tests.support.world import build_world, make_org, make_user

pytestmark = pytest.mark.django_db

ROLES = [role.value for role in Role]


@pytest.fixture
def world(db):
    nats_svc.bootstrap()
    return build_world()


def overview_url(org) -> str:
    return reverse("admin_org_overview", args=[org.slug])


def get_overview(client, user, org):
    client.force_login(user)
    return client.get(overview_url(org))


# --- Who sees the page ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_member_sees_the_overview(world, client, role):
    response = get_overview(client, world.user(role), world.org)
    assert response.status_code == 200
    assert response.context["overview_organization"] == world.org
    assert response.context["role"] == Role(role).label
    assert "Acme Corp" in response.text


def test_superusers_see_every_organization(world, client):
    response = get_overview(client, world.superuser, world.other_org)
    assert response.status_code == 200
    assert response.context["role"] == "Platform operator"


def test_outsiders_get_404(world, client):
    assert get_overview(client, world.outsider, world.org).status_code == 404
    assert get_overview(client, world.outsider, type(world.org)(slug="nowhere")).status_code == 404


def test_a_suspended_organization_is_hidden_from_its_members(world, client):
    owner = world.user("owner")
    Membership.objects.create(user=owner, organization=world.other_org, role="viewer")  # still signs in
    world.org.active = False
    world.org.save()
    assert get_overview(client, owner, world.org).status_code == 404
    assert get_overview(client, world.superuser, world.org).status_code == 200


def test_anonymous_visitors_are_sent_to_the_login_page(world, client):
    response = client.get(overview_url(world.org))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


# --- What it shows ---------------------------------------------------------------------------------------------------


def counts(response) -> dict[str, int]:
    return {section.label: section.count for section in response.context["sections"]}


def test_counts_are_the_organizations_own(world, client):
    Invitation.objects.create(
        organization=world.org, email="new@example.com", token_hash="a" * 64, expires_at=timezone.now() + timedelta(1)
    )
    Invitation.objects.create(
        organization=world.org, email="old@example.com", token_hash="b" * 64, expires_at=timezone.now() - timedelta(1)
    )
    service_users = NatsUser.objects.filter(organization=world.org).count()  # the platform's own, if any
    make_nats_user(world.org)
    make_nats_user(world.other_org)
    make_host(world.org)
    make_host(world.org)
    make_host(world.other_org)
    make_thing(world.org, make_type(world.org), "pump-1")
    make_thing(world.other_org, make_type(world.other_org), "pump-1")
    response = get_overview(client, world.user("viewer"), world.org)
    assert counts(response) == {
        "Members": 5,
        "Pending invitations": 1,
        "NATS users": service_users + 1,
        "Nebula hosts": 2,
        "Things": 1,
    }
    things = response.context["sections"][-1]
    assert client.get(things.url).context["cl"].result_count == 1  # the organization's things in the admin


def test_the_inventory_count_appears_once_its_model_exists(world, client, monkeypatch):
    # Stand-in for the inventory's device model: any model with an organization and an organization filter.
    monkeypatch.setattr(admin_overview, "THING_MODEL", ("tenancy", "Invitation"))
    add_invitation(world.org, 1)
    response = get_overview(client, world.user("owner"), world.org)
    section = response.context["sections"][-1]
    assert (section.label, section.count) == ("Invitations", 1)
    assert client.get(section.url).status_code == 200


def test_only_changelists_with_an_organization_filter_get_one():
    assert admin_overview._filters_by_organization(Membership)
    assert admin_overview._filters_by_organization(AuditEvent)
    assert not admin_overview._filters_by_organization(Account)


def test_section_links_are_filtered_to_the_organization_and_accepted_by_the_changelists(world, client):
    response = get_overview(client, world.user("owner"), world.org)
    urls = [section.url for section in response.context["sections"]] + [url for _, url in response.context["links"]]
    urls.append(response.context["events_url"])
    urls.append(response.context["expiring_hosts_url"])
    assert all(urls)
    for url in urls:
        assert client.get(url).status_code == 200, url
    assert f"organization__id__exact={world.org.pk}" in response.context["sections"][0].url


def test_links_only_to_sections_the_role_may_read(world, client):
    response = get_overview(client, world.user("viewer"), world.org)
    links = {section.label: section.url for section in response.context["sections"]}
    assert links["Members"] and not links["Pending invitations"] and not links["Nebula hosts"]
    assert not links["NATS users"]
    for url in filter(None, links.values()):
        assert client.get(url).status_code == 200


def test_the_push_backlog_and_the_last_error_are_shown(world, client):
    Account.objects.filter(organization=world.org).update(
        revision=7, pushed_revision=5, push_error="nats: no servers available"
    )
    response = get_overview(client, world.user("member"), world.org)
    assert "revision 5 on the servers, 7 signed" in response.text
    assert "nats: no servers available" in response.text
    Account.objects.filter(organization=world.org).update(pushed_revision=7, push_error="")
    response = get_overview(client, world.user("member"), world.org)
    assert "in sync (revision 7)" in response.text
    assert "waiting to be pushed" not in response.text


def test_pending_account_deletions_are_counted_for_platform_operators(world, client):
    AccountTombstone.objects.create(public_key="A" * 56, name="gone")
    AccountTombstone.objects.create(public_key="B" * 56, name="done", done_at=timezone.now())
    response = get_overview(client, world.superuser, world.org)
    assert response.context["tombstones"] == 1
    assert "gone" in client.get(response.context["tombstones_url"]).text
    assert get_overview(client, world.user("owner"), world.org).context["tombstones"] is None


def test_expiring_cas_and_host_certificates_are_listed(world, client):
    now = timezone.now()
    replace_ca_certificate(ca_of(world.org), now - timedelta(days=1), now + timedelta(days=60))
    soon = make_host(world.org, "soon", validity_days=10)
    make_host(world.org, "later", validity_days=365)
    make_host(world.other_org, "foreign", validity_days=5)
    response = get_overview(client, world.user("auditor"), world.org)
    assert [ca.ca_id for ca, _ in response.context["expiring_cas"]] == [ca_of(world.org).pk]
    assert [item.host for item in response.context["expiring_hosts"]] == [soon]
    assert response.context["expiring_hosts_total"] == 1
    section = response.text.split('id="overview-expiring"')[1].split('id="overview-audit"')[0]
    assert "soon" in section and "later" not in section and "foreign" not in section


def test_members_who_cannot_read_hosts_see_only_how_many_expire(world, client):
    make_host(world.org, "soon", validity_days=10)
    response = get_overview(client, world.user("viewer"), world.org)
    assert response.context["expiring_hosts_total"] == 1
    assert response.context["expiring_hosts"] == []
    assert "soon" not in response.text.split('id="overview-expiring"')[1]


@pytest.mark.parametrize("role", ROLES)
def test_the_audit_section_is_for_those_who_read_the_log(world, client, role):
    response = get_overview(client, world.user(role), world.org)
    may_read = role in ("owner", "admin", "auditor")
    assert response.context["may_read_audit"] is may_read
    assert ('id="overview-audit"' in response.text) is may_read
    if may_read:
        events = [event for event, _ in response.context["events"]]
        expected = list(AuditEvent.objects.filter(organization=world.org).order_by("-timestamp", "-id")[:10])
        assert events == expected and events
        assert all(url and client.get(url).status_code == 200 for _, url in response.context["events"])


# --- Queries ---------------------------------------------------------------------------------------------------------


def populate(org, owner, rows: int) -> None:
    for i in range(rows):
        member = make_user(f"{org.slug}-m{i}")
        Membership.objects.create(user=member, organization=org, role=Role.MEMBER)
        make_host(org, f"h{i}", validity_days=10)
        make_nats_user(org)
        # A second organization per member, for the switcher.
        make_org(f"{org.slug}-side{i}", owner)


def overview_queries(client, user, org) -> int:
    client.force_login(user)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(overview_url(org)).status_code == 200
    return len(captured)


def test_the_overview_reads_a_constant_number_of_queries(world, client):
    small, large = make_org("small", world.user("owner")), make_org("large", world.user("admin"))
    Membership.objects.create(user=world.user("admin"), organization=small, role=Role.OWNER)
    Membership.objects.create(user=world.user("owner"), organization=large, role=Role.OWNER)
    populate(small, world.user("auditor"), 1)
    populate(large, world.user("auditor"), 20)
    Membership.objects.create(user=world.user("auditor"), organization=small, role=Role.AUDITOR)
    Membership.objects.create(user=world.user("auditor"), organization=large, role=Role.AUDITOR)
    one = overview_queries(client, world.user("auditor"), small)
    twenty = overview_queries(client, world.user("auditor"), large)
    assert one == twenty, (one, twenty)
    assert twenty <= 20


# --- Switcher and index --------------------------------------------------------------------------------------


def test_the_switcher_lists_exactly_the_users_active_organizations(world, client):
    owner = world.user("owner")
    third = make_org("initech", owner, "Initech")
    dormant = make_org("dormant", owner, "Dormant Inc")
    dormant.active = False
    dormant.save()
    response = get_overview(client, owner, world.org)
    switcher = response.text.split('id="org-switcher"')[1].split("</details>")[0]
    assert re.findall(r'href="([^"]+)"', switcher) == [overview_url(world.org), overview_url(third)]
    assert re.findall(r'<li class="current"[^>]*>\s*<a href="([^"]+)"', switcher) == [overview_url(world.org)]


def test_the_switcher_is_empty_for_someone_in_no_organization(world, client):
    client.force_login(world.superuser)
    assert 'id="org-switcher"' not in client.get(reverse("admin:index")).text


def test_the_index_lists_the_users_organizations_with_their_role(world, client):
    make_org("initech", world.user("auditor"), "Initech")
    client.force_login(world.user("auditor"))
    page = client.get(reverse("admin:index")).text
    listing = page.split('id="my-organizations"')[1].split("</table>")[0]
    assert overview_url(world.org) in listing and "Auditor" in listing
    assert "Initech" in listing and "Owner" in listing
    assert "Globex" not in listing


# --- List pages ------------------------------------------------------------------------------------------------------


def add_member(org, i):
    Membership.objects.create(user=make_user(f"{org.slug}-p{i}"), organization=org, role=Role.MEMBER)


def add_invitation(org, i):
    Invitation.objects.create(
        organization=org, email=f"i{i}@example.com", token_hash=f"{i:064d}", expires_at=timezone.now() + timedelta(1)
    )


def add_token(org, i):
    member = make_user(f"{org.slug}-t{i}")
    Membership.objects.create(user=member, organization=org, role=Role.MEMBER)
    tenancy_services.create_api_token(user=member, organization=org, name=f"t{i}")


def add_organization(org, i):
    make_org(f"{org.slug}-o{i}", make_user(f"{org.slug}-o{i}"))


LIST_PAGES = [
    ("tenancy_organization", add_organization, ["Members", "Overview", "Active"]),
    ("tenancy_membership", add_member, ["Role", "Status", "Last login"]),
    ("tenancy_invitation", add_invitation, ["Role", "Status", "Expires at"]),
    ("tenancy_apitoken", add_token, ["Status", "Last used at"]),
    ("auth_user", lambda org, i: make_user(f"u{i}"), ["Active", "Last login"]),
    ("credentials_natsuser", lambda org, i: make_nats_user(org), ["Active", "Role", "JWT issued at"]),
    ("credentials_host", lambda org, i: make_host(org, f"h{i}"), ["Active", "Not after"]),
    ("credentials_certificateauthority", add_organization, ["Active", "Not after"]),
    ("credentials_account", add_organization, ["Active", "Push state", "Pushed at"]),
]


def list_queries(client, name: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse(f"admin:{name}_changelist"))
    assert response.status_code == 200
    return len(captured), response.text


@pytest.mark.parametrize(("name", "add", "headers"), LIST_PAGES, ids=[page[0] for page in LIST_PAGES])
def test_list_pages_show_status_and_activity_in_constant_queries(world, client, name, add, headers):
    client.force_login(world.superuser)
    add(world.org, 0)
    one, page = list_queries(client, name)
    for header in headers:
        assert f">{header}<" in page, header
    for i in range(1, 20):
        add(world.org, i)
    twenty, _ = list_queries(client, name)
    assert one == twenty, (one, twenty)
