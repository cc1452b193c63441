import itertools
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from credentials.api.views.nats import NATS_READERS
from credentials.codecs import natsjwt as nj
from credentials.models import NatsUser
from credentials.services import nats as svc
from tenancy.models import Membership
from tenancy.roles import ALL_ROLES, MANAGERS
from tests.credentials.nats_support import (
    account_of,
    assert_no_secrets,
    claims,
    link_user,
    make_nats_user,
    make_role,
    membership_of,
    parse_creds,
    reload,
    unique,
)
from tests.support.authz import assert_access, expect

pytestmark = pytest.mark.django_db


def list_url(world, slug=None):
    return reverse("nats-api:natsuser-list", args=[slug or world.org.slug])


def detail_url(user, slug=None):
    return reverse("nats-api:natsuser-detail", args=[slug or user.organization.slug, user.pk])


def action_url(user, name, slug=None):
    return reverse(f"nats-api:natsuser-{name}", args=[slug or user.organization.slug, user.pk])


@pytest.fixture
def clock(monkeypatch):
    """The services' clock, one second later on each `tick()`: JWTs issued in the same second are equal."""
    state = {"now": svc.now()}
    monkeypatch.setattr(svc, "now", lambda: state["now"])

    def tick(seconds: int = 1) -> int:
        state["now"] += seconds
        return state["now"]

    return tick


# --- access --------------------------------------------------------------------------------------------------


def test_list_access(world):
    make_nats_user(world.org)
    assert_access(world, "get", list_url, expect(ALL_ROLES, 200))


def test_retrieve_access(world):
    device = make_nats_user(world.org)
    # Members and viewers only see their own linked user: a device user is "not found" for them.
    assert_access(world, "get", lambda w: detail_url(device), expect(NATS_READERS, 200, denied=404))


def test_create_access(world):
    role = make_role(world.org)
    assert_access(
        world,
        "post",
        list_url,
        expect(MANAGERS, 201),
        data_for=lambda w: {"name": unique("dev"), "role": role.pk},
    )


def test_update_access(world):
    assert_access(
        world,
        "patch",
        lambda w: detail_url(make_nats_user(w.org)),
        expect(MANAGERS, 200),
        data_for=lambda w: {"description": "moved to hall 2"},
    )


def test_delete_access(world):
    assert_access(world, "delete", lambda w: detail_url(make_nats_user(w.org)), expect(MANAGERS, 204))


@pytest.mark.parametrize("name", ["regenerate", "revoke", "deactivate", "reactivate"])
def test_action_access(world, name):
    assert_access(world, "post", lambda w: action_url(make_nats_user(w.org), name), expect(MANAGERS, 200))


def test_creds_access(world):
    # Auditors read user metadata, never credentials.
    assert_access(world, "get", lambda w: action_url(make_nats_user(w.org), "creds"), expect(MANAGERS, 200))


def test_members_and_viewers_see_only_their_own_linked_user(world, api):
    mine = link_user(membership_of(world, "member"))
    make_nats_user(world.org)
    link_user(membership_of(world, "admin"))
    api.force_authenticate(world.user("member"))
    assert [u["name"] for u in api.get(list_url(world)).json()["results"]] == [mine.name]
    assert api.get(detail_url(mine)).status_code == 200
    api.force_authenticate(world.user("viewer"))
    assert api.get(list_url(world)).json()["results"] == []
    assert api.get(detail_url(mine)).status_code == 404


def test_member_cannot_act_on_their_own_user_through_the_admin_routes(world, api):
    mine = link_user(membership_of(world, "member"))
    api.force_authenticate(world.user("member"))
    for name in ["regenerate", "revoke", "deactivate"]:
        assert api.post(action_url(mine, name)).status_code == 403
    assert api.get(action_url(mine, "creds")).status_code == 403
    assert api.patch(detail_url(mine), {"publish_allow": [">"]}, format="json").status_code == 403
    assert api.delete(detail_url(mine)).status_code == 403


def test_auditor_lists_every_user(world, api):
    device = make_nats_user(world.org)
    api.force_authenticate(world.user("auditor"))
    names = {u["name"] for u in api.get(list_url(world)).json()["results"]}
    assert names == {device.name, svc.PLATFORM_SERVICE_USER}


