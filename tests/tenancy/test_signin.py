"""Signing in to the admin without a staff flag, the page for people with no active organization, sign-in
throttling, password reset by email and password change."""

import re
import time
import uuid

import pytest
import redis
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import override_settings
from django.urls import reverse

from audit.models import AuditEvent
from tenancy.models import Membership
from tenancy.roles import Role
from tests.support.world import make_user

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"
User = get_user_model()


def sign_in(client, username: str, password: str = PASSWORD, url: str | None = None, **extra):
    return client.post(url or reverse("admin:login"), {"username": username, "password": password}, **extra)


# --- Who signs in ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [role.value for role in Role])
def test_every_role_signs_in_to_the_admin_without_a_staff_flag(world, client, role):
    user = world.user(role)
    assert not user.is_staff
    response = sign_in(client, user.username)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    index = client.get(reverse("admin:index"))
    assert index.status_code == 200
    assert 'id="user-tools"' in index.content.decode()
    user.refresh_from_db()
    assert not user.is_staff  # nothing flips the flag behind the scenes


def test_a_person_without_an_active_organization_gets_a_clear_page_not_a_sign_in_loop(world, client):
    nina = make_user("nina")
    response = sign_in(client, "nina")
    assert response.status_code == 302
    for url in (reverse("admin:index"), reverse("admin:tenancy_organization_changelist"), reverse("admin:login")):
        page = client.get(url)
        assert page.status_code == 403, url
        text = page.content.decode()
        assert "not a member of any active organization" in text
        assert f'action="{reverse("admin:logout")}"' in text  # a sign-out button
    # Signing out works, and ends the session.
    assert client.post(reverse("admin:logout")).status_code == 200
    assert client.get(reverse("admin:index")).status_code == 302
    # A membership in a deactivated organization is no membership.
    Membership.objects.create(user=nina, organization=world.other_org, role=Role.MEMBER)
    world.other_org.active = False
    world.other_org.save()
    sign_in(client, "nina")
    assert client.get(reverse("admin:index")).status_code == 403
    world.other_org.active = True
    world.other_org.save()
    assert client.get(reverse("admin:index")).status_code == 200


def test_a_person_without_an_organization_may_still_change_their_password(client, db):
    make_user("nina")
    sign_in(client, "nina")
    assert client.get(reverse("admin:password_change")).status_code == 200


def test_a_deactivated_person_is_refused_with_the_usual_message(world, client):
    vic = world.user("viewer")
    vic.is_active = False
    vic.save()
    response = sign_in(client, "vic")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert client.get(reverse("admin:index")).status_code == 302


def test_the_site_names_the_product(world, client):
    login_page = client.get(reverse("admin:login")).content.decode()
    assert "<title>Log in | Stone Age</title>" in login_page
    assert "Stone Age control plane" in login_page
    assert "Django" not in login_page
    sign_in(client, "vic")
    index = client.get(reverse("admin:index")).content.decode()
    assert "Stone Age control plane" in index
    assert "| Stone Age</title>" in index
    # The colour theme toggle is there, signed in or not.
    assert "theme-toggle" in index and "theme-toggle" in login_page


# --- Throttling -----------------------------------------------------------------------------------------------


@override_settings(LOGIN_FAILURE_LIMIT=3, LOGIN_FAILURE_IP_LIMIT=100, LOGIN_LOCKOUT=60)
def test_repeated_failures_pause_sign_in_for_that_username_even_with_the_right_password(world, client):
    for _ in range(2):
        response = sign_in(client, "vic", "wrong-password-1")
        assert "Please enter a correct username and password" in response.content.decode()
    response = sign_in(client, "vic", "wrong-password-1")
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "try again in 1 minute" in response.content.decode()
    response = sign_in(client, "VIC", PASSWORD)  # the right password, any case: still paused
    assert response.status_code == 200
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert client.get(reverse("admin:index")).status_code == 302  # not signed in
    # Every refused attempt is a failed login in the audit log.
    assert AuditEvent.objects.filter(action="login_failed").count() == 4
    # Another person is not affected (the address limit is far).
    assert sign_in(client, "mia").status_code == 302


@override_settings(LOGIN_FAILURE_LIMIT=100, LOGIN_FAILURE_IP_LIMIT=3, LOGIN_LOCKOUT=60)
def test_repeated_failures_from_one_address_pause_sign_in_from_it(world, client):
    for name in ("ann", "bob", "cat"):
        sign_in(client, name, "guess", REMOTE_ADDR="203.0.113.9")
    response = sign_in(client, "vic", PASSWORD, REMOTE_ADDR="203.0.113.9")
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert sign_in(client, "vic", PASSWORD, REMOTE_ADDR="203.0.113.10").status_code == 302


@override_settings(LOGIN_FAILURE_LIMIT=2, LOGIN_LOCKOUT=1)
def test_sign_in_resumes_after_the_lockout(world, client):
    sign_in(client, "vic", "nope")
    sign_in(client, "vic", "nope")
    assert "Too many failed" in sign_in(client, "vic").content.decode()
    time.sleep(1.1)
    assert sign_in(client, "vic").status_code == 302


