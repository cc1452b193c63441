import re

import pytest
from django.urls import reverse

from tenancy.models import Invitation, Membership, Organization
from tests.support.world import make_user

pytestmark = pytest.mark.django_db


def test_site_header_names_the_product(world, client):
    client.force_login(world.superuser)
    assert b"Stone Age control plane" in client.get(reverse("admin:index")).content


def test_staff_see_only_their_organizations(world, client):
    client.force_login(world.user("admin"))
    page = client.get(reverse("admin:tenancy_organization_changelist"))
    assert page.status_code == 200
    assert b"Acme Corp" in page.content
    assert b"Globex" not in page.content
    foreign = reverse("admin:tenancy_organization_change", args=[world.other_org.pk])
    assert client.get(foreign).status_code == 302  # admin redirects a missing object to the index


def test_memberships_are_scoped(world, client):
    client.force_login(world.user("viewer"))
    page = client.get(reverse("admin:tenancy_membership_changelist"))
    assert b"charlie" not in page.content
    assert b"audrey" in page.content
    foreign = Membership.objects.get(user=world.outsider)
    response = client.get(reverse("admin:tenancy_membership_change", args=[foreign.pk]))
    assert response.status_code == 302


def test_viewer_cannot_change_memberships(world, client):
    client.force_login(world.user("viewer"))
    membership = Membership.objects.get(user=world.user("member"))
    url = reverse("admin:tenancy_membership_change", args=[membership.pk])
    client.post(url, {"role": "admin"})
    assert Membership.objects.get(pk=membership.pk).role == "member"
    assert client.get(reverse("admin:tenancy_membership_add")).status_code == 403


def test_admin_changes_a_role_and_the_rules_apply(world, client):
    client.force_login(world.user("admin"))
    membership = Membership.objects.get(user=world.user("member"))
    url = reverse("admin:tenancy_membership_change", args=[membership.pk])
    assert client.post(url, {"role": "viewer"}).status_code == 302
    assert Membership.objects.get(pk=membership.pk).role == "viewer"
    owner = Membership.objects.get(user=world.user("owner"))
    response = client.post(reverse("admin:tenancy_membership_change", args=[owner.pk]), {"role": "member"})
    assert response.status_code == 200  # form redisplayed with the error
    assert b"Only owners" in response.content
    assert Membership.objects.get(pk=owner.pk).role == "owner"


def test_adding_a_member_in_the_admin_leads_to_an_invitation(world, client):
    client.force_login(world.user("admin"))
    add = reverse("admin:tenancy_membership_add")
    response = client.get(add, {"organization": world.org.pk})
    assert response.status_code == 302
    assert response.url == reverse("admin:tenancy_invitation_add") + f"?organization={world.org.pk}"
    newcomer = make_user("nina")
    response = client.post(add, {"organization": world.org.pk, "user": newcomer.pk, "role": "owner"})
    assert response.status_code == 302
    assert not Membership.objects.filter(user=newcomer).exists()
    assert not Invitation.objects.exists()


def test_the_add_member_page_answers_alike_whether_or_not_the_address_has_an_account(world, client):
    make_user("nina", email="nina@example.com")
    client.force_login(world.user("admin"))
    add = reverse("admin:tenancy_membership_add")
    known = client.post(add, {"organization": world.org.pk, "user": "nina@example.com", "role": "member"})
    unknown = client.post(add, {"organization": world.org.pk, "user": "nobody@example.com", "role": "member"})
    assert (known.status_code, known.content) == (unknown.status_code, unknown.content)
    assert Membership.objects.filter(organization=world.org).count() == 5


def test_the_invitation_form_never_lists_the_platforms_users(world, client):
    # Other organizations' people and the platform operators are not listed to a tenant's admin.
    make_user("nina", email="Nina@Example.com")
    client.force_login(world.user("admin"))
    page = client.get(reverse("admin:tenancy_invitation_add")).content.decode()
    assert "charlie" not in page and "root" not in page and "nina" not in page and "Globex" not in page


def invite_in_admin(client, world, email):
    response = client.post(
        reverse("admin:tenancy_invitation_add"),
        {"organization": world.org.pk, "email": email, "role": "member"},
        follow=True,
    )
    notices = [str(m) for m in response.context["messages"]]
    invitation = Invitation.objects.get(email__iexact=email)
    return response, [n.replace(email, "<email>").replace(str(invitation.pk), "<id>") for n in notices]


