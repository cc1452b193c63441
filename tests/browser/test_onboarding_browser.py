"""An owner invites a new person from the admin; the person opens the emailed link, creates an account and
lands in the organization's admin."""

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from tenancy.models import Invitation, Membership
from tenancy.views import admin_home_for
from tests.browser.conftest import login
from tests.support.world import build_world

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def test_an_invited_person_signs_up_from_the_email_and_lands_in_the_admin(browser, page, live_server, mailoutbox):
    world = build_world()
    login(page, live_server, world.user("owner").username)
    page.goto(f"{live_server.url}/admin/tenancy/organization/{world.org.pk}/change/")
    page.click("#invite-member")
    assert page.input_value("#id_organization") == str(world.org.pk)
    page.fill("#id_email", "nora@example.com")
    page.select_option("#id_role", "member")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    assert "pending" in page.inner_text("#result_list")

    assert [m.to for m in mail.outbox] == [["nora@example.com"]]
    emailed = re.search(r"https?://\S+", mail.outbox[0].body).group(0)
    parts = urlsplit(emailed)
    invitation_link = f"{live_server.url}{parts.path}?{parts.query}"

    newcomer = browser.new_context().new_page()  # another browser: nobody is signed in there
    newcomer.set_default_timeout(15000)
    newcomer.goto(invitation_link)
    assert newcomer.input_value("#id_email") == "nora@example.com"
    newcomer.fill("#id_username", "nora")
    newcomer.fill("#id_first_name", "Nora")
    newcomer.fill("#id_password1", "tiny")
    newcomer.fill("#id_password2", "tiny")
    newcomer.click("#sign-up input[type=submit]")
    assert "too short" in newcomer.inner_text(".errorlist")
    ARTIFACTS.mkdir(exist_ok=True)
    newcomer.screenshot(path=str(ARTIFACTS / "invitation-sign-up.png"), full_page=True)

    newcomer.fill("#id_password1", "granite lantern orbit 42")
    newcomer.fill("#id_password2", "granite lantern orbit 42")
    newcomer.click("#sign-up input[type=submit]")
    landing = admin_home_for(world.org)
    newcomer.wait_for_url(f"{live_server.url}{landing}")
    body = newcomer.inner_text("body")
    assert world.org.name in body and world.other_org.name not in body  # in the admin, inside that organization only

    nora = get_user_model().objects.get(username="nora")
    assert nora.email == "nora@example.com" and nora.check_password("granite lantern orbit 42")
    assert Membership.objects.get(user=nora, organization=world.org).role == "member"
    assert Invitation.objects.get(email="nora@example.com").status == "accepted"
    newcomer.context.close()
