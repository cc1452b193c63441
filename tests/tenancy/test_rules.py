"""Tenancy's rules are stated once, in the models and the domain actions, so that the API, the admin and code
calling the actions get the same answer."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from tenancy import services
from tenancy.models import Invitation, Organization

pytestmark = pytest.mark.django_db


def errors_of(instance) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        instance.full_clean()
    return caught.value.message_dict


def new_invitation(world, email: str, role: str = "viewer", organization=None) -> Invitation:
    invitation = Invitation(
        organization=organization or world.org, email=email, role=role, invited_by=world.user("owner")
    )
    invitation.set_new_token()
    return invitation


def test_an_organization_needs_its_first_owner_whoever_creates_it(world):
    with pytest.raises(ValidationError) as caught:
        services.create_organization(name="Initech", slug="initech", owner=None, acting_user=world.superuser)
    assert caught.value.message_dict == {"owner": ["Name the organization's first owner."]}
    assert not Organization.objects.filter(slug="initech").exists()


def test_the_api_and_the_admin_ask_for_the_first_owner(world, api, client):
    api.force_authenticate(world.superuser)
    response = api.post(reverse("tenancy-api:organization-list"), {"name": "N", "slug": "n"}, format="json")
    assert response.status_code == 400
    assert response.data == {"owner": ["Name the organization's first owner."]}
    client.force_login(world.superuser)
    response = client.post(reverse("admin:tenancy_organization_add"), {"name": "N", "slug": "n", "active": "on"})
    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors) == ["owner"]
    assert not Organization.objects.filter(slug="n").exists()


def test_a_malformed_slug_is_reported_once(world, api):
    assert errors_of(Organization(name="Bad", slug="has spaces!")) == {
        "slug": ["Enter a valid “slug” consisting of letters, numbers, underscores or hyphens."]
    }
    api.force_authenticate(world.superuser)
    response = api.post(
        reverse("tenancy-api:organization-list"),
        {"name": "Bad", "slug": "has spaces!", "owner": world.outsider.email},
        format="json",
    )
    assert response.status_code == 400
    assert len(response.data["slug"]) == 1


def test_a_members_address_cannot_be_invited(world):
    assert errors_of(new_invitation(world, "mia@EXAMPLE.com")) == {
        "email": ["mia@example.com is already a member of Acme Corp."]
    }
    # The same person is not a member of Globex: to Globex they are an address like any other.
    new_invitation(world, "mia@example.com", organization=world.other_org).full_clean()


def test_an_address_has_one_open_invitation_per_organization(world):
    first, _ = services.invite(organization=world.org, email="open@example.com", acting_user=world.user("owner"))
    assert errors_of(new_invitation(world, "OPEN@example.com")) == {
        "email": ["OPEN@example.com already has an open invitation; resend it instead."]
    }
    new_invitation(world, "open@example.com", organization=world.other_org).full_clean()
    first.accepted_at = timezone.now()
    first.save(update_fields=["accepted_at"])
    new_invitation(world, "open@example.com").full_clean()  # an accepted invitation is not open


def test_an_invitation_never_grants_ownership(world):
    assert list(errors_of(new_invitation(world, "boss@example.com", role="owner"))) == ["role"]
    with pytest.raises(ValidationError):
        services.invite(organization=world.org, email="boss@example.com", role="owner", acting_user=world.user("owner"))
    assert not Invitation.objects.exists()
