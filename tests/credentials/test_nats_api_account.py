import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from credentials.models import AccountSigningKey
from credentials.services import nats as svc
from tenancy.roles import ALL_ROLES, MANAGERS
from tests.credentials.nats_support import account_of, assert_no_secrets, claims, make_nats_user, reload
from tests.support.authz import assert_access, expect

pytestmark = pytest.mark.django_db


def account_url(world, slug=None):
    return reverse("nats-api:account", args=[slug or world.org.slug])


def keys_url(world):
    return reverse("nats-api:account-signing-keys", args=[world.org.slug])


def rotate_url(world):
    return reverse("nats-api:account-signing-keys-rotate", args=[world.org.slug])


def key_url(world, public_key):
    return reverse("nats-api:account-signing-key", args=[world.org.slug, public_key])


def test_every_role_reads_the_account(world):
    assert_access(world, "get", account_url, expect(ALL_ROLES, 200))


def test_account_shows_limits_keys_and_push_state_but_no_seed(world, api):
    api.force_authenticate(world.user("viewer"))
    response = api.get(account_url(world))
    account = account_of(world.org)
    data = response.json()
    assert data["public_key"] == account.public_key
    assert data["organization"] == "acme"
    assert data["max_connections"] == account.max_connections
    assert [k["public_key"] for k in data["signing_keys"]] == [account.signing_keys.get().public_key]
    assert data["revision"] == account.revision
    assert data["pushed_revision"] == 0
    assert data["push_pending"] is True
    assert data["push_error"] == ""
    assert claims(data["jwt"])["sub"] == account.public_key
    assert "seed" not in data
    assert_no_secrets(response.content.decode())


def test_account_of_another_organization_is_not_found(world, api):
    api.force_authenticate(world.user("owner"))
    assert api.get(account_url(world, "globex")).status_code == 404
    assert api.get(account_url(world, "nope")).status_code == 404


def test_only_platform_operators_change_limits(world):
    assert_access(world, "patch", account_url, expect(set(), 200), data_for=lambda w: {"max_connections": 5})


def test_operator_changes_limits_and_the_jwt_follows(world, api):
    account = account_of(world.org)
    revision = account.revision
    api.force_authenticate(world.superuser)
    response = api.patch(account_url(world), {"max_connections": 7, "max_payload": 2048}, format="json")
    assert response.status_code == 200, response.content
    account = reload(account)
    assert account.max_connections == 7
    assert account.revision == revision + 1
    limits = claims(account.jwt)["nats"]["limits"]
    assert limits["conn"] == 7 and limits["payload"] == 2048


def test_tenant_owner_cannot_change_limits_or_read_only_fields(world, api):
    account = account_of(world.org)
    api.force_authenticate(world.user("owner"))
    assert api.patch(account_url(world), {"max_connections": -1}, format="json").status_code == 403
    assert reload(account).max_connections == account.max_connections


def test_operator_api_token_acts_as_a_tenant(world, api):
    """A superuser's API token has no platform powers: it acts with the user's organization role."""
    from tenancy.models import Membership
    from tenancy.services import create_api_token

    Membership.objects.create(user=world.superuser, organization=world.org, role="owner")
    _, secret = create_api_token(user=world.superuser, organization=world.org, name="ci")
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.patch(account_url(world), {"max_connections": 3}, format="json").status_code == 403


def test_invalid_limit_is_a_clear_400(world, api):
    api.force_authenticate(world.superuser)
    response = api.patch(account_url(world), {"max_connections": -5}, format="json")
    assert response.status_code == 400
    assert "max_connections" in response.json()


def test_add_signing_key_access(world):
    assert_access(world, "post", keys_url, expect(MANAGERS, 201))


def test_added_key_signs_new_users(world, api):
    api.force_authenticate(world.user("admin"))
    response = api.post(keys_url(world))
    assert response.status_code == 201
    keys = [k["public_key"] for k in response.json()["signing_keys"]]
    assert len(keys) == 2
    user = make_nats_user(world.org)
    assert claims(user.jwt)["iss"] == keys[-1]
    assert keys[-1] in claims(account_of(world.org).jwt)["nats"]["signing_keys"]


def test_remove_signing_key_access(world):
    def url(w):
        return key_url(w, svc.add_signing_key(account_of(w.org)).public_key)

    assert_access(world, "delete", url, expect(MANAGERS, 200))


def test_removing_a_key_reissues_the_users_it_signed(world, api):
    account = account_of(world.org)
    old_key = account.signing_keys.get()
    user = make_nats_user(world.org)
    svc.add_signing_key(account)
    new_key = AccountSigningKey.objects.filter(account=account).exclude(pk=old_key.pk).get()
    api.force_authenticate(world.user("owner"))
    response = api.delete(key_url(world, old_key.public_key))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["reissued_users"] == 2  # the device and the platform service user
    assert [k["public_key"] for k in body["account"]["signing_keys"]] == [new_key.public_key]
    assert claims(reload(user).jwt)["iss"] == new_key.public_key
    assert old_key.public_key not in claims(reload(account).jwt)["nats"]["signing_keys"]