@override_settings(LOGIN_FAILURE_LIMIT=3)
def test_a_successful_sign_in_clears_the_count_for_that_username(world, client):
    sign_in(client, "vic", "nope")
    sign_in(client, "vic", "nope")
    assert sign_in(client, "vic").status_code == 302
    client.post(reverse("admin:logout"))
    sign_in(client, "vic", "nope")
    sign_in(client, "vic", "nope")
    assert sign_in(client, "vic").status_code == 302


@override_settings(LOGIN_FAILURE_LIMIT=2, LOGIN_LOCKOUT=60)
def test_the_sign_in_page_outside_the_admin_is_throttled_too(world, client):
    url = reverse("tenancy:login")
    sign_in(client, "vic", "nope", url=url)
    sign_in(client, "vic", "nope", url=url)
    response = sign_in(client, "vic", PASSWORD, url=url)
    assert response.status_code == 200
    assert "Too many failed sign-in attempts" in response.content.decode()
    # One counter for both pages.
    assert "Too many failed" in sign_in(client, "vic").content.decode()


@pytest.mark.integration
def test_failure_counts_live_in_redis_where_every_web_process_sees_them(world, client, settings):
    prefix = f"signin-test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    settings.LOGIN_FAILURE_LIMIT, settings.LOGIN_LOCKOUT = 2, 60
    redis_client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        sign_in(client, "vic", "nope")
        sign_in(client, "vic", "nope")
        keys = [key.decode() for key in redis_client.keys(f"{prefix}:*")]
        assert any(":signin:user:" in key and key.endswith(":blocked") for key in keys), keys
        assert all("vic" not in key for key in keys)  # usernames are hashed
        assert "Too many failed" in sign_in(client, "vic").content.decode()
    finally:
        for key in redis_client.keys(f"{prefix}:*"):
            redis_client.delete(key)


def test_sign_in_goes_on_unthrottled_when_the_cache_is_down(world, client, settings, caplog):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.2},
        }
    }
    settings.LOGIN_FAILURE_LIMIT = 1
    response = sign_in(client, "vic", "nope")
    assert "Please enter a correct username and password" in response.content.decode()
    assert sign_in(client, "vic").status_code == 302
    assert "Sign-in throttling is off" in caplog.text


def test_the_sign_in_page_outside_the_admin_admits_members(world, client):
    response = sign_in(client, "vic", url=reverse("tenancy:login"))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


# --- Password reset and change --------------------------------------------------------------------------------


def test_the_admin_sign_in_page_links_to_password_reset(client, db):
    page = client.get(reverse("admin:login")).content.decode()
    assert f'href="{reverse("admin_password_reset")}"' in page
    assert reverse("admin_password_reset") in client.get(reverse("tenancy:login")).content.decode()


@override_settings(SITE_URL="https://fleet.example.org")
def test_password_reset_by_email_sets_a_new_password(world, client):
    vic = world.user("viewer")
    response = client.post(reverse("admin_password_reset"), {"email": vic.email})
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [vic.email]
    assert "Stone Age" in message.subject
    link = re.search(r"https://fleet\.example\.org(/reset/\S+/)", message.body)
    assert link, message.body
    requested = AuditEvent.objects.get(action="password_reset_link")
    assert (requested.object_id, requested.extra["email"]) == (str(vic.pk), vic.email)

    form_url = client.get(link.group(1)).url  # Django moves the token into the session
    # Django's validators apply.
    response = client.post(form_url, {"new_password1": "12345678", "new_password2": "12345678"})
    assert response.status_code == 200
    assert "too common" in response.content.decode()
    new = "a quite different passphrase 42"
    response = client.post(form_url, {"new_password1": new, "new_password2": new})
    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_complete")
    vic.refresh_from_db()
    assert vic.check_password(new)
    done = AuditEvent.objects.get(action="password_reset")
    assert (done.actor_id, done.object_id) == (vic.pk, str(vic.pk))
    # The link works once.
    assert "invalid" in client.get(link.group(1), follow=True).content.decode().lower()
    assert sign_in(client, "vic", new).status_code == 302


def test_password_reset_answers_the_same_for_an_unknown_address(world, client):
    known = client.post(reverse("admin_password_reset"), {"email": world.user("viewer").email})
    unknown = client.post(reverse("admin_password_reset"), {"email": "nobody@example.net"})
    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert len(mail.outbox) == 1
    page = client.get(unknown["Location"])
    assert "emailed you instructions" in page.content.decode()
    event = AuditEvent.objects.filter(action="password_reset_link").latest("id")
    assert (event.object_id, event.extra) == ("", {"email": "nobody@example.net"})


def test_password_change_in_the_admin_is_validated_and_audited(world, client):
    sign_in(client, "mia")
    url = reverse("admin:password_change")
    page = client.get(url)
    assert page.status_code == 200
    assert "Stone Age" in page.content.decode()
    short = {"old_password": PASSWORD, "new_password1": "mia", "new_password2": "mia"}
    assert "too short" in client.post(url, short).content.decode()
    new = "another long passphrase 7"
    response = client.post(url, {"old_password": PASSWORD, "new_password1": new, "new_password2": new})
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:password_change_done")
    assert User.objects.get(username="mia").check_password(new)
    changed = AuditEvent.objects.get(action="password_changed")
    assert changed.actor_id == world.user("member").pk
    assert client.get(reverse("admin:index")).status_code == 200  # still signed in
