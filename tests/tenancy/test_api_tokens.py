from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from tenancy import services
from tenancy.models import ApiToken, Membership

pytestmark = pytest.mark.django_db


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def create_token(world, role="member", **kwargs):
    return services.create_api_token(user=world.user(role), organization=world.org, name="ci", **kwargs)


def test_create_shows_secret_once_and_stores_only_a_hash(world, api):
    api.force_authenticate(world.user("member"))
    response = api.post(reverse("tenancy-api:apitoken-list"), {"name": "ci", "organization": "acme"}, format="json")
    assert response.status_code == 201
    secret = response.data["token"]
    token = ApiToken.objects.get()
    assert secret.startswith(f"sat_{token.prefix}_")
    assert secret not in token.secret_hash
    listing = api.get(reverse("tenancy-api:apitoken-list"))
    assert "token" not in listing.data["results"][0]
    assert secret not in str(listing.content)


def test_cannot_create_token_for_foreign_org(world, api):
    api.force_authenticate(world.user("owner"))
    response = api.post(reverse("tenancy-api:apitoken-list"), {"name": "x", "organization": "globex"}, format="json")
    assert response.status_code == 400


def test_tokens_are_private_to_their_user(world, api):
    token, _ = create_token(world, "member")
    api.force_authenticate(world.user("owner"))
    assert api.get(reverse("tenancy-api:apitoken-detail", args=[token.pk])).status_code == 404
    assert api.delete(reverse("tenancy-api:apitoken-detail", args=[token.pk])).status_code == 404
    api.force_authenticate(world.outsider)
    assert api.get(reverse("tenancy-api:apitoken-list")).data["count"] == 0


def test_anonymous_cannot_list_tokens(world, api):
    assert api.get(reverse("tenancy-api:apitoken-list")).status_code == 401


def test_valid_token_acts_with_the_users_role(world):
    _, secret = create_token(world, "viewer")
    client = bearer(secret)
    assert client.get(reverse("tenancy-api:me")).data["username"] == "vic"
    assert client.get(reverse("tenancy-api:membership-list", args=["acme"])).status_code == 200
    # Viewer cannot invite, even through a token.
    response = client.post(reverse("tenancy-api:invitation-list", args=["acme"]), {"email": "z@example.com"})
    assert response.status_code == 403
    assert ApiToken.objects.get().last_used_at is not None


def test_token_is_limited_to_its_organization(world):
    # The superuser's token still only reaches its own organization, with its membership role there.
    Membership.objects.create(user=world.superuser, organization=world.org, role="viewer")
    _, secret = services.create_api_token(user=world.superuser, organization=world.org, name="t")
    client = bearer(secret)
    assert client.get(reverse("tenancy-api:membership-list", args=["globex"])).status_code == 404
    assert client.get(reverse("tenancy-api:organization-list")).data["count"] == 1
    response = client.post(
        reverse("tenancy-api:organization-list"), {"name": "x", "slug": "x", "owner": world.outsider.email}
    )
    assert response.status_code == 403


def test_expired_token_is_401(world):
    token, secret = create_token(world)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = bearer(secret).get(reverse("tenancy-api:me"))
    assert response.status_code == 401
    assert "expired" in response.data["detail"]