# --- cross-tenant --------------------------------------------------------------------------------------------


def test_foreign_user_is_not_found_through_own_organization(world, api):
    foreign = make_nats_user(world.other_org)
    api.force_authenticate(world.user("owner"))
    assert api.get(detail_url(foreign, "acme")).status_code == 404
    assert api.patch(detail_url(foreign, "acme"), {"description": "x"}, format="json").status_code == 404
    assert api.delete(detail_url(foreign, "acme")).status_code == 404
    for name in ["regenerate", "revoke", "deactivate", "reactivate"]:
        assert api.post(action_url(foreign, name, "acme")).status_code == 404
    assert api.get(action_url(foreign, "creds", "acme")).status_code == 404
    assert api.get(list_url(world, "globex")).status_code == 404
    assert reload(foreign).active and reload(foreign).description == ""


def test_foreign_role_is_rejected(world, api):
    foreign_role = make_role(world.other_org)
    api.force_authenticate(world.user("owner"))
    response = api.post(list_url(world), {"name": "dev", "role": foreign_role.pk}, format="json")
    assert response.status_code == 400
    assert "does not exist" in str(response.json()["role"])
    user = make_nats_user(world.org)
    response = api.patch(detail_url(user), {"role": foreign_role.pk}, format="json")
    assert response.status_code == 400
    assert reload(user).role is None


def test_foreign_membership_is_rejected(world, api):
    foreign = Membership.objects.get(user=world.outsider)
    api.force_authenticate(world.user("owner"))
    response = api.post(list_url(world), {"name": "charlie", "membership": foreign.pk}, format="json")
    assert response.status_code == 400
    assert "does not exist" in str(response.json()["membership"])
    assert not NatsUser.objects.filter(membership=foreign).exists()


def test_service_layer_also_refuses_cross_organization_relations(world):
    """Whichever door a change comes through, the model rejects a relation into another organization."""
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="another organization"):
        make_nats_user(world.org, role=make_role(world.other_org))
    with pytest.raises(ValidationError, match="another organization"):
        make_nats_user(
            world.org,
            owner_kind=NatsUser.OwnerKind.MEMBERSHIP,
            membership=Membership.objects.get(user=world.outsider),
        )


# --- linking a membership -----------------------------------------------------------------------------------