def test_the_admin_answers_alike_whether_or_not_the_address_has_an_account(
    world, client, mailoutbox, django_capture_on_commit_callbacks
):
    known = make_user("nina", email="nina@example.com")  # registered, not a member
    client.force_login(world.user("admin"))
    with django_capture_on_commit_callbacks(execute=True):
        known_response, known_notices = invite_in_admin(client, world, "nina@example.com")
        unknown_response, unknown_notices = invite_in_admin(client, world, "nobody@example.com")
    assert known_response.redirect_chain == unknown_response.redirect_chain
    assert known_response.redirect_chain == [(reverse("admin:tenancy_invitation_changelist"), 302)]
    assert known_notices == unknown_notices and len(known_notices) == 1
    assert not Membership.objects.filter(user=known).exists()  # nobody joins until they accept
    bodies = [re.sub(r"token=[\w-]+", "token=<token>", m.body).replace(m.to[0], "<email>") for m in mailoutbox]
    assert len(bodies) == 2 and bodies[0] == bodies[1]


def test_an_address_with_an_open_invitation_is_an_error_on_the_email_field(world, client):
    client.force_login(world.user("admin"))
    invite_in_admin(client, world, "twice@example.com")
    response = client.post(
        reverse("admin:tenancy_invitation_add"),
        {"organization": world.org.pk, "email": "TWICE@example.com", "role": "viewer"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["email"] == [
        "TWICE@example.com already has an open invitation; resend it instead."
    ]
    assert Invitation.objects.count() == 1


def test_the_admin_cannot_invite_into_another_organization(world, client):
    client.force_login(world.user("admin"))
    response = client.post(
        reverse("admin:tenancy_invitation_add"),
        {"organization": world.other_org.pk, "email": "spy@example.com", "role": "member"},
    )
    assert response.status_code == 200
    assert "organization" in response.context["adminform"].form.errors
    assert not Invitation.objects.exists()


def test_last_owner_has_no_delete_button(world, client):
    client.force_login(world.user("owner"))
    owner = Membership.objects.get(user=world.user("owner"))
    response = client.post(reverse("admin:tenancy_membership_delete", args=[owner.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_superuser_creates_an_organization_with_its_owner(world, client):
    client.force_login(world.superuser)
    owner = make_user("newowner")
    response = client.post(
        reverse("admin:tenancy_organization_add"),
        {
            "name": "Initech",
            "slug": "initech",
            "description": "",
            "active": "on",
            "owner": owner.pk,
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "invitations-TOTAL_FORMS": "0",
            "invitations-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    org = Organization.objects.get(slug="initech")
    assert Membership.objects.get(organization=org).user == owner


def test_staff_cannot_add_organizations(world, client):
    client.force_login(world.user("owner"))
    assert client.get(reverse("admin:tenancy_organization_add")).status_code == 403


def test_invitation_actions(world, client, mailoutbox, django_capture_on_commit_callbacks):
    from tenancy import services

    invitation, _ = services.invite(
        organization=world.org, email="x@example.com", role="member", acting_user=world.user("owner")
    )
    client.force_login(world.user("admin"))
    changelist = reverse("admin:tenancy_invitation_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(changelist, {"action": "resend", "_selected_action": [invitation.pk]})
    assert len(mailoutbox) == 1
    client.post(changelist, {"action": "revoke", "_selected_action": [invitation.pk]})
    assert Invitation.objects.get().status == "revoked"


def test_inviting_an_existing_member_in_the_admin_is_a_form_error(world, client, mailoutbox):
    client.force_login(world.user("admin"))
    url = reverse("admin:tenancy_invitation_add")
    response = client.post(url, {"organization": world.org.pk, "email": "MIA@example.com", "role": "viewer"})
    assert response.status_code == 200  # the form again, not a redirect to a success message
    assert b"is already a member of Acme Corp" in response.content
    assert not Invitation.objects.exists()
    response = client.post(url, {"organization": world.org.pk, "email": "new@example.com", "role": "viewer"})
    assert response.status_code == 302
    assert Invitation.objects.get().email == "new@example.com"


def test_member_cannot_see_invitations(world, client):
    client.force_login(world.user("member"))
    assert client.get(reverse("admin:tenancy_invitation_changelist")).status_code == 403
