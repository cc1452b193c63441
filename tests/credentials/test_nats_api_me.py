"""`POST /api/v1/me/nats-creds/rotate/`: a person rotates the NATS user linked to their own membership."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from credentials.codecs import natsjwt as nj
from credentials.services import nats as svc
from tenancy.models import Membership
from tenancy.roles import ALL_ROLES
from tests.credentials.nats_support import account_of, link_user, make_nats_user, membership_of, parse_creds, reload
from tests.support.authz import assert_access, expect

pytestmark = pytest.mark.django_db

URL = "/api/v1/me/nats-creds/rotate/"


def rotate_url(world):
    return f"{URL}?org={world.org.slug}"


def test_route_name():
    assert reverse("nats-api:my-nats-creds-rotate") == URL


def test_every_role_rotates_its_own_linked_user(world):
    for role in ALL_ROLES:
        link_user(membership_of(world, role))
    # The outsider and the superuser have no linked user in acme (the outsider is not even a member).
    assert_access(world, "post", rotate_url, expect(ALL_ROLES, 200, superuser=404))


def test_rotation_returns_new_creds_for_the_same_key(world, api, monkeypatch):
    user = link_user(membership_of(world, "member"))
    old_jwt, old_iat, key = user.jwt, user.jwt_iat, user.public_key
    monkeypatch.setattr(svc, "now", lambda: old_iat + 5)
    api.force_authenticate(world.user("member"))
    response = api.post(rotate_url(world))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="{user.name}.creds"'
    jwt, seed = parse_creds(response.content)
    rotated = reload(user)
    assert jwt == rotated.jwt != old_jwt
    assert rotated.public_key == key == nj.keypair_from_seed(seed).public_key
    assert nj.decode(jwt)["iat"] == old_iat + 5
    assert key not in account_of(world.org).revocations  # a rotation, never a revocation


def test_rotation_is_audited_as_a_credential_read(world, api):
    user = link_user(membership_of(world, "viewer"))
    api.force_authenticate(world.user("viewer"))
    assert api.post(rotate_url(world)).status_code == 200
    event = AuditEvent.objects.get(action="credential_read")
    assert event.object_id == str(user.pk)
    assert event.actor_id == world.user("viewer").pk
    assert event.extra["kind"] == "nats.creds"


def test_organization_in_the_body(world, api):
    link_user(membership_of(world, "member"))
    api.force_authenticate(world.user("member"))
    assert api.post(URL, {"organization": "acme"}, format="json").status_code == 200


def test_organization_is_required(world, api):
    link_user(membership_of(world, "member"))
    api.force_authenticate(world.user("member"))
    response = api.post(URL)
    assert response.status_code == 400
    assert "organization" in response.json()


def test_no_linked_user_is_404(world, api):
    make_nats_user(world.org)  # a device user is never "mine"
    api.force_authenticate(world.user("member"))
    assert api.post(rotate_url(world)).status_code == 404


def test_someone_elses_linked_user_is_never_rotated(world, api):
    admins = link_user(membership_of(world, "admin"))
    api.force_authenticate(world.user("member"))
    assert api.post(rotate_url(world)).status_code == 404
    assert reload(admins).jwt == admins.jwt


def test_foreign_organization_is_404(world, api):
    link_user(Membership.objects.get(user=world.outsider))
    api.force_authenticate(world.user("member"))
    assert api.post(f"{URL}?org=globex").status_code == 404
    assert api.post(f"{URL}?org=nope").status_code == 404


def test_my_link_in_another_organization_does_not_count(world, api):
    """A membership in globex gives no credentials when asking for acme."""
    membership = Membership.objects.create(user=world.user("member"), organization=world.other_org)
    link_user(membership)
    api.force_authenticate(world.user("member"))
    assert api.post(rotate_url(world)).status_code == 404
    assert api.post(f"{URL}?org=globex").status_code == 200


def test_deactivated_user_cannot_rotate(world, api):
    user = link_user(membership_of(world, "member"))
    svc.deactivate_user(user)
    api.force_authenticate(world.user("member"))
    response = api.post(rotate_url(world))
    assert response.status_code == 400
    assert not AuditEvent.objects.filter(action="credential_read").exists()


def test_api_token_is_bound_to_its_organization(world, api):
    from tenancy.services import create_api_token

    membership = Membership.objects.create(user=world.user("member"), organization=world.other_org)
    link_user(membership)
    link_user(membership_of(world, "member"))
    _, secret = create_api_token(user=world.user("member"), organization=world.org, name="laptop")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.post(rotate_url(world)).status_code == 200
    assert api.post(f"{URL}?org=globex").status_code == 404


def test_anonymous_is_401(world, api):
    assert api.post(rotate_url(world)).status_code == 401
