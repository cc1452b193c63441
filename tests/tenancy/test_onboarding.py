"""Joining by invitation from the link in the email: people without an account sign up there, people with one
sign in and accept; closed links answer with a page that says why."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit import context as audit_context
from audit.models import AuditEvent
from tenancy import services
from tenancy.models import Invitation, Membership
from tenancy.views import admin_home_for
from tests.support.world import make_user

pytestmark = pytest.mark.django_db
User = get_user_model()
PASSWORD = "a long and unusual passphrase 7"


def invited(world, email="newcomer@example.com", role="member") -> tuple[Invitation, str]:
    return services.invite(organization=world.org, email=email, role=role, acting_user=world.user("owner"))


def link(token: str, **extra: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"token": token, **extra}.items())
    return reverse("tenancy:accept-invitation") + "?" + query


def sign_up(client, token, **fields):
    data = {"token": token, "username": "newcomer", "password1": PASSWORD, "password2": PASSWORD, **fields}
    return client.post(reverse("tenancy:accept-invitation"), data)


def test_a_new_person_signs_up_joins_and_lands_in_the_organizations_admin(world, client):
    invitation, token = invited(world, email="NewComer@example.com", role="viewer")
    page = client.get(link(token))
    assert page.status_code == 200
    assert page.context["form"] is not None
    assert b'value="NewComer@example.com" readonly' in page.content  # the address is the invitation's

    response = sign_up(client, token, first_name="Nell", last_name="Comer", email="other@example.com")

    assert response.status_code == 302
    assert response.url == admin_home_for(world.org)
    assert response.url == reverse("admin_org_overview", args=[world.org.slug])
    assert client.get(response.url).status_code == 200  # signed in, and the admin lets the new member in
    user = User.objects.get(username="newcomer")
    assert (user.email, user.first_name, user.last_name) == ("NewComer@example.com", "Nell", "Comer")
    assert user.check_password(PASSWORD)
    assert not user.is_staff and not user.is_superuser
    assert Membership.objects.get(user=user).organization == world.org
    assert Membership.objects.get(user=user).role == "viewer"
    invitation.refresh_from_db()
    assert invitation.status == "accepted" and invitation.accepted_by == user
    assert client.session["_auth_user_id"] == str(user.pk)  # signed in
    assert client.get(link(token)).status_code == 410  # used


def test_the_sign_up_is_audited(world, client):
    invitation, token = invited(world)
    sign_up(client, token)
    user = User.objects.get(username="newcomer")
    created = AuditEvent.objects.get(action="create", object_type="auth.user", object_id=str(user.pk))
    assert created.actor_name == f"invitation:{invitation.pk}"
    assert created.after["password"] == "<redacted>"
    membership = Membership.objects.get(user=user)
    joined = AuditEvent.objects.get(action="create", object_type="tenancy.membership", object_id=str(membership.pk))
    assert (joined.actor_id, joined.organization_id) == (user.pk, world.org.pk)
    updates = AuditEvent.objects.filter(action="update", object_type="tenancy.invitation", object_id=str(invitation.pk))
    assert [(e.actor_id, "accepted_at" in e.changed_fields) for e in updates] == [(user.pk, True)]


def test_a_taken_username_is_an_error_on_the_username_only(world, client):
    _, token = invited(world)
    make_user("newcomer", email="someone-else@example.com")
    response = sign_up(client, token)
    assert response.status_code == 200
    assert set(response.context["form"].errors) == {"username"}
    assert "someone-else" not in response.content.decode()
    assert not Membership.objects.filter(user__email="newcomer@example.com").exists()


@pytest.mark.parametrize(
    ("password", "confirmation", "field", "message"),
    [
        ("short7", "short7", "password1", "too short"),
        ("12345678901", "12345678901", "password1", "entirely numeric"),
        ("password123", "password123", "password1", "too common"),
        ("newcomer-example", "newcomer-example", "password1", "too similar"),
        (PASSWORD, PASSWORD + "x", "password2", "differ"),
    ],
)
def test_a_weak_or_mistyped_password_is_a_form_error(world, client, password, confirmation, field, message):
    _, token = invited(world)
    response = sign_up(client, token, password1=password, password2=confirmation)
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not User.objects.filter(username="newcomer").exists()
    assert Invitation.objects.get().status == "pending"


def test_a_person_with_an_account_is_asked_to_sign_in_and_cannot_sign_up_again(world, client):
    _, token = invited(world, email="mia-home@example.com")
    make_user("mia-home", email="MIA-HOME@example.com")
    page = client.get(link(token))
    assert page.status_code == 200
    assert "form" not in page.context or page.context.get("form") is None
    sign_in = page.context["sign_in_url"]
    assert sign_in.startswith(reverse("tenancy:login") + "?next=")
    sign_up(client, token, username="second-account")
    assert not User.objects.filter(username="second-account").exists()


def test_an_existing_person_signs_in_through_the_page_and_accepts(world, client):
    _, token = invited(world, email="pat@example.com", role="admin")
    person = make_user("pat", staff=False, email="pat@example.com")
    sign_in = client.get(link(token)).context["sign_in_url"]
    signed_in = client.post(sign_in, {"username": "pat", "password": "correct horse battery staple"})
    assert signed_in.status_code == 302 and signed_in.url == link(token)
    assert client.get(signed_in.url).context["accept"]
    joined = client.post(reverse("tenancy:accept-invitation"), {"token": token})
    assert joined.url == admin_home_for(world.org)
    assert Membership.objects.get(user=person, organization=world.org).role == "admin"


def test_the_service_refuses_a_sign_up_for_an_address_that_has_an_account(world):
    _, token = invited(world, email="late@example.com")
    make_user("late", email="late@example.com")
    with pytest.raises(ValidationError, match="sign in"):
        services.sign_up_with_invitation(token=token, username="late2", password=PASSWORD)
    assert not User.objects.filter(username="late2").exists()


def test_a_signed_in_person_with_another_address_cannot_accept(world, client):
    _, token = invited(world, email="intended@example.com")
    client.force_login(world.outsider)
    page = client.get(link(token))
    assert "sent to intended@example.com" in page.content.decode()
    refused = client.post(reverse("tenancy:accept-invitation"), {"token": token})
    assert refused.status_code == 403
    assert "different email address" in refused.content.decode()
    assert not Membership.objects.filter(user=world.outsider, organization=world.org).exists()
    assert Invitation.objects.get().status == "pending"


@pytest.mark.parametrize(
    ("close", "status", "message"),
    [
        (
            lambda inv, w: Invitation.objects.filter(pk=inv.pk).update(expires_at=timezone.now() - timedelta(1)),
            410,
            "expired",
        ),
        (lambda inv, w: services.revoke_invitation(invitation=inv, acting_user=w.user("admin")), 410, "revoked"),
        (lambda inv, w: services.accept_invitation(token=w.token, user=make_user("x", email=inv.email)), 410, "used"),
        (lambda inv, w: Invitation.objects.filter(pk=inv.pk).delete(), 404, "does not exist"),
    ],
    ids=["expired", "revoked", "used", "unknown"],
)
def test_closed_links_answer_with_a_page_that_says_why(world, client, close, status, message):
    invitation, token = invited(world)
    world.token = token
    close(invitation, world)
    for response in (client.get(link(token)), sign_up(client, token)):
        assert response.status_code == status
        assert response["Content-Type"].startswith("text/html")
        assert message in response.content.decode()
        assert 'id="sign-up"' not in response.content.decode()
    assert not User.objects.filter(username="newcomer").exists()


def test_a_link_revoked_while_the_form_is_open_is_refused(world, client):
    invitation, token = invited(world)
    assert client.get(link(token)).status_code == 200
    services.revoke_invitation(invitation=invitation, acting_user=world.user("owner"))
    assert sign_up(client, token).status_code == 410
    assert not User.objects.filter(username="newcomer").exists()


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "http:/\\evil.example", "javascript:alert(1)"]
)
def test_next_never_leaves_the_site(world, client, target):
    _, token = invited(world)
    response = sign_up(client, token, next=target)
    assert response.status_code == 302
    assert response.url == admin_home_for(world.org)


def test_next_within_the_site_is_followed(world, client):
    _, token = invited(world)
    assert sign_up(client, token, next="/admin/inventory/").url == "/admin/inventory/"


def test_the_sign_in_page_ignores_an_offsite_next(world, client):
    make_user("pat", email="pat@example.com")
    response = client.post(
        reverse("tenancy:login") + "?next=https://evil.example/",
        {"username": "pat", "password": "correct horse battery staple", "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert "evil.example" not in response.url


def test_the_sign_up_form_is_csrf_protected(world):
    _, token = invited(world)
    client = Client(enforce_csrf_checks=True)
    page = client.get(link(token))
    assert b"csrfmiddlewaretoken" in page.content
    assert sign_up(client, token).status_code == 403
    assert not User.objects.filter(username="newcomer").exists()
    csrf = page.cookies["csrftoken"].value
    assert sign_up(client, token, csrfmiddlewaretoken=csrf).status_code == 302


def test_the_sign_up_names_its_actors_only_for_its_own_changes(world):
    _, token = invited(world)
    before = audit_context.current()
    membership = services.sign_up_with_invitation(token=token, username="newcomer", password=PASSWORD)
    assert audit_context.current() == before
    later = make_user("later")
    event = AuditEvent.objects.get(action="create", object_type="auth.user", object_id=str(later.pk))
    assert event.actor_name == "system"
    assert membership.user.username == "newcomer"
