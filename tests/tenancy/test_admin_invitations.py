"""Inviting from the admin: the Invite button, the invitations list with its status, Resend and Revoke through
the same domain actions as the API, all within the user's organizations."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from tenancy import services
from tenancy.models import Invitation
from tests.support.world import make_user

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:tenancy_invitation_changelist")


def invite(world, email, organization=None, by=None) -> Invitation:
    organization = organization or world.org
    by = by or (world.user("owner") if organization == world.org else world.outsider)
    invitation, _ = services.invite(organization=organization, email=email, role="member", acting_user=by)
    return invitation


def org_page(world, organization=None) -> str:
    return reverse("admin:tenancy_organization_change", args=[(organization or world.org).pk])


@pytest.mark.parametrize(("role", "shown"), [("owner", True), ("admin", True), ("member", False), ("viewer", False)])
def test_the_organization_page_offers_invite_to_its_managers(world, client, role, shown):
    invite(world, "open@example.com")
    client.force_login(world.user(role))
    page = client.get(org_page(world)).content.decode()
    invite_url = reverse("admin:tenancy_invitation_add") + f"?organization={world.org.pk}"
    assert (f'href="{invite_url}"' in page) is shown
    assert ("open@example.com" in page) is shown  # open invitations are for managers only


def test_the_invite_button_leads_to_a_form_for_that_organization_without_the_owner_role(world, client):
    client.force_login(world.user("admin"))
    form = client.get(reverse("admin:tenancy_invitation_add") + f"?organization={world.org.pk}").context["adminform"]
    fields = form.form.fields
    assert form.form.initial["organization"] == str(world.org.pk)
    assert list(fields["organization"].queryset) == [world.org]
    assert "owner" not in [value for value, _ in fields["role"].choices]


def test_the_memberships_list_offers_invite(world, client):
    client.force_login(world.user("admin"))
    page = client.get(reverse("admin:tenancy_membership_changelist")).content.decode()
    assert f'href="{reverse("admin:tenancy_invitation_add")}" class="addlink" id="invite-member">Invite' in page
    client.force_login(world.user("viewer"))
    assert 'id="invite-member"' not in client.get(reverse("admin:tenancy_membership_changelist")).content.decode()


def test_inviting_from_the_admin_sends_the_email(world, client, mailoutbox, django_capture_on_commit_callbacks):
    client.force_login(world.user("admin"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:tenancy_invitation_add"),
            {"organization": world.org.pk, "email": "fresh@example.com", "role": "viewer"},
        )
    assert response.status_code == 302
    assert Invitation.objects.get().role == "viewer"
    assert mailoutbox[0].to == ["fresh@example.com"]
    assert "create one" in mailoutbox[0].body


def test_an_invitation_to_another_organization_is_refused(world, client):
    client.force_login(world.user("owner"))
    response = client.post(
        reverse("admin:tenancy_invitation_add"),
        {"organization": world.other_org.pk, "email": "spy@example.com", "role": "member"},
    )
    assert response.status_code == 200
    assert "organization" in response.context["adminform"].form.errors
    assert not Invitation.objects.exists()


def test_the_list_shows_each_invitations_status_and_filters_by_it(world, client):
    pending = invite(world, "pending@example.com")
    expired = invite(world, "expired@example.com")
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    revoked = invite(world, "revoked@example.com")
    services.revoke_invitation(invitation=revoked, acting_user=world.user("owner"))
    accepted = invite(world, "mia2@example.com")
    token = services.resend_invitation(invitation=accepted, acting_user=world.user("owner"))
    services.accept_invitation(token=token, user=make_user("mia2"))
    client.force_login(world.user("admin"))
    changelist = client.get(CHANGELIST)
    rows = {inv.email: inv.status for inv in changelist.context["cl"].result_list}
    assert rows == {
        "pending@example.com": "pending",
        "expired@example.com": "expired",
        "revoked@example.com": "revoked",
        "mia2@example.com": "accepted",
    }
    assert '<td class="field-status">pending</td>' in changelist.content.decode()
    for status, email in [("pending", pending.email), ("expired", expired.email), ("revoked", revoked.email)]:
        filtered = client.get(CHANGELIST, {"status": status})
        assert filtered.status_code == 200
        assert [inv.email for inv in filtered.context["cl"].result_list] == [email]


def test_resend_and_revoke_actions_use_the_domain_actions(
    world, client, mailoutbox, django_capture_on_commit_callbacks
):
    invitation = invite(world, "x@example.com")
    old_hash = invitation.token_hash
    client.force_login(world.user("admin"))
    with django_capture_on_commit_callbacks(execute=True):
        client.post(CHANGELIST, {"action": "resend", "_selected_action": [invitation.pk]})
    invitation.refresh_from_db()
    assert invitation.token_hash != old_hash and len(mailoutbox) == 1
    client.post(CHANGELIST, {"action": "revoke", "_selected_action": [invitation.pk]})
    invitation.refresh_from_db()
    assert invitation.status == "revoked"
    response = client.post(CHANGELIST, {"action": "resend", "_selected_action": [invitation.pk]}, follow=True)
    assert "was revoked" in response.content.decode()
    assert len(mailoutbox) == 1


def test_an_accepted_invitation_cannot_be_revoked(world, client):
    invitation = invite(world, "done@example.com")
    token = services.resend_invitation(invitation=invitation, acting_user=world.user("owner"))
    services.accept_invitation(token=token, user=make_user("done"))
    client.force_login(world.user("owner"))
    response = client.post(CHANGELIST, {"action": "revoke", "_selected_action": [invitation.pk]}, follow=True)
    assert "already been accepted" in response.content.decode()
    assert Invitation.objects.get().status == "accepted"


def test_invitations_are_not_deleted_from_the_admin(world, client):
    invitation = invite(world, "keep@example.com")
    client.force_login(world.user("owner"))
    assert client.get(reverse("admin:tenancy_invitation_delete", args=[invitation.pk])).status_code == 403
    actions = [name for name, _ in client.get(CHANGELIST).context["action_form"].fields["action"].choices]
    assert set(actions) == {"", "resend", "revoke"}


def test_actions_on_another_organizations_invitations_change_nothing(
    world, client, mailoutbox, django_capture_on_commit_callbacks
):
    foreign = invite(world, "foreign@example.com", organization=world.other_org)
    old_hash = foreign.token_hash
    client.force_login(world.user("owner"))
    assert foreign.email not in client.get(CHANGELIST).content.decode()
    assert client.get(reverse("admin:tenancy_invitation_change", args=[foreign.pk])).status_code == 302
    with django_capture_on_commit_callbacks(execute=True):
        for action in ("resend", "revoke"):
            client.post(CHANGELIST, {"action": action, "_selected_action": [foreign.pk]})
    foreign.refresh_from_db()
    assert (foreign.status, foreign.token_hash, mailoutbox) == ("pending", old_hash, [])


def test_the_domain_actions_refuse_another_organizations_managers(world):
    foreign = invite(world, "foreign@example.com", organization=world.other_org)
    for action in (services.resend_invitation, services.revoke_invitation):
        with pytest.raises(PermissionDenied):
            action(invitation=foreign, acting_user=world.user("owner"))


def test_members_and_outsiders_see_no_invitations(world, client):
    invitation = invite(world, "x@example.com")
    client.force_login(world.user("member"))
    assert client.get(CHANGELIST).status_code == 403
    client.force_login(world.outsider)
    assert "x@example.com" not in client.get(CHANGELIST).content.decode()
    assert client.get(reverse("admin:tenancy_invitation_change", args=[invitation.pk])).status_code == 302