def test_manager_links_a_membership(world, api):
    membership = membership_of(world, "member")
    api.force_authenticate(world.user("admin"))
    response = api.post(list_url(world), {"name": "mia-laptop", "membership": membership.pk}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["owner_kind"] == "membership"
    assert body["membership_username"] == "mia"
    assert NatsUser.objects.get(pk=body["id"]).membership == membership


def test_a_membership_links_one_user(world, api):
    membership = membership_of(world, "member")
    link_user(membership)
    api.force_authenticate(world.user("admin"))
    response = api.post(list_url(world), {"name": "second", "membership": membership.pk}, format="json")
    assert response.status_code == 400
    assert "already linked" in str(response.json()["membership"])


def test_only_membership_users_link_a_membership(world, api):
    api.force_authenticate(world.user("admin"))
    body = {"name": "x", "owner_kind": "thing", "membership": membership_of(world, "member").pk}
    response = api.post(list_url(world), body, format="json")
    assert response.status_code == 400
    assert "membership" in response.json()


def test_member_cannot_link_their_membership_to_a_device_user(world, api):
    """§8.3: a member re-pointing their membership at a device identity would steal its credentials."""
    device = make_nats_user(world.org)
    api.force_authenticate(world.user("member"))
    response = api.patch(detail_url(device), {"membership": membership_of(world, "member").pk}, format="json")
    assert response.status_code == 403
    response = api.post(list_url(world), {"name": "x", "membership": membership_of(world, "member").pk})
    assert response.status_code == 403
    assert reload(device).membership is None


def test_service_users_cannot_be_created_through_the_api(world, api):
    api.force_authenticate(world.user("owner"))
    response = api.post(list_url(world), {"name": "svc", "owner_kind": "service"}, format="json")
    assert response.status_code == 400
    assert "owner_kind" in response.json()


def test_platform_service_user_is_read_only_for_tenants(world, api):
    service = NatsUser.objects.get(organization=world.org, name=svc.PLATFORM_SERVICE_USER)
    api.force_authenticate(world.user("owner"))
    assert api.get(detail_url(service)).status_code == 200
    assert api.patch(detail_url(service), {"publish_allow": [">"]}, format="json").status_code == 403
    assert api.delete(detail_url(service)).status_code == 403
    assert api.post(action_url(service, "revoke")).status_code == 403
    assert api.get(action_url(service, "creds")).status_code == 403
    assert ">" not in reload(service).publish_allow
    api.force_authenticate(world.superuser)
    assert api.post(action_url(service, "regenerate")).status_code == 200


# --- what the JWT grants -------------------------------------------------------------------------------------


def test_permissions_are_the_union_of_role_and_user(world, api):
    role = make_role(
        world.org, publish_allow=["telemetry.>"], publish_deny=["telemetry.secret"], subscribe_allow=["cmd.>"]
    )
    api.force_authenticate(world.user("admin"))
    body = {
        "name": "pump",
        "role": role.pk,
        "publish_allow": ["events.pump", "telemetry.>"],
        "subscribe_deny": ["cmd.reboot"],
    }
    response = api.post(list_url(world), body, format="json")
    assert response.status_code == 201, response.content
    effective = response.json()["effective_permissions"]
    assert effective == {
        "pub_allow": ["telemetry.>", "events.pump"],
        "pub_deny": ["telemetry.secret"],
        "sub_allow": ["cmd.>"],
        "sub_deny": ["cmd.reboot"],
        "scope": "",
    }
    nats = claims(NatsUser.objects.get(pk=response.json()["id"]).jwt)["nats"]
    assert nats["pub"] == {"allow": effective["pub_allow"], "deny": effective["pub_deny"]}
    assert nats["sub"] == {"allow": effective["sub_allow"], "deny": effective["sub_deny"]}


def test_empty_allow_list_allows_nothing(world, api):
    api.force_authenticate(world.user("admin"))
    response = api.post(list_url(world), {"name": "mute", "publish_deny": ["x.y"]}, format="json")
    assert response.status_code == 201
    assert response.json()["effective_permissions"] == {
        "pub_allow": [],
        "pub_deny": [">"],
        "sub_allow": [],
        "sub_deny": [">"],
        "scope": "",
    }
    nats = claims(NatsUser.objects.get(pk=response.json()["id"]).jwt)["nats"]
    assert nats["pub"] == {"deny": [">"]}
    assert nats["sub"] == {"deny": [">"]}


def test_empty_role_lists_allow_nothing_either(world):
    role = make_role(world.org, publish_allow=[], subscribe_allow=[])
    nats = claims(make_nats_user(world.org, role=role).jwt)["nats"]
    assert nats["pub"]["deny"] == [">"] and "allow" not in nats["pub"]
    assert nats["sub"]["deny"] == [">"] and "allow" not in nats["sub"]


def test_role_limits_responses_bearer_and_expiry_reach_the_jwt(world, api):
    role = make_role(world.org, allow_responses=True, response_max=3, response_ttl=10, max_payload=512)
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    api.force_authenticate(world.user("admin"))
    body = {"name": "kiosk", "role": role.pk, "bearer": True, "expires_at": expires.isoformat()}
    response = api.post(list_url(world), body, format="json")
    assert response.status_code == 201, response.content
    token = claims(NatsUser.objects.get(pk=response.json()["id"]).jwt)
    assert token["exp"] == int(expires.timestamp())
    assert token["nats"]["bearer_token"] is True
    assert token["nats"]["payload"] == 512
    assert token["nats"]["resp"] == {"max": 3, "ttl": 10_000_000_000}
    assert token["nats"]["issuer_account"] == account_of(world.org).public_key


def test_update_reissues_the_jwt(world, api, clock):
    user = make_nats_user(world.org)
    before = user.jwt
    clock()
    api.force_authenticate(world.user("admin"))
    response = api.patch(detail_url(user), {"subscribe_allow": ["cmd.pump.>"]}, format="json")
    assert response.status_code == 200
    user = reload(user)
    assert user.jwt != before
    assert claims(user.jwt)["nats"]["sub"] == {"allow": ["cmd.pump.>"]}


def test_owner_kind_is_fixed_after_creation(world, api):
    user = make_nats_user(world.org)
    api.force_authenticate(world.user("admin"))
    assert api.patch(detail_url(user), {"owner_kind": "membership"}, format="json").status_code == 200
    assert reload(user).owner_kind == "thing"


def test_names_are_unique_per_account(world, api):
    make_nats_user(world.org, name="pump")
    make_nats_user(world.other_org, name="valve")
    api.force_authenticate(world.user("admin"))
    response = api.post(list_url(world), {"name": "pump"}, format="json")
    assert response.status_code == 400
    assert "already exists" in str(response.json()["name"])
    assert api.post(list_url(world), {"name": "valve"}, format="json").status_code == 201


# --- lifecycle -----------------------------------------------------------------------------------------------


def test_regenerate_keeps_the_key_and_issues_a_new_jwt(world, api, clock):
    user = make_nats_user(world.org)
    key, jwt, revision = user.public_key, user.jwt, account_of(world.org).revision
    clock()
    api.force_authenticate(world.user("admin"))
    response = api.post(action_url(user, "regenerate"))
    assert response.status_code == 200
    user = reload(user)
    assert user.public_key == key == response.json()["public_key"]
    assert user.jwt != jwt
    assert claims(user.jwt)["iat"] > claims(jwt)["iat"]
    assert account_of(world.org).revision == revision  # nothing revoked, no account change


def test_revoke_issues_a_new_key_and_revokes_the_old_one(world, api):
    user = make_nats_user(world.org)
    old_key = user.public_key
    revision = account_of(world.org).revision
    api.force_authenticate(world.user("admin"))
    response = api.post(action_url(user, "revoke"))
    assert response.status_code == 200
    user = reload(user)
    account = account_of(world.org)
    assert user.active and user.public_key != old_key
    assert response.json()["public_key"] == user.public_key
    assert old_key in account.revocations
    assert account.revision == revision + 1
    assert claims(account.jwt)["nats"]["revocations"][old_key] == account.revocations[old_key]
    assert user.public_key not in account.revocations
    assert claims(user.jwt)["sub"] == user.public_key


def test_deactivate_and_reactivate(world, api):
    user = make_nats_user(world.org)
    key = user.public_key
    api.force_authenticate(world.user("admin"))
    response = api.post(action_url(user, "deactivate"))
    assert response.status_code == 200 and response.json()["active"] is False
    cutoff = account_of(world.org).revocations[key]
    assert api.get(action_url(user, "creds")).status_code == 400
    assert api.post(action_url(user, "regenerate")).status_code == 400
    revision = account_of(world.org).revision
    assert api.post(action_url(user, "deactivate")).status_code == 200  # idempotent
    assert account_of(world.org).revision == revision
    response = api.post(action_url(user, "reactivate"))
    assert response.status_code == 200 and response.json()["active"] is True
    user = reload(user)
    # A new key pair: the .creds handed out before the deactivation stay refused.
    assert user.public_key != key and response.json()["public_key"] == user.public_key
    assert claims(user.jwt)["sub"] == user.public_key
    assert account_of(world.org).revocations[key] == cutoff
    assert user.public_key not in account_of(world.org).revocations


def test_delete_revokes_the_key(world, api):
    user = make_nats_user(world.org)
    api.force_authenticate(world.user("owner"))
    assert api.delete(detail_url(user)).status_code == 204
    assert not NatsUser.objects.filter(pk=user.pk).exists()
    assert user.public_key in account_of(world.org).revocations


def test_removing_a_membership_deactivates_its_linked_user(world, api):
    membership = membership_of(world, "member")
    user = link_user(membership)
    api.force_authenticate(world.user("admin"))
    url = reverse("tenancy-api:membership-detail", args=["acme", membership.pk])
    assert api.delete(url).status_code == 204
    user = reload(user)
    assert user.active is False and user.membership is None
    assert user.public_key in account_of(world.org).revocations


# --- credentials ---------------------------------------------------------------------------------------------


def test_creds_download(world, api):
    user = make_nats_user(world.org, name="pump-7")
    api.force_authenticate(world.user("owner"))
    response = api.get(action_url(user, "creds"))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="pump-7.creds"'
    assert "no-store" in response["Cache-Control"]
    jwt, seed = parse_creds(response.content)
    assert jwt == reload(user).jwt  # issued by the download
    assert nj.keypair_from_seed(seed).public_key == user.public_key
    assert nj.decode(jwt)["sub"] == user.public_key


def test_creds_download_with_accept_text_plain(world, api):
    user = make_nats_user(world.org)
    api.force_authenticate(world.user("owner"))
    response = api.get(action_url(user, "creds"), HTTP_ACCEPT="text/plain")
    assert response.status_code == 200
    parse_creds(response.content)
    api.force_authenticate(world.user("auditor"))
    response = api.get(action_url(user, "creds"), HTTP_ACCEPT="text/plain")
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/plain")
    assert b"does not allow" in response.content


def test_creds_download_is_audited(world, api):
    user = make_nats_user(world.org)
    api.force_authenticate(world.user("admin"))
    assert api.get(action_url(user, "creds")).status_code == 200
    event = AuditEvent.objects.get(action="credential_read")
    assert event.object_type == "credentials.natsuser"
    assert event.object_id == str(user.pk)
    assert event.organization_id == world.org.pk
    assert event.actor_id == world.user("admin").pk
    assert event.extra["kind"] == "nats.creds"
    assert_no_secrets(str(event.extra) + event.object_repr)


def test_refused_creds_downloads_are_not_recorded_as_reads(world, api):
    user = make_nats_user(world.org)
    api.force_authenticate(world.user("auditor"))
    assert api.get(action_url(user, "creds")).status_code == 403
    assert not AuditEvent.objects.filter(action="credential_read").exists()


def test_creds_of_a_deactivated_user_are_refused(world, api):
    user = svc.deactivate_user(make_nats_user(world.org))
    api.force_authenticate(world.user("owner"))
    response = api.get(action_url(user, "creds"))
    assert response.status_code == 400
    assert "deactivated" in str(response.json())
    assert not AuditEvent.objects.filter(action="credential_read").exists()


def test_lists_and_details_never_carry_seeds_or_jwts(world, api):
    role = make_role(world.org)
    user = make_nats_user(world.org, role=role, bearer=True)
    link_user(membership_of(world, "member"))
    for who in ["owner", "auditor", "member"]:
        api.force_authenticate(world.user(who))
        for url in [list_url(world), detail_url(user)]:
            response = api.get(url)
            text = response.content.decode()
            assert_no_secrets(text)
            assert user.jwt not in text and '"jwt"' not in text and '"seed"' not in text


def test_list_query_count_is_constant(world, api, django_assert_max_num_queries):
    roles = [make_role(world.org) for _ in range(3)]
    counter = itertools.count()
    for i in range(15):
        make_nats_user(world.org, name=f"dev{next(counter)}", role=roles[i % 3])
    for role in ["member", "viewer", "auditor"]:
        link_user(membership_of(world, role))
    api.force_authenticate(world.user("admin"))
    # Organization, role, the page, then its roles, account and signing keys once each.
    with django_assert_max_num_queries(6):
        response = api.get(list_url(world))
    assert len(response.json()["results"]) == 19


def test_filter_and_search(world, api):
    role = make_role(world.org)
    device = make_nats_user(world.org, name="pump-1", role=role, description="north hall")
    person = link_user(membership_of(world, "member"))
    svc.deactivate_user(make_nats_user(world.org, name="old-pump"))
    api.force_authenticate(world.user("admin"))

    def names(**params):
        return sorted(u["name"] for u in api.get(list_url(world), params).json()["results"])

    assert names(role=role.pk) == [device.name]
    assert names(owner_kind="membership") == [person.name]
    assert names(has_membership="true") == [person.name]
    assert names(active="false") == ["old-pump"]
    assert names(search="north") == [device.name]
    assert names(role=make_role(world.other_org).pk) == []


def test_credential_flows_log_no_secrets(world, api, caplog):
    user = make_nats_user(world.org)
    link_user(membership_of(world, "member"))
    caplog.set_level("DEBUG")
    api.force_authenticate(world.user("owner"))
    api.get(action_url(user, "creds"))
    api.post(action_url(user, "revoke"))
    api.get(action_url(make_nats_user(world.other_org), "creds", "acme"))
    api.force_authenticate(world.user("member"))
    api.post(f"/api/v1/me/nats-creds/rotate/?org={world.org.slug}")
    assert caplog.records  # SQL and request logs were captured
    assert_no_secrets(caplog.text)
