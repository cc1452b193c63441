"""Security regressions of the NATS credentials: revocation gaps, stale-instance races, secrets in repr."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from credentials.codecs import natsjwt as nj
from credentials.models import NatsUser
from credentials.services import nats as svc
from tests.credentials.nats_support import (
    account_of,
    claims,
    link_user,
    make_nats_user,
    make_role,
    membership_of,
    parse_creds,
    reload,
)

pytestmark = pytest.mark.django_db


def role_url(role):
    return reverse("nats-api:natsrole-detail", args=[role.organization.slug, role.pk])


def user_url(user):
    return reverse("nats-api:natsuser-detail", args=[user.organization.slug, user.pk])


def is_revoked(jwt: str, org) -> bool:
    """What nats-server decides: a JWT is revoked when its key's cutoff is at or after its `iat`."""
    token = claims(jwt)
    cutoff = account_of(org).revocations.get(token["sub"])
    return cutoff is not None and int(cutoff) >= token["iat"]


@pytest.fixture
def clock(monkeypatch):
    state = {"now": svc.now()}
    monkeypatch.setattr(svc, "now", lambda: state["now"])

    def tick(seconds: int = 1) -> int:
        state["now"] += seconds
        return state["now"]

    return tick


# --- Reissuing with fewer grants revokes the earlier JWTs ------------------------------------------------------


def test_narrowing_a_role_revokes_the_earlier_jwts_of_its_users(world, api, clock):
    role = make_role(world.org, publish_allow=["telemetry.>", "admin.>"])
    holder = make_nats_user(world.org, role=role)
    old_jwt = holder.jwt
    clock()
    api.force_authenticate(world.user("admin"))
    response = api.patch(role_url(role), {"publish_allow": ["telemetry.>"]}, format="json")
    assert response.status_code == 200, response.content
    new_jwt = reload(holder).jwt
    assert claims(new_jwt)["nats"]["pub"]["allow"] == ["telemetry.>"]
    assert is_revoked(old_jwt, world.org), "the JWT that still allows admin.> keeps working"
    assert not is_revoked(new_jwt, world.org)


def test_a_new_deny_on_a_role_revokes_the_earlier_jwts(world, api, clock):
    role = make_role(world.org, subscribe_allow=["commands.>"])
    holder = make_nats_user(world.org, role=role)
    old_jwt = holder.jwt
    clock()
    api.force_authenticate(world.user("admin"))
    assert api.patch(role_url(role), {"subscribe_deny": ["commands.reboot"]}, format="json").status_code == 200
    assert is_revoked(old_jwt, world.org)
    assert not is_revoked(reload(holder).jwt, world.org)


def test_widening_a_role_or_editing_its_description_keeps_earlier_jwts_valid(world, api, clock):
    role = make_role(world.org, publish_allow=["telemetry.>"])
    holder = make_nats_user(world.org, role=role)
    old_jwt, revision = holder.jwt, account_of(world.org).revision
    clock()
    api.force_authenticate(world.user("admin"))
    assert api.patch(role_url(role), {"description": "sensors"}, format="json").status_code == 200
    assert api.patch(role_url(role), {"publish_allow": ["telemetry.>", "events.>"]}, format="json").status_code == 200
    assert not is_revoked(old_jwt, world.org)
    assert account_of(world.org).revision == revision  # no revocation, no account change to push


def test_allowing_something_to_a_user_that_had_nothing_revokes_nothing(world, api, clock):
    user = make_nats_user(world.org)  # no role, no lists: denies `>`
    old_jwt = user.jwt
    clock()
    api.force_authenticate(world.user("admin"))
    assert api.patch(user_url(user), {"subscribe_allow": ["cmd.>"]}, format="json").status_code == 200
    assert not is_revoked(old_jwt, world.org)


