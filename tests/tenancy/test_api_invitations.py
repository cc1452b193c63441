import re
from datetime import timedelta

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from tenancy.models import Invitation, Membership
from tenancy.roles import MANAGERS
from tests.support.authz import assert_access, expect
from tests.support.world import make_user

pytestmark = pytest.mark.django_db


def list_url(world):
    return reverse("tenancy-api:invitation-list", args=[world.org.slug])


def accept_url():
    return reverse("tenancy-api:accept-invitation")


def invite(api, world, email="new@example.com", role="member", as_role="admin", capture=None):
    api.force_authenticate(world.user(as_role))
    response = api.post(list_url(world), {"email": email, "role": role}, format="json")
    return response


def token_from(mail) -> str:
    match = re.search(r"token=([\w-]+)", mail.body)
    assert match, mail.body
    return match.group(1)


def make_invitation(world, email):
    from tenancy import services

    invitation, _ = services.invite(organization=world.org, email=email, role="viewer", acting_user=world.user("owner"))
    return invitation


def test_list_access(world):
    assert_access(world, "get", list_url, expect(MANAGERS, 200))


def test_create_access(world):
    counter = iter(range(100))
    assert_access(
        world,
        "post",
        list_url,
        expect(MANAGERS, 201),
        data_for=lambda w: {"email": f"p{next(counter)}@example.com"},
    )


def test_revoke_access(world):
    counter = iter(range(100))

    def url(w):
        invitation = make_invitation(w, f"r{next(counter)}@example.com")
        return reverse("tenancy-api:invitation-detail", args=["acme", invitation.pk])

    assert_access(world, "delete", url, expect(MANAGERS, 204))


def test_resend_access(world):
    invitation = make_invitation(world, "resend@example.com")
    url = reverse("tenancy-api:invitation-resend", args=["acme", invitation.pk])
    assert_access(world, "post", lambda w: url, expect(MANAGERS, 200))


