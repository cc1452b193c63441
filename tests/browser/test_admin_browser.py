import pytest

from tenancy.models import Membership, Organization
from tests.browser.conftest import login
from tests.support.world import build_world, make_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_operator_creates_an_organization_in_the_admin(page, live_server):
    world = build_world()
    owner = make_user("newowner")
    login(page, live_server, world.superuser.username)
    assert "Stone Age control plane" in page.inner_text("#site-name")

    page.goto(f"{live_server.url}/admin/tenancy/organization/add/")
    page.locator("#id_name").press_sequentially("Initech")
    assert page.input_value("#id_slug") == "initech"  # prepopulated from the name as you type
    page.select_option("#id_owner", str(owner.pk))
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")

    organization = Organization.objects.get(slug="initech")
    assert Membership.objects.get(organization=organization).user == owner


def test_tenant_staff_see_only_their_organization(page, live_server):
    world = build_world()
    login(page, live_server, world.user("admin").username)
    page.goto(f"{live_server.url}/admin/tenancy/organization/")
    rows = page.inner_text("#result_list")
    assert "Acme Corp" in rows
    assert "Globex" not in rows
    # The add button is not offered to tenants.
    assert page.locator(".object-tools a.addlink").count() == 0


def test_invalid_owner_change_shows_a_form_error(page, live_server):
    world = build_world()
    login(page, live_server, world.user("admin").username)
    owner = Membership.objects.get(user=world.user("owner"))
    page.goto(f"{live_server.url}/admin/tenancy/membership/{owner.pk}/change/")
    page.select_option("#id_role", "member")
    page.click("input[name=_save]")
    assert "Only owners" in page.inner_text(".errorlist")
    assert Membership.objects.get(pk=owner.pk).role == "owner"
