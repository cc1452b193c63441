"""Enrollment in the admin: an owner issues a token from a thing (shown once), a viewer cannot; tokens are listed
and revoked by managers; the thing's page shows what its device is behind on."""

from __future__ import annotations

import pytest
from django.test import Client

from inventory.models import EnrollmentToken
from inventory.services import enrollment
from tests.inventory.admin_support import admin_url
from tests.inventory.api_support import make_network, make_thing, make_type
from tests.inventory.test_admin import run_action
from tests.inventory.test_enrollment import Device

pytestmark = pytest.mark.django_db


@pytest.fixture
def thing(world):
    network = make_network(world.org)
    return make_thing(world.org, "s-01", make_type(world.org), nats_mode="auto", nebula_mode="auto", network=network)


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_owner_issues_a_token_from_the_thing_and_sees_it_once(world, thing):
    response = run_action(signed_in(world.user("owner")), "issue_enrollment_token", thing, follow=False)
    assert response.status_code == 200
    token = response.context["secret"]
    assert token.startswith("sae_") and token in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    row = EnrollmentToken.objects.get()
    assert row.thing == thing and row.created_by == world.user("owner")
    listing = signed_in(world.user("admin")).get(admin_url("enrollmenttoken"))
    assert row.prefix in listing.content.decode() and token not in listing.content.decode()


def test_a_viewer_cannot_issue_a_token(world, thing):
    run_action(signed_in(world.user("viewer")), "issue_enrollment_token", thing)
    assert not EnrollmentToken.objects.exists()


def test_an_admin_revokes_a_token_and_the_device_is_refused(world, thing):
    row, token = enrollment.issue_token(thing)
    run_action(signed_in(world.user("admin")), "revoke", row, model="enrollmenttoken")
    row.refresh_from_db()
    assert row.status == "revoked"
    assert Device().enroll(token).status_code == 403


def test_the_thing_page_shows_what_its_device_is_behind_on(world, thing):
    page = lambda: signed_in(world.user("owner")).get(admin_url("thing", "change", thing.pk)).content.decode()  # noqa: E731
    assert "not enrolled" in page()
    device = Device()
    assert device.enroll(enrollment.issue_token(thing)[1]).status_code == 201
    assert "never fetched its config" in page()
    device.session().get("/api/v1/devices/config/")
    assert "up to date" in page()