@pytest.mark.parametrize(
    ("start", "change"),
    [
        ({"publish_allow": ["a.>", "b.>"]}, {"publish_allow": ["a.>"]}),
        ({"subscribe_allow": ["a.>"]}, {"subscribe_allow": []}),
        ({"publish_allow": ["a.>"]}, {"publish_deny": ["a.secret"]}),
        ({"bearer": True}, {"bearer": False}),
        ({}, {"expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}),
    ],
    ids=["fewer-allows", "empty-allow", "new-deny", "bearer-off", "expiry-added"],
)
def test_updating_a_user_to_grant_less_revokes_its_earlier_jwt(world, api, clock, start, change):
    user = make_nats_user(world.org, **{k: v for k, v in start.items()})
    old_jwt = user.jwt
    clock()
    api.force_authenticate(world.user("admin"))
    response = api.patch(user_url(user), change, format="json")
    assert response.status_code == 200, response.content
    assert is_revoked(old_jwt, world.org)
    assert not is_revoked(reload(user).jwt, world.org)


def test_shortening_an_expiry_revokes_the_longer_lived_jwt(world, clock):
    later = datetime.now(UTC) + timedelta(days=30)
    user = make_nats_user(world.org, publish_allow=["a.>"], expires_at=later)
    old_jwt = user.jwt
    clock()
    svc.update_user(user, expires_at=later - timedelta(days=29))
    assert is_revoked(old_jwt, world.org)
    clock()
    newer = reload(user).jwt
    svc.update_user(reload(user), expires_at=later)  # longer again: nothing taken away
    assert not is_revoked(newer, world.org)


# --- Stale instances cannot revive revoked credentials ---------------------------------------------------------


def test_a_stale_instance_cannot_reissue_a_deactivated_users_jwt(world, clock):
    stale = make_nats_user(world.org, publish_allow=["a.>"])
    svc.deactivate_user(NatsUser.objects.get(pk=stale.pk))  # e.g. the membership was removed meanwhile
    clock()
    with pytest.raises(ValidationError):
        svc.regenerate_user(stale)
    with pytest.raises(ValidationError):
        svc.revoke_user(stale)
    svc.update_user(stale, description="edited concurrently")
    user = reload(stale)
    assert user.active is False
    assert is_revoked(user.jwt, world.org)


def test_a_stale_instance_of_a_reissued_role_holder_keeps_it_deactivated(world, clock):
    role = make_role(world.org)
    stale = make_nats_user(world.org, role=role)
    svc.deactivate_user(NatsUser.objects.get(pk=stale.pk))
    clock()
    svc.reissue_role_users(role)
    svc.deactivate_user(stale)  # idempotent on the stale copy: no second revocation, no reactivation
    user = reload(stale)
    assert user.active is False and is_revoked(user.jwt, world.org)


def test_regenerating_my_own_creds_returns_the_new_jwt(world, api, clock):
    membership = membership_of(world, "member")
    user = link_user(membership, publish_allow=["a.>"])
    before = user.jwt
    clock()
    api.force_authenticate(world.user("member"))
    response = api.post(reverse("nats-api:my-nats-creds-rotate") + "?org=acme")
    assert response.status_code == 200
    jwt, _ = parse_creds(response.content.decode())
    assert jwt == reload(user).jwt != before


# --- Moving a person's identity to another membership ----------------------------------------------------------


def test_relinking_a_membership_user_revokes_the_previous_persons_key(world, api):
    user = link_user(membership_of(world, "member"), publish_allow=["a.>"])
    old_key, old_jwt = user.public_key, user.jwt
    api.force_authenticate(world.user("admin"))
    response = api.patch(user_url(user), {"membership": membership_of(world, "viewer").pk}, format="json")
    assert response.status_code == 200, response.content
    user = reload(user)
    assert user.public_key != old_key, "the member who left still holds this user's seed"
    assert is_revoked(old_jwt, world.org)
    assert claims(user.jwt)["sub"] == user.public_key and not is_revoked(user.jwt, world.org)


def test_unlinking_a_membership_user_revokes_the_previous_persons_key(world, api):
    user = link_user(membership_of(world, "member"), publish_allow=["a.>"])
    old_key = user.public_key
    api.force_authenticate(world.user("admin"))
    assert api.patch(user_url(user), {"membership": None}, format="json").status_code == 200
    assert reload(user).public_key != old_key
    assert old_key in account_of(world.org).revocations


# --- A person who can no longer sign in keeps no working NATS credentials --------------------------------------


def test_deactivating_a_person_deactivates_their_nats_users(world):
    person = world.user("member")
    user = link_user(membership_of(world, "member"), publish_allow=["a.>"])
    person.is_active = False
    person.save()
    user = reload(user)
    assert user.active is False
    assert is_revoked(user.jwt, world.org)


def test_deleting_a_person_deactivates_their_nats_users(world):
    user = link_user(membership_of(world, "member"), publish_allow=["a.>"])
    world.user("member").delete()
    user = reload(user)
    assert user.active is False and user.membership is None
    assert is_revoked(user.jwt, world.org)


# --- Secrets stay out of repr ----------------------------------------------------------------------------------


def test_minted_credentials_keep_the_seed_out_of_repr():
    minted = nj.mint_user_credentials(nj.UserClaims(name="x"), nj.create_account())
    assert minted.seed not in repr(minted)
