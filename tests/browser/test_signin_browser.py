"""Members sign in to the admin without a staff flag and see what their role allows."""

import pytest

from audit.models import AuditEvent
from tenancy.models import Membership
from tests.browser.conftest import login
from tests.support.world import build_world, make_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_viewer_signs_in_without_a_staff_flag_and_sees_no_add_or_change_buttons(page, live_server):
    world = build_world()
    viewer = world.user("viewer")
    assert not viewer.is_staff
    login(page, live_server, viewer.username)
    assert "Stone Age control plane" in page.inner_text("#site-name")
    assert page.title().endswith("| Stone Age")
    # Django's colour theme toggle (a light-preferring browser goes auto → dark) turns the page dark.
    page.click("#user-tools .theme-toggle")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert sum(int(part) for part in background[4:-1].split(",")[:3]) < 200, background

    page.goto(f"{live_server.url}/admin/tenancy/membership/")
    rows = page.inner_text("#result_list")
    assert "olivia" in rows and "charlie" not in rows
    assert page.locator(".object-tools a.addlink").count() == 0
    owner = Membership.objects.get(user=world.user("owner"), organization=world.org)
    page.goto(f"{live_server.url}/admin/tenancy/membership/{owner.pk}/change/")
    assert page.locator("input[name=_save]").count() == 0
    assert page.locator("select#id_role").count() == 0  # shown, not editable
    assert "Owner" in page.inner_text("#content-main")


def test_an_auditor_reads_the_audit_log_of_their_organization(page, live_server):
    world = build_world()
    login(page, live_server, world.user("auditor").username)
    page.goto(f"{live_server.url}/admin/audit/auditevent/")
    rows = page.inner_text("#result_list")
    assert "acme" in rows and "globex" not in rows
    event = AuditEvent.objects.filter(organization=world.org).latest("id")
    page.goto(f"{live_server.url}/admin/audit/auditevent/{event.pk}/change/")
    assert event.action in page.inner_text("#content-main").lower()
    assert page.locator("input[name=_save]").count() == 0


def test_a_person_without_an_organization_sees_why_and_signs_out(page, live_server):
    make_user("nina")
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "nina")
    page.fill("#id_password", "correct horse battery staple")
    page.click("input[type=submit]")
    page.wait_for_selector(".no-organization")
    assert "not a member of any active organization" in page.inner_text("#content-main")
    page.click(".no-organization input[type=submit]")
    page.wait_for_selector("text=Log in again")
    page.goto(f"{live_server.url}/admin/")
    assert page.locator("#id_username").count() == 1  # signed out: the sign-in form