def test_invitation_flow_end_to_end(world, api, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(api, world, email="Newcomer@Example.com", role="viewer")
    assert response.status_code == 201, response.data
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["Newcomer@example.com"]
    assert "Acme Corp" in mail.subject
    token = token_from(mail)
    invitation = Invitation.objects.get()
    assert token not in invitation.token_hash  # only the hash is stored

    newcomer = make_user("newcomer", email="newcomer@example.com")
    api.force_authenticate(newcomer)
    response = api.post(accept_url(), {"token": token}, format="json")
    assert response.status_code == 201, response.data
    assert Membership.objects.get(user=newcomer, organization=world.org).role == "viewer"

    # The same token cannot be used twice.
    assert api.post(accept_url(), {"token": token}, format="json").status_code == 410


def test_accept_requires_matching_email(world, api, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invite(api, world, email="right@example.com")
    token = token_from(mailoutbox[0])
    api.force_authenticate(make_user("wrong", email="wrong@example.com"))
    response = api.post(accept_url(), {"token": token}, format="json")
    assert response.status_code == 403
    assert not Membership.objects.filter(user__username="wrong").exists()


def test_accept_requires_authentication(world, api, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invite(api, world)
    api.force_authenticate(None)
    assert api.post(accept_url(), {"token": token_from(mailoutbox[0])}, format="json").status_code == 401


def test_expired_token_is_gone(world, api, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        invite(api, world, email="late@example.com")
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    api.force_authenticate(make_user("late", email="late@example.com"))
    response = api.post(accept_url(), {"token": token_from(mailoutbox[0])}, format="json")
    assert response.status_code == 410
    assert "expired" in response.data["detail"]


def test_unknown_token_is_404(world, api):
    api.force_authenticate(world.outsider)
    assert api.post(accept_url(), {"token": "nope"}, format="json").status_code == 404


def test_revoked_invitation_is_410_and_stays_listed(world, api, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(api, world, email="gone@example.com")
    token = token_from(mailoutbox[0])
    detail = reverse("tenancy-api:invitation-detail", args=["acme", response.data["id"]])
    assert api.delete(detail).status_code == 204
    assert api.get(detail).data["status"] == "revoked"
    assert invite(api, world, email="gone@example.com").status_code == 201  # the address may be invited again
    api.force_authenticate(make_user("gone", email="gone@example.com"))
    refused = api.post(accept_url(), {"token": token}, format="json")
    assert refused.status_code == 410
    assert "revoked" in refused.data["detail"]


def test_an_invitation_to_an_organization_deactivated_since_is_404(
    world, api, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invite(api, world, email="late@example.com")
    token = token_from(mailoutbox[0])
    world.org.active = False
    world.org.save()
    api.force_authenticate(make_user("late", email="late@example.com"))
    assert api.post(accept_url(), {"token": token}, format="json").status_code == 404
    assert not Membership.objects.filter(user__username="late").exists()


def test_resend_issues_new_token_and_extends_expiry(world, api, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = invite(api, world, email="again@example.com")
    old_token = token_from(mailoutbox[0])
    Invitation.objects.update(expires_at=timezone.now() + timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        resend = api.post(reverse("tenancy-api:invitation-resend", args=["acme", response.data["id"]]))
    assert resend.status_code == 200
    new_token = token_from(mailoutbox[1])
    assert new_token != old_token
    assert Invitation.objects.get().expires_at > timezone.now() + timedelta(days=6)
    user = make_user("again", email="again@example.com")
    api.force_authenticate(user)
    assert api.post(accept_url(), {"token": old_token}, format="json").status_code == 404
    assert api.post(accept_url(), {"token": new_token}, format="json").status_code == 201


def test_inviting_an_existing_member_is_rejected(world, api):
    response = invite(api, world, email=world.user("viewer").email)
    assert response.status_code == 400
    assert "already a member" in str(response.data["email"])


def test_duplicate_open_invitation_is_rejected(world, api):
    assert invite(api, world, email="dup@example.com").status_code == 201
    response = invite(api, world, email="DUP@example.com")
    assert response.status_code == 400
    assert "resend" in str(response.data["email"])


def test_invitation_can_never_grant_owner(world, api):
    response = invite(api, world, email="boss@example.com", role="owner", as_role="owner")
    assert response.status_code == 400
    assert "role" in response.data


def test_accept_page_flow(world, client, mailoutbox, django_capture_on_commit_callbacks, api):
    with django_capture_on_commit_callbacks(execute=True):
        invite(api, world, email="page@example.com", role="member")
    token = token_from(mailoutbox[0])
    url = reverse("tenancy:accept-invitation") + f"?token={token}"
    user = make_user("page", email="page@example.com")
    assert b"sign in to accept" in client.get(url).content  # the address has an account: sign in first
    client.force_login(user)
    page = client.get(url)
    assert page.status_code == 200
    assert b"Acme Corp" in page.content
    joined = client.post(reverse("tenancy:accept-invitation"), {"token": token})
    assert joined.status_code == 302
    assert joined.url == reverse("admin_org_overview", args=[world.org.slug])
    assert Membership.objects.filter(user=user, organization=world.org, role="member").exists()
    assert client.get(url).status_code == 410


def test_list_query_count_is_constant(world, django_assert_max_num_queries, api):
    for i in range(12):
        make_invitation(world, f"q{i}@example.com")
    api.force_authenticate(world.user("admin"))
    with django_assert_max_num_queries(5):
        response = api.get(list_url(world))
    assert response.data["count"] == 12


def test_a_mail_server_that_is_down_does_not_fail_the_invitation(
    world, api, caplog, django_capture_on_commit_callbacks
):
    # The invitation is made either way (and can be resent); a 500 would leave it made but reported as failed.
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend", EMAIL_HOST="127.0.0.1", EMAIL_PORT=1
    ):
        with django_capture_on_commit_callbacks(execute=True):
            response = invite(api, world, email="down@example.com")
        assert response.status_code == 201
        invitation = Invitation.objects.get(email="down@example.com")
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(reverse("tenancy-api:invitation-resend", args=["acme", invitation.pk]))
        assert response.status_code == 200
    assert "Could not send the invitation to down@example.com" in caplog.text


def test_a_person_without_admin_access_signs_in_and_accepts(
    world, client, mailoutbox, django_capture_on_commit_callbacks, api
):
    with django_capture_on_commit_callbacks(execute=True):
        invite(api, world, email="field@example.com", role="viewer")
    token = token_from(mailoutbox[0])
    link = reverse("tenancy:accept-invitation") + f"?token={token}"
    person = make_user("field", staff=False, email="field@example.com")
    person.set_password("correct horse battery staple")
    person.save()
    response = client.get(link)
    assert response.status_code == 200
    sign_in_url = response.context["sign_in_url"]
    assert sign_in_url.startswith(reverse("tenancy:login"))
    signed_in = client.post(
        sign_in_url, {"username": "field", "password": "correct horse battery staple", "next": link}
    )
    assert signed_in.status_code == 302 and signed_in.url == link
    assert client.post(reverse("tenancy:accept-invitation"), {"token": token}).status_code == 302
    assert Membership.objects.filter(user=person, organization=world.org, role="viewer").exists()