def test_revoked_token_is_401(world, api):
    token, secret = create_token(world, "member")
    api.force_authenticate(world.user("member"))
    assert api.delete(reverse("tenancy-api:apitoken-detail", args=[token.pk])).status_code == 204
    response = bearer(secret).get(reverse("tenancy-api:me"))
    assert response.status_code == 401
    assert "revoked" in response.data["detail"]


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer sat_nope_nope", "Bearer garbage", "Bearer a b"],
)
def test_bad_tokens_are_401(world, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    assert client.get(reverse("tenancy-api:me")).status_code == 401


def test_wrong_secret_with_valid_prefix_is_401(world):
    token, secret = create_token(world)
    assert bearer(secret[:-2] + "xx").get(reverse("tenancy-api:me")).status_code == 401


def test_token_of_removed_member_is_401(world):
    _, secret = create_token(world, "member")
    Membership.objects.filter(user=world.user("member")).delete()
    assert bearer(secret).get(reverse("tenancy-api:me")).status_code == 401


def test_expiry_in_the_past_is_rejected(world, api):
    api.force_authenticate(world.user("member"))
    response = api.post(
        reverse("tenancy-api:apitoken-list"),
        {"name": "old", "organization": "acme", "expires_at": "2000-01-01T00:00:00Z"},
        format="json",
    )
    assert response.status_code == 400


def test_me(world, api):
    api.force_authenticate(world.user("auditor"))
    response = api.get(reverse("tenancy-api:me"))
    assert response.data["memberships"] == [
        {"organization": "acme", "organization_name": "Acme Corp", "role": "auditor"}
    ]


def test_a_foreign_organization_is_refused_like_a_missing_one(world, api):
    api.force_authenticate(world.user("owner"))
    url = reverse("tenancy-api:apitoken-list")
    foreign = api.post(url, {"name": "x", "organization": "globex"}, format="json")
    missing = api.post(url, {"name": "x", "organization": "no-such-org"}, format="json")
    assert foreign.status_code == missing.status_code == 400
    assert str(foreign.data["organization"][0]).replace("globex", "no-such-org") == str(missing.data["organization"][0])


def test_a_token_cannot_mint_tokens(world):
    # Otherwise a leaked, short-lived token could keep access after it expires or is revoked.
    _, secret = create_token(world, "member", expires_at=timezone.now() + timedelta(hours=1))
    response = bearer(secret).post(
        reverse("tenancy-api:apitoken-list"), {"name": "forever", "organization": "acme"}, format="json"
    )
    assert response.status_code == 403
    assert ApiToken.objects.count() == 1


def test_me_through_a_token_shows_only_its_organization(world):
    Membership.objects.create(user=world.user("member"), organization=world.other_org, role="viewer")
    _, secret = create_token(world, "member")
    memberships = bearer(secret).get(reverse("tenancy-api:me")).data["memberships"]
    assert [m["organization"] for m in memberships] == ["acme"]


def test_a_token_cannot_accept_an_invitation_to_another_organization(world):
    member = world.user("member")
    _, secret = create_token(world, "member")
    _, invitation_token = services.invite(
        organization=world.other_org, email=member.email, role="admin", acting_user=world.outsider
    )
    response = bearer(secret).post(reverse("tenancy-api:accept-invitation"), {"token": invitation_token})
    assert response.status_code == 403
    assert not Membership.objects.filter(user=member, organization=world.other_org).exists()


def test_a_superusers_token_acts_with_the_membership_role_only(world):
    # An admin's token cannot demote an owner, even when the admin is a platform operator.
    Membership.objects.create(user=world.superuser, organization=world.org, role="admin")
    Membership.objects.filter(user=world.user("admin"), organization=world.org).update(role="owner")
    _, secret = services.create_api_token(user=world.superuser, organization=world.org, name="t")
    client = bearer(secret)
    owner = Membership.objects.get(user=world.user("owner"), organization=world.org)
    url = reverse("tenancy-api:membership-detail", args=["acme", owner.pk])
    assert client.patch(url, {"role": "member"}, format="json").status_code == 403
    assert client.delete(url).status_code == 403
    assert Membership.objects.get(pk=owner.pk).role == "owner"


def test_a_token_acts_with_the_role_its_user_holds_at_each_request(world):
    _, secret = create_token(world, "viewer")
    client = bearer(secret)
    invite = reverse("tenancy-api:invitation-list", args=["acme"])
    assert client.post(invite, {"email": "z@example.com"}).status_code == 403
    Membership.objects.filter(user=world.user("viewer"), organization=world.org).update(role="admin")
    assert client.post(invite, {"email": "z@example.com"}).status_code == 201


def test_a_token_reaches_no_other_organization_even_where_its_user_is_a_member(world):
    Membership.objects.create(user=world.user("admin"), organization=world.other_org, role="owner")
    _, secret = create_token(world, "admin")
    client = bearer(secret)
    assert client.get(reverse("tenancy-api:membership-list", args=["acme"])).status_code == 200
    assert client.get(reverse("tenancy-api:membership-list", args=["globex"])).status_code == 404
    assert client.get(reverse("tenancy-api:membership-list", args=["no-such-org"])).status_code == 404
