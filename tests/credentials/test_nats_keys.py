"""NATS key handling: user JWT lifetimes and renewal, pruning the account's revocations, no account identity
seed kept, and reactivation with a new key pair."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.urls import reverse

from credentials import secrets
from credentials.codecs import natsjwt as nj
from credentials.models import Account, AccountSigningKey, NatsUser
from credentials.services import nats as svc
from credentials.tasks import nats as tasks
from stoneage import settings as project_settings
from tests.credentials.nats_support import (
    account_of,
    claims,
    link_user,
    make_nats_user,
    membership_of,
    parse_creds,
    reload,
)

pytestmark = pytest.mark.django_db

DAY = 24 * 3600
#: nats-server's default max_payload: an account JWT is pushed in one message.
MAX_PAYLOAD = 1024 * 1024


@pytest.fixture
def clock(monkeypatch):
    state = {"now": svc.now()}
    monkeypatch.setattr(svc, "now", lambda: state["now"])

    def tick(seconds: int = 0) -> int:
        state["now"] += seconds
        return state["now"]

    return tick


@pytest.fixture
def lifetimes(settings):
    """Short lifetimes: devices 1000 s, people 100 s, services 100 s; prune margin 60 s."""
    settings.NATS_USER_JWT_LIFETIME = {"thing": 1000, "leaf_node": 1000, "membership": 100, "service": 100}
    settings.NATS_USER_JWT_RENEW_FRACTION = 0.2
    settings.NATS_REVOCATION_PRUNE_MARGIN = 60
    return settings.NATS_USER_JWT_LIFETIME


def revoked(account: Account, jwt: str) -> bool:
    """What nats-server decides: a JWT is refused when its key's (or `*`'s) cutoff is at or after its iat."""
    token = claims(jwt)
    revocations = reload(account).revocations
    return any(int(revocations.get(k, -1)) >= token["iat"] for k in (token["sub"], "*"))


# --- Lifetimes -----------------------------------------------------------------------------------------------


def test_default_lifetimes_are_long_for_devices_and_shorter_for_people():
    lifetime = project_settings.NATS_USER_JWT_LIFETIME
    assert set(lifetime) == set(NatsUser.OwnerKind.values)
    assert lifetime["thing"] == lifetime["leaf_node"] == 365 * DAY
    assert lifetime["membership"] == lifetime["service"] == 30 * DAY


def test_device_and_person_jwts_expire_after_the_lifetime_of_their_kind(world, lifetimes):
    device = make_nats_user(world.org)
    person = link_user(membership_of(world, "member"))
    assert claims(device.jwt)["exp"] == claims(device.jwt)["iat"] + 1000 == device.jwt_exp
    assert claims(person.jwt)["exp"] == claims(person.jwt)["iat"] + 100 == person.jwt_exp


def test_the_users_own_end_date_cuts_the_lifetime_short(world, lifetimes, clock):
    ends = datetime.fromtimestamp(clock() + 300, tz=UTC)
    user = make_nats_user(world.org, expires_at=ends)
    assert claims(user.jwt)["exp"] == int(ends.timestamp())


def test_no_expiry_only_when_configured(world, settings):
    settings.NATS_USER_JWT_LIFETIME = {**settings.NATS_USER_JWT_LIFETIME, "thing": 0}
    user = make_nats_user(world.org)
    assert "exp" not in claims(user.jwt) and user.jwt_exp == 0 and user.key_jwts_expire_by is None
    del settings.NATS_USER_JWT_LIFETIME["thing"]
    with pytest.raises(ImproperlyConfigured, match=r"NATS_USER_JWT_LIFETIME\['thing'\]"):
        make_nats_user(world.org)


def test_a_creds_download_carries_a_jwt_issued_at_that_moment(world, api, lifetimes, clock):
    user = make_nats_user(world.org)
    api.force_authenticate(world.user("owner"))
    at = clock(700)
    response = api.get(reverse("nats-api:natsuser-creds", args=[world.org.slug, user.pk]))
    assert response.status_code == 200
    jwt, _ = parse_creds(response.content)
    assert (claims(jwt)["iat"], claims(jwt)["exp"]) == (at, at + 1000)
    assert claims(jwt)["sub"] == user.public_key and not revoked(account_of(world.org), user.jwt)


def test_the_beat_renews_held_jwts_near_their_expiry_and_only_those(world, lifetimes, clock):
    start = clock()
    due = make_nats_user(world.org)
    capped = make_nats_user(world.org, expires_at=datetime.fromtimestamp(start + 900, tz=UTC))
    inactive = svc.deactivate_user(make_nats_user(world.org))
    at = clock(850)  # 150 s of 1000 left: within the last fifth
    fresh = make_nats_user(world.org)
    before = {u.pk: reload(u).jwt for u in (capped, inactive, fresh)}

    assert tasks.renew_user_jwts() == {"renewed": 1}

    old_jwt, due = due.jwt, reload(due)
    assert (claims(due.jwt)["iat"], due.jwt_exp) == (at, at + 1000)
    assert claims(due.jwt)["sub"] == claims(old_jwt)["sub"]  # same key; the old JWT is not revoked
    assert not revoked(account_of(world.org), old_jwt)
    assert {u.pk: reload(u).jwt for u in (capped, inactive, fresh)} == before


# --- Pruning revocations -------------------------------------------------------------------------------------


def test_a_revocation_stays_until_every_jwt_it_refuses_has_expired(world, lifetimes, clock):
    user = make_nats_user(world.org)
    first = user.jwt
    clock(400)
    user = svc.regenerate_user(user)  # a second JWT of the same key, expiring 400 s later
    svc.deactivate_user(user)
    account = account_of(world.org)
    assert account.revocation_expiries[user.public_key] == claims(user.jwt)["exp"]

    clock(claims(first)["exp"] - clock() + 61)  # the first JWT expired, the second has not
    assert svc.prune_account_revocations(account) == 0
    assert revoked(account, user.jwt)

    clock(claims(user.jwt)["exp"] - clock() + 59)  # expired, but within the margin for lagging clocks
    assert svc.prune_account_revocations(account) == 0

    clock(2)
    revision = reload(account).revision
    assert svc.prune_account_revocations(account) == 1
    account = reload(account)
    assert account.revision == revision + 1
    assert user.public_key not in account.revocations and user.public_key not in account.revocation_expiries
    assert "revocations" not in claims(account.jwt)["nats"]


def test_every_account_change_prunes(world, lifetimes, clock):
    user = svc.deactivate_user(make_nats_user(world.org))
    clock(1000 + 61)
    account = svc.update_account(account_of(world.org), max_connections=5)
    assert user.public_key not in account.revocations
    assert user.public_key not in claims(account.jwt)["nats"].get("revocations", {})


def test_revocations_of_jwts_that_never_expire_or_of_unknown_keys_stay(world, settings, clock):
    settings.NATS_USER_JWT_LIFETIME = {**settings.NATS_USER_JWT_LIFETIME, "thing": 0}
    forever = svc.deactivate_user(make_nats_user(world.org))
    stranger = nj.create_user().public_key
    svc.revoke_keys(account_of(world.org), [stranger])
    clock(100 * 365 * DAY)
    assert tasks.prune_revocations() == {"pruned": 0}
    assert {forever.public_key, stranger} <= set(account_of(world.org).revocations)


def test_a_key_whose_earlier_revocation_had_no_known_expiry_keeps_none(world, lifetimes, clock):
    """An entry from before JWTs expired (no expiry recorded) may cover a JWT that never expires."""
    user = make_nats_user(world.org)
    account = account_of(world.org)
    Account.objects.filter(pk=account.pk).update(revocations={user.public_key: clock() - 10})
    clock(5)
    svc.revoke_user(user)
    assert user.public_key not in account_of(world.org).revocation_expiries
    clock(10 * 365 * DAY)
    assert svc.prune_account_revocations(account) == 0


def test_entries_covered_by_the_everyone_cutoff_go_and_it_stays(world, clock):
    at = clock()
    earlier, later = nj.create_user().public_key, nj.create_user().public_key
    account = account_of(world.org)
    Account.objects.filter(pk=account.pk).update(revocations={"*": at, earlier: at - 10, later: at + 10})
    assert svc.prune_account_revocations(account) == 1
    assert account_of(world.org).revocations == {"*": at, later: at + 10}


def test_twenty_thousand_revocations_outgrow_max_payload_until_pruned(world, lifetimes, clock, capsys):
    at = clock()
    live = svc.deactivate_user(make_nats_user(world.org))  # its JWT has 1000 s to live: kept
    account = account_of(world.org)
    stale = {nj.create_user().public_key: at - 400 * DAY + i for i in range(20_000)}
    legacy = nj.create_user().public_key  # revoked before JWTs expired: kept
    Account.objects.filter(pk=account.pk).update(
        revocations={**account.revocations, **stale, legacy: at - 500 * DAY},
        # the last JWT each of these revoked expired 35 days ago
        revocation_expiries={**account.revocation_expiries, **{k: c + 365 * DAY for k, c in stale.items()}},
    )

    account = reload(account)
    assert len(account.revocations) == 20_002
    before = len(nj.encode(svc.account_claims(account), svc.operator_signer()))
    assert svc.prune_account_revocations(account) == 20_000
    account = reload(account)
    after = len(account.jwt)
    with capsys.disabled():
        print(f"\naccount JWT with 20,002 revocations: {before:,} bytes; after pruning 20,000: {after:,} bytes")
    assert before > MAX_PAYLOAD > after
    assert set(account.revocations) == {legacy, live.public_key}
    assert set(claims(account.jwt)["nats"]["revocations"]) == {legacy, live.public_key}


# --- Account identity seeds ----------------------------------------------------------------------------------


def test_no_account_identity_seed_is_kept(world):
    """Accounts are signed by operator signing keys and users by account signing keys: the only account
    seeds in the database are signing keys'."""
    account_seeds = set()
    for field in secrets.encrypted_fields():
        for obj in field.model._base_manager.exclude(**{field.attname: ""}):
            value = secrets.reveal(obj, field.name)
            if value.startswith("SA"):
                account_seeds.add(nj.keypair_from_seed(value).public_key)
    assert Account.objects.count() == 3  # SYS and the two organizations'
    assert account_seeds == set(AccountSigningKey.objects.values_list("public_key", flat=True))
    assert not account_seeds & set(Account.objects.values_list("public_key", flat=True))


