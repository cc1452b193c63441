"""Platform tokens: a superuser's API token with operator powers in every organization."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from tenancy import services
from tenancy.models import ApiToken, Invitation, Membership, Organization
from tests.support.authz import assert_access, expect

pytestmark = pytest.mark.django_db

TOKENS = "tenancy-api:apitoken-list"


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def platform_token(world, **kwargs):
    return services.create_platform_token(user=world.superuser, name="automation", **kwargs)


def test_an_operator_creates_a_platform_token_and_sees_it_once(world, api):
    api.force_authenticate(world.superuser)
    response = api.post(reverse(TOKENS), {"name": "automation", "platform": True}, format="json")
    assert response.status_code == 201, response.data
    assert response.data["platform"] is True and response.data["organization"] is None
    secret = response.data["token"]
    token = ApiToken.objects.get(pk=response.data["id"])
    assert token.platform and token.organization is None and token.user == world.superuser
    assert secret.startswith(f"sat_{token.prefix}_") and secret not in token.secret_hash
    listing = api.get(reverse(TOKENS), {"platform": "true"})
    assert [row["id"] for row in listing.data["results"]] == [token.pk]
    assert secret not in str(listing.content)
    assert secret not in str(api.get(reverse("tenancy-api:apitoken-detail", args=[token.pk])).content)


def test_only_platform_operators_create_platform_tokens(world):
    assert_access(
        world,
        "post",
        lambda w: reverse(TOKENS),
        # Everyone else is refused, and no token (not even a platform token) mints tokens.
        expect(allowed=[], ok=201, outsider=403, org_token=403, platform_token=403),
        data_for=lambda w: {"name": "automation", "platform": True},
    )
    assert ApiToken.objects.filter(platform=True, name="automation").count() == 1


def test_listing_and_revoking_tokens_by_caller(world):
    # Everyone signed in lists their own tokens.
    assert_access(
        world,
        "get",
        lambda w: reverse(TOKENS),
        expect([], ok=200, denied=200, outsider=200, org_token=200, platform_token=200),
    )
    # A platform token is revoked by its holder only; everyone else gets a 404, as for a missing token.
    assert_access(
        world,
        "delete",
        lambda w: reverse("tenancy-api:apitoken-detail", args=[platform_token(w)[0].pk]),
        expect([], ok=204, denied=404, outsider=404, org_token=404, platform_token=204),
    )


def test_a_platform_token_needs_no_organization_and_takes_none(world, api):
    api.force_authenticate(world.superuser)
    Membership.objects.create(user=world.superuser, organization=world.org, role="owner")
    both = api.post(reverse(TOKENS), {"name": "x", "platform": True, "organization": "acme"}, format="json")
    assert both.status_code == 400 and "no organization" in str(both.data["organization"])
    neither = api.post(reverse(TOKENS), {"name": "x"}, format="json")
    assert neither.status_code == 400 and '"platform": true' in str(neither.data["organization"])
    assert not ApiToken.objects.exists()


def test_the_database_holds_a_platform_token_to_no_organization(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiToken.objects.create(user=world.superuser, organization=world.org, platform=True, name="x", prefix="a")
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiToken.objects.create(user=world.superuser, organization=None, platform=False, name="x", prefix="b")


def test_a_platform_token_has_operator_powers(world):
    _, secret = platform_token(world)
    client = bearer(secret)
    assert client.get(reverse("tenancy-api:organization-list")).data["count"] == 2
    assert client.get(reverse("tenancy-api:membership-list", args=["globex"])).status_code == 200
    assert client.get(reverse("tenancy-api:user-list")).status_code == 200
    response = client.post(
        reverse("tenancy-api:organization-list"),
        {"name": "Initech", "slug": "initech", "owner": world.outsider.email},
        format="json",
    )
    assert response.status_code == 201, response.data
    assert Organization.objects.filter(slug="initech").exists()
    me = client.get(reverse("tenancy-api:me")).data
    assert me["is_superuser"] is True


def test_an_org_token_of_a_superuser_keeps_its_confinement(world):
    Membership.objects.create(user=world.superuser, organization=world.org, role="viewer")
    _, secret = services.create_api_token(user=world.superuser, organization=world.org, name="t")
    client = bearer(secret)
    assert client.get(reverse("tenancy-api:user-list")).status_code == 403
    assert client.get(reverse("tenancy-api:organization-list")).data["count"] == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda token: ApiToken.objects.filter(pk=token.pk).update(revoked_at=timezone.now()), "revoked"),
        (
            lambda token: ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1)),
            "expired",
        ),
        (lambda token: type(token.user).objects.filter(pk=token.user_id).update(is_superuser=False), "operator"),
        (lambda token: type(token.user).objects.filter(pk=token.user_id).update(is_active=False), "inactive"),
    ],
    ids=["revoked", "expired", "no-longer-superuser", "deactivated"],
)
def test_a_platform_token_is_refused(world, change, reason):
    token, secret = platform_token(world)
    assert bearer(secret).get(reverse("tenancy-api:me")).status_code == 200
    change(token)
    response = bearer(secret).get(reverse("tenancy-api:organization-list"))
    assert response.status_code == 401
    assert reason in response.data["detail"]
    rejected = AuditEvent.objects.filter(action="token_rejected").latest("id")
    assert rejected.extra["prefix"] == token.prefix and rejected.organization_id is None


def test_a_former_operator_cannot_mint_a_platform_token(world):
    world.superuser.is_superuser = False
    with pytest.raises(services.PermissionDenied):
        platform_token(world)


def test_a_token_for_an_organization_one_is_not_a_member_of_says_so(world, api):
    api.force_authenticate(world.user("owner"))
    response = api.post(reverse(TOKENS), {"name": "x", "organization": "globex"}, format="json")
    assert response.status_code == 400
    assert str(response.data["organization"][0]) == "You are not a member of an organization with the slug “globex”."

    api.force_authenticate(world.superuser)
    response = api.post(reverse(TOKENS), {"name": "x", "organization": "globex"}, format="json")
    assert response.status_code == 400
    message = str(response.data["organization"][0])
    assert "not a member" in message and '"platform": true' in message
    assert "does not exist" not in message


def test_platform_tokens_are_audited_without_their_secret(world, api):
    api.force_authenticate(world.superuser)
    response = api.post(reverse(TOKENS), {"name": "automation", "platform": True}, format="json")
    token_id = response.data["id"]
    api.delete(reverse("tenancy-api:apitoken-detail", args=[token_id]))
    events = AuditEvent.objects.filter(object_type="tenancy.apitoken", object_id=str(token_id)).order_by("id")
    assert [e.action for e in events] == ["create", "update"]
    assert events[0].after["platform"] is True and events[0].after["secret_hash"] == "<redacted>"
    assert events[1].changed_fields == ["revoked_at"]
    assert response.data["token"] not in str([(e.before, e.after, e.extra, e.object_repr) for e in events])


def test_an_operator_sets_up_an_organization_end_to_end_with_a_platform_token(
    world, api, django_capture_on_commit_callbacks
):
    """Session: mint the platform token. Then only the token: create the first owner's account and the
    organization, and invite its first admin, who accepts."""
    api.force_authenticate(world.superuser)
    secret = api.post(reverse(TOKENS), {"name": "provisioning", "platform": True}, format="json").data["token"]
    robot = bearer(secret)

    owner = robot.post(reverse("tenancy-api:user-list"), {"email": "ceo@initech.example"}, format="json")
    assert owner.status_code == 201, owner.data
    org = robot.post(
        reverse("tenancy-api:organization-list"),
        {"name": "Initech", "slug": "initech", "owner": "ceo@initech.example"},
        format="json",
    )
    assert org.status_code == 201, org.data
    members = robot.get(reverse("tenancy-api:membership-list", args=["initech"])).data["results"]
    assert [(m["user"]["email"], m["role"]) for m in members] == [("ceo@initech.example", "owner")]

    with django_capture_on_commit_callbacks(execute=True):
        invited = robot.post(
            reverse("tenancy-api:invitation-list", args=["initech"]),
            {"email": "ops@initech.example", "role": "admin"},
            format="json",
        )
    assert invited.status_code == 201, invited.data
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ops@initech.example"]
    link_token = mail.outbox[0].body.split("token=")[1].split()[0]
    assert Invitation.objects.get(email="ops@initech.example").invited_by == world.superuser

    person = robot.post(reverse("tenancy-api:user-list"), {"email": "ops@initech.example"}, format="json").data
    ops = type(world.superuser).objects.get(pk=person["id"])
    client = APIClient()
    client.force_authenticate(ops)
    assert client.post(reverse("tenancy-api:accept-invitation"), {"token": link_token}).status_code == 201
    assert Membership.objects.get(user=ops, organization__slug="initech").role == "admin"
    actors = set(AuditEvent.objects.filter(organization__slug="initech").values_list("actor_id", flat=True))
    assert world.superuser.pk in actors
