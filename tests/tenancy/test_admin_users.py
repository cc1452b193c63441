"""The user admin: platform operators create people with an email address and deactivate them."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from tenancy import services
from tenancy.models import ApiToken

pytestmark = pytest.mark.django_db

User = get_user_model()


def add_form(**fields) -> dict:
    data = {
        "username": "ada",
        "email": "ada@example.com",
        "first_name": "Ada",
        "last_name": "L",
        "usable_password": "true",
        "password1": "a long enough passphrase",
        "password2": "a long enough passphrase",
    }
    data.update(fields)
    return data


def test_an_operator_creates_a_person_with_an_email(world, client):
    client.force_login(world.superuser)
    response = client.post(reverse("admin:auth_user_add"), add_form())
    assert response.status_code == 302
    person = User.objects.get(username="ada")
    assert person.email == "ada@example.com" and person.first_name == "Ada"
    assert person.check_password("a long enough passphrase")


def test_the_email_is_required_and_unique_regardless_of_case(world, client):
    client.force_login(world.superuser)
    missing = client.post(reverse("admin:auth_user_add"), add_form(email=""))
    assert missing.status_code == 200 and b"An email address is required" in missing.content
    taken = client.post(reverse("admin:auth_user_add"), add_form(email="MIA@example.com"))
    assert taken.status_code == 200 and b"already exists" in taken.content
    assert not User.objects.filter(username="ada").exists()


def test_the_list_shows_status_and_last_login(world, client):
    client.force_login(world.superuser)
    page = client.get(reverse("admin:auth_user_changelist"))
    assert page.status_code == 200
    assert b"column-is_active" in page.content and b"column-last_login" in page.content
    assert client.get(reverse("admin:auth_user_changelist"), {"is_active__exact": "0"}).status_code == 200


def test_the_deactivate_action_revokes_tokens(world, client):
    person = world.user("member")
    services.create_api_token(user=person, organization=world.org, name="ci")
    client.force_login(world.superuser)
    response = client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "deactivate", "_selected_action": [person.pk, world.superuser.pk]},
    )
    assert response.status_code == 302
    person.refresh_from_db()
    world.superuser.refresh_from_db()
    assert not person.is_active
    assert world.superuser.is_active  # an operator cannot deactivate themselves
    assert ApiToken.objects.get(user=person).revoked_at is not None


def test_unticking_active_in_the_change_form_is_a_deactivation(world, client):
    person = world.user("member")
    services.create_api_token(user=person, organization=world.org, name="ci")
    client.force_login(world.superuser)
    url = reverse("admin:auth_user_change", args=[person.pk])
    form = client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "password"}
    data.update({"is_active": "", "groups": [], "user_permissions": [], "date_joined_0": "2026-01-01"})
    data.update({"date_joined_1": "00:00:00", "last_login_0": "", "last_login_1": "", "is_staff": "on"})
    response = client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    person.refresh_from_db()
    assert not person.is_active
    assert ApiToken.objects.get(user=person).revoked_at is not None


def test_people_are_not_deleted_in_the_admin(world, client):
    client.force_login(world.superuser)
    person = world.user("member")
    assert client.get(reverse("admin:auth_user_delete", args=[person.pk])).status_code == 403
    assert User.objects.filter(pk=person.pk).exists()


def test_a_person_created_without_a_password_cannot_sign_in_with_one(world, client):
    client.force_login(world.superuser)
    response = client.post(
        reverse("admin:auth_user_add"), add_form(usable_password="false", password1="", password2="")
    )
    assert response.status_code == 302
    assert not User.objects.get(username="ada").has_usable_password()