# --- Reactivation --------------------------------------------------------------------------------------------


def test_reactivating_gives_a_new_key_and_the_old_one_stays_revoked(world, clock):
    user = make_nats_user(world.org)
    old_key, old_jwt = user.public_key, user.jwt
    svc.deactivate_user(user)
    clock(5)
    user = svc.reactivate_user(user)
    account = account_of(world.org)
    assert user.active and user.public_key != old_key
    assert claims(user.jwt)["sub"] == user.public_key == nj.keypair_from_seed(secrets.reveal(user, "seed")).public_key
    assert revoked(account, old_jwt) and not revoked(account, user.jwt)
    assert old_key in claims(account.jwt)["nats"]["revocations"]


def test_reactivating_a_user_deactivated_outside_the_actions_revokes_its_old_key(world):
    user = make_nats_user(world.org)
    old_jwt = user.jwt
    NatsUser.objects.filter(pk=user.pk).update(active=False)
    user = svc.reactivate_user(user)
    assert revoked(account_of(world.org), old_jwt) and not revoked(account_of(world.org), user.jwt)


def test_reactivating_an_active_user_changes_nothing(world):
    user = make_nats_user(world.org)
    assert svc.reactivate_user(user).public_key == user.public_key
    assert user.public_key not in account_of(world.org).revocations


def test_a_key_held_by_its_device_is_not_reactivated_from_here(world):
    user = svc.deactivate_user(make_nats_user(world.org))
    NatsUser.objects.filter(pk=user.pk).update(seed="")  # as when the device supplied its public key
    with pytest.raises(ValidationError, match="must enroll a new key"):
        svc.reactivate_user(user)
    assert not reload(user).active


def test_the_admin_reactivates_with_a_new_key(world, client):
    user = svc.deactivate_user(make_nats_user(world.org))
    old_key = user.public_key
    client.force_login(world.user("owner"))
    data = {"action": "reactivate", "_selected_action": [user.pk]}
    client.post(reverse("admin:credentials_natsuser_changelist"), data)
    user = reload(user)
    assert user.active and user.public_key != old_key
    assert old_key in account_of(world.org).revocations