def test_the_last_signing_key_cannot_be_removed(world, api):
    key = account_of(world.org).signing_keys.get()
    api.force_authenticate(world.user("owner"))
    response = api.delete(key_url(world, key.public_key))
    assert response.status_code == 400
    assert "at least one signing key" in str(response.json())
    assert AccountSigningKey.objects.filter(pk=key.pk).exists()


def test_unknown_or_foreign_signing_key_is_refused(world, api):
    foreign = account_of(world.other_org).signing_keys.get()
    api.force_authenticate(world.user("owner"))
    svc.add_signing_key(account_of(world.org))
    response = api.delete(key_url(world, foreign.public_key))
    assert response.status_code == 400
    assert "no such signing key" in str(response.json())
    assert AccountSigningKey.objects.filter(pk=foreign.pk).exists()


def test_rotate_access(world):
    assert_access(world, "post", rotate_url, expect(MANAGERS, 200))


def test_rotation_replaces_every_key_and_reissues_active_users(world, api):
    account = account_of(world.org)
    svc.add_signing_key(account)
    old_keys = set(account.signing_keys.values_list("public_key", flat=True))
    user = make_nats_user(world.org)
    inactive = svc.deactivate_user(make_nats_user(world.org))
    inactive_jwt = inactive.jwt
    api.force_authenticate(world.user("admin"))
    response = api.post(rotate_url(world))
    assert response.status_code == 200
    body = response.json()
    assert body["reissued_users"] == 2  # the device and the platform service user; not the inactive one
    (new_key,) = [k["public_key"] for k in body["account"]["signing_keys"]]
    assert new_key not in old_keys
    assert claims(reload(user).jwt)["iss"] == new_key
    assert reload(inactive).jwt == inactive_jwt
    assert claims(reload(account).jwt)["nats"]["signing_keys"] == [new_key]


def test_operator_suspends_the_account(world, api):
    account = account_of(world.org)
    api.force_authenticate(world.superuser)
    response = api.patch(account_url(world), {"suspended": True}, format="json")
    assert response.status_code == 200
    assert (response.json()["suspended"], response.json()["active"]) == (True, False)
    assert reload(account).active is False


def test_writing_active_is_refused_not_ignored(world, api):
    """`active` is derived; a client that sends it (the former way to suspend) must not believe it worked."""
    revision = account_of(world.org).revision
    api.force_authenticate(world.superuser)
    response = api.patch(account_url(world), {"active": False}, format="json")
    assert response.status_code == 400
    assert "suspended" in str(response.json()["active"])
    assert account_of(world.org).revision == revision and account_of(world.org).active


def test_the_system_account_cannot_be_suspended(world):
    with pytest.raises(ValidationError) as exc:
        svc.update_account(svc.system_account(), suspended=True)
    assert "suspended" in exc.value.message_dict
    assert svc.system_account().active


def test_empty_patch_changes_nothing(world, api):
    revision = account_of(world.org).revision
    api.force_authenticate(world.superuser)
    assert api.patch(account_url(world), {}, format="json").status_code == 200
    assert account_of(world.org).revision == revision


def test_read_only_fields_are_ignored(world, api):
    account = account_of(world.org)
    api.force_authenticate(world.superuser)
    body = {"public_key": "AXXX", "revision": 0, "jwt": "x", "revocations": {"U": 1}, "name": "evil"}
    assert api.patch(account_url(world), body, format="json").status_code == 200
    fresh = reload(account)
    assert (fresh.public_key, fresh.name, fresh.jwt) == (account.public_key, account.name, account.jwt)


def test_openapi_documents_the_nats_api(world, client):
    client.force_login(world.user("viewer"))
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    for path in [
        "/api/v1/orgs/{org_slug}/nats/account/",
        "/api/v1/orgs/{org_slug}/nats/account/signing-keys/",
        "/api/v1/orgs/{org_slug}/nats/account/signing-keys/{public_key}/",
        "/api/v1/orgs/{org_slug}/nats/account/signing-keys/rotate/",
        "/api/v1/orgs/{org_slug}/nats/roles/",
        "/api/v1/orgs/{org_slug}/nats/users/{id}/regenerate/",
        "/api/v1/orgs/{org_slug}/nats/exports/",
        "/api/v1/orgs/{org_slug}/nats/imports/",
        "/api/v1/me/nats-creds/rotate/",
    ]:
        assert path in paths, path
    creds = paths["/api/v1/orgs/{org_slug}/nats/users/{id}/creds/"]["get"]["responses"]["200"]["content"]
    assert list(creds) == ["text/plain"]
    user_fields = set(schema["components"]["schemas"]["NatsUser"]["properties"])
    assert not {"seed", "jwt"} & user_fields
    assert "seed" not in schema["components"]["schemas"]["Account"]["properties"]
