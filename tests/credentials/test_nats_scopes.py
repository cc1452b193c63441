"""Scoped signing keys: a scope's users carry no permissions (their key's template grants them), stay on their
key through every reissue, and are revoked when their tags or their scope change."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from credentials.models import AccountSigningKey, NatsUser
from credentials.secrets import reveal
from credentials.services import nats as svc
from tests.credentials.nats_support import account_of, claims, make_nats_user, reload

SENSOR = {
    "pub_allow": ["acme.{{tag(location)}}.{{tag(thing)}}.>"],
    "sub_allow": ["cmd.{{tag(thing)}}.>", "_INBOX.{{tag(thing)}}.>"],
    "resp": {"max": 1, "ttl": 0},
}
TAGS = ["thing:s-01", "location:hq", "type:sensor"]


@pytest.fixture
def account(world):
    return account_of(world.org)


@pytest.fixture
def scope(account):
    return svc.set_user_scope(account, role="sensor", template=SENSOR, description="thing type sensor")


def scoped_user(account, scope, name="s-01", tags=TAGS, **fields) -> NatsUser:
    return svc.create_user(
        account=account, name=name, owner_kind=NatsUser.OwnerKind.THING, signing_key=scope, tags=tags, **fields
    )


def revoked(account, user) -> bool:
    return user.public_key in (reload(account).revocations or {})


def test_the_account_carries_the_scope_and_signing_it_queues_one_push(account, django_capture_on_commit_callbacks):
    revision = account.revision
    with django_capture_on_commit_callbacks() as pushes:
        key = svc.set_user_scope(account, role="sensor", template=SENSOR)
    account = reload(account)
    assert account.revision == revision + 1 and len(pushes) == 1
    (entry,) = [k for k in claims(account.jwt)["nats"]["signing_keys"] if isinstance(k, dict)]
    assert entry == {
        "kind": "user_scope",
        "key": key.public_key,
        "role": "sensor",
        "template": {
            "pub": {"allow": SENSOR["pub_allow"]},
            "sub": {"allow": SENSOR["sub_allow"]},
            "resp": {"max": 1, "ttl": 0},
            "subs": -1,
            "data": -1,
            "payload": -1,
        },
        "description": "",
    }
    plain = [k for k in claims(account.jwt)["nats"]["signing_keys"] if isinstance(k, str)]
    assert plain == list(svc.unscoped_signing_keys(account).values_list("public_key", flat=True))


def test_changing_a_scope_re_signs_once_and_reissues_nobody(account, scope):
    user = scoped_user(account, scope)
    jwt, revision = user.jwt, reload(account).revision
    svc.set_user_scope(account, role="sensor", template={"pub_allow": ["other.{{tag(thing)}}"]}, key=scope)
    assert reload(account).revision == revision + 1
    assert reload(user).jwt == jwt and not revoked(account, user)
    (entry,) = [k for k in claims(reload(account).jwt)["nats"]["signing_keys"] if isinstance(k, dict)]
    assert entry["template"]["pub"] == {"allow": ["other.{{tag(thing)}}"]}


def test_an_unchanged_scope_signs_nothing(account, scope):
    revision = reload(account).revision
    svc.set_user_scope(account, role="sensor", template=SENSOR, key=scope, description="thing type sensor")
    assert reload(account).revision == revision


@pytest.mark.parametrize(
    "template",
    [
        {"pub_allow": ["bad subject"]},
        {"pub_allow": "acme.>"},
        {"publish": ["acme.>"]},
        {"resp": {"max": 1, "tll": 3}},
        {"subs": "many"},
        [],
    ],
)
def test_a_bad_template_is_refused_with_a_message(account, template):
    revision = reload(account).revision
    with pytest.raises(ValidationError):
        svc.set_user_scope(account, role="broken", template=template)
    assert reload(account).revision == revision and not AccountSigningKey.objects.filter(scope_role="broken").exists()


def test_a_scope_of_another_account_or_an_unscoped_key_is_refused(world, account, scope):
    other = account_of(world.other_org)
    with pytest.raises(ValidationError, match="no such signing key"):
        svc.set_user_scope(other, role="x", template={}, key=scope)
    plain = svc.unscoped_signing_keys(account).get()
    with pytest.raises(ValidationError, match="not scoped"):
        svc.set_user_scope(account, role="x", template={}, key=plain)


def test_a_scoped_user_is_issued_by_its_scope_with_no_permissions_and_its_tags(account, scope):
    user = scoped_user(account, scope)
    payload = claims(user.jwt)
    assert payload["iss"] == scope.public_key and payload["name"] == "s-01"
    assert payload["nats"] == {
        "pub": {},
        "sub": {},
        "issuer_account": account.public_key,
        "tags": TAGS,
        "type": "user",
        "version": 2,
    }
    assert user.signing_key == scope


def test_other_users_never_get_a_scoped_key(account, scope):
    """The scope is the newest key of the account: an unscoped user must still get an unscoped one."""
    assert svc.newest_signing_key(account.signing_keys.all()) == scope
    user = make_nats_user(account.organization, publish_allow=["telemetry.>"])
    assert claims(user.jwt)["iss"] != scope.public_key
    assert not user.signing_key.is_scoped
    user = svc.regenerate_user(user)
    assert not user.signing_key.is_scoped
    jwt, seed = svc.system_push_credentials()
    assert claims(jwt)["iss"] in svc.unscoped_signing_keys(svc.system_account()).values_list("public_key", flat=True)


def test_a_scoped_user_stays_on_its_scope_through_every_reissue(account, scope):
    user = scoped_user(account, scope)
    for action in (svc.regenerate_user, svc.revoke_user, svc.user_creds):
        action(user)
        user = reload(user)
        assert claims(user.jwt)["iss"] == scope.public_key and user.signing_key == scope
    svc.deactivate_user(user)
    user = svc.reactivate_user(reload(user))
    assert claims(user.jwt)["iss"] == scope.public_key and claims(user.jwt)["nats"]["pub"] == {}


def test_a_scoped_user_carries_no_permissions_of_its_own(world, account, scope):
    from tests.credentials.nats_support import make_role

    for fields in (
        {"publish_allow": ["x"]},
        {"subscribe_deny": ["y"]},
        {"bearer": True},
        {"role": make_role(world.org)},
    ):
        with pytest.raises(ValidationError, match="Permissions come from the scope 'sensor'"):
            scoped_user(account, scope, name=f"bad-{len(fields)}-{next(iter(fields))}", **fields)
    user = scoped_user(account, scope)
    with pytest.raises(ValidationError, match="Permissions come from the scope"):
        svc.update_user(user, publish_allow=["x"])


def test_a_scoped_key_of_another_account_is_refused(world, account, scope):
    other = account_of(world.other_org)
    with pytest.raises(ValidationError, match="another account"):
        svc.create_user(account=other, name="s-01", signing_key=scope, tags=TAGS)


@pytest.mark.parametrize(
    "tags",
    [
        ["thing"],
        ["Thing:x"],
        ["thing:a.b"],
        ["thing:a b"],
        ["thing:>"],
        ["thing:*"],
        ["thing:a", "thing:b"],
        "x:y",
        [5],
    ],
)
def test_bad_tags_are_refused(account, scope, tags):
    with pytest.raises(ValidationError):
        scoped_user(account, scope, tags=tags)


def test_a_moved_thing_is_reissued_with_its_new_tags_and_its_old_jwt_revoked(account, scope):
    """The old JWT's `location:hq` tag still grants the old location's subjects until it is revoked."""
    user = scoped_user(account, scope)
    user = svc.update_user(user, tags=["thing:s-01", "location:lab", "type:sensor"])
    assert claims(user.jwt)["nats"]["tags"] == ["thing:s-01", "location:lab", "type:sensor"]
    assert revoked(account, user)
    assert int(reload(account).revocations[user.public_key]) < user.jwt_iat


def test_a_thing_of_another_type_moves_to_its_scope_and_its_old_jwt_is_revoked(account, scope):
    actuator = svc.set_user_scope(account, role="actuator", template={"sub_allow": ["act.{{tag(thing)}}"]})
    user = scoped_user(account, scope)
    user = svc.update_user(user, signing_key=actuator)  # same tags: the key alone changes the contract
    assert claims(user.jwt)["iss"] == actuator.public_key and user.signing_key == actuator
    assert revoked(account, user)


def test_an_unchanged_scoped_user_is_not_revoked(account, scope):
    user = svc.update_user(scoped_user(account, scope), description="pump house")
    assert not revoked(account, user)


def test_effective_permissions_of_a_scoped_user_come_from_its_scope_expanded(account, scope):
    perms = svc.effective_permissions(scoped_user(account, scope))
    assert perms.scope == "sensor"
    assert perms.pub_allow == ["acme.hq.s-01.>"]
    assert perms.sub_allow == ["cmd.s-01.>", "_INBOX.s-01.>"]
    assert perms.pub_deny == [] and perms.sub_deny == []


def test_a_template_subject_missing_its_tag_grants_nothing(account):
    scope = svc.set_user_scope(account, role="r", template={"pub_allow": ["a.{{tag(site)}}", "b.{{name()}}"]})
    perms = svc.effective_permissions(scoped_user(account, scope))
    assert perms.pub_allow == ["b.s-01"]


def test_deleting_a_scope_is_refused_while_an_active_user_holds_it(account, scope):
    user = scoped_user(account, scope)
    with pytest.raises(ValidationError, match="still used by NATS user 's-01'"):
        svc.delete_user_scope(scope)
    svc.deactivate_user(user)
    revision = reload(account).revision
    svc.delete_user_scope(scope)
    assert not AccountSigningKey.objects.filter(pk=scope.pk).exists()
    assert reload(account).revision == revision + 1
    assert scope.public_key not in str(claims(reload(account).jwt)["nats"]["signing_keys"])


def test_remove_signing_key_refuses_a_scope_and_counts_only_unscoped_keys(account, scope):
    with pytest.raises(ValidationError, match="scope 'sensor'"):
        svc.remove_signing_key(account, scope.public_key)
    plain = svc.unscoped_signing_keys(account).get()
    with pytest.raises(ValidationError, match="at least one signing key"):
        svc.remove_signing_key(account, plain.public_key)


def test_rotation_gives_each_scope_a_new_key_and_keeps_everyone_on_their_kind_of_key(account, scope):
    thing = scoped_user(account, scope)
    person = make_nats_user(account.organization, publish_allow=["a"])
    old_scope_key, old_plain = scope.public_key, person.signing_key.public_key
    assert svc.rotate_signing_keys(account) == 3  # the platform service user too
    scope = reload(scope)
    assert scope.public_key != old_scope_key and reveal(scope, "seed").startswith("SA")
    assert (scope.scope_role, scope.scope_template) == ("sensor", SENSOR)
    thing, person = reload(thing), reload(person)
    assert claims(thing.jwt)["iss"] == scope.public_key and thing.signing_key == scope
    assert claims(thing.jwt)["nats"]["pub"] == {}
    assert not person.signing_key.is_scoped and claims(person.jwt)["iss"] != old_plain
    keys = claims(reload(account).jwt)["nats"]["signing_keys"]
    assert old_scope_key not in str(keys) and old_plain not in keys
    assert [k["key"] for k in keys if isinstance(k, dict)] == [scope.public_key]


def test_minted_users_are_what_create_user_makes(account, scope):
    minted = svc.mint_scoped_users(account, scope, [("s-01", TAGS, "thing"), ("s-02", ["thing:s-02"], "thing")])
    assert all(u.pk is None or not NatsUser.objects.filter(pk=u.pk).exists() for u in minted)
    svc.insert_minted_users(minted)
    first = NatsUser.objects.get(name="s-01")
    assert reveal(first, "seed").startswith("SU")
    assert claims(first.jwt)["nats"] == claims(scoped_user(account, scope, name="s-03").jwt)["nats"]
    assert claims(first.jwt)["iss"] == scope.public_key and first.signing_key == scope
    assert first.jwt_exp == first.jwt_iat + svc.jwt_lifetime("thing") == first.key_jwts_expire_by
    # The creds download works on a minted user, and it stays on its scope.
    assert claims(svc.user_creds(first).split("\n")[1])["iss"] == scope.public_key


def test_minting_refuses_bad_tags_and_unscoped_keys(account, scope):
    with pytest.raises(ValidationError):
        svc.mint_scoped_users(account, scope, [("s-01", ["thing:a.b"], "thing")])
    with pytest.raises(ValidationError, match="not scoped"):
        svc.mint_scoped_users(account, svc.unscoped_signing_keys(account).get(), [("s-01", TAGS, "thing")])


# --- What the API and the admin show ---------------------------------------------------------------------------


def test_the_api_shows_a_scoped_users_permissions_as_its_scopes(world, api, account, scope):
    from django.urls import reverse

    user = scoped_user(account, scope)
    api.force_authenticate(world.user("admin"))
    body = api.get(reverse("nats-api:natsuser-detail", args=[world.org.slug, user.pk])).json()
    assert body["effective_permissions"] == {
        "pub_allow": ["acme.hq.s-01.>"],
        "pub_deny": [],
        "sub_allow": ["cmd.s-01.>", "_INBOX.s-01.>"],
        "sub_deny": [],
        "scope": "sensor",
    }
    assert body["tags"] == TAGS and body["signing_key"] == scope.public_key
    listed = api.get(reverse("nats-api:natsuser-list", args=[world.org.slug]), {"search": "s-01"}).json()
    assert listed["results"][0]["effective_permissions"]["scope"] == "sensor"
    # A scoped user's own permissions cannot be set through the API either.
    url = reverse("nats-api:natsuser-detail", args=[world.org.slug, user.pk])
    response = api.patch(url, {"publish_allow": ["x"]}, format="json")
    assert response.status_code == 400 and "scope 'sensor'" in response.content.decode()
    keys = api.get(reverse("nats-api:account", args=[world.org.slug])).json()["signing_keys"]
    assert {k["public_key"]: k["scope_role"] for k in keys}[scope.public_key] == "sensor"


def test_the_admin_says_where_a_scoped_users_permissions_come_from(world, client, account, scope):
    from django.urls import reverse

    user = scoped_user(account, scope)
    client.force_login(world.user("admin"))
    page = client.get(reverse("admin:credentials_natsuser_change", args=[user.pk])).content.decode()
    assert "From the scope" in page and "sensor" in page and "acme.hq.s-01.&gt;" in page
    response = client.post(
        reverse("admin:credentials_natsuser_change", args=[user.pk]),
        {"name": user.name, "description": "", "publish_allow": '["x"]', "publish_deny": "[]",
         "subscribe_allow": "[]", "subscribe_deny": "[]", "expires_at_0": "", "expires_at_1": ""},
    )  # fmt: skip
    assert response.status_code == 200 and "Permissions come from the scope" in response.content.decode()
    assert reload(user).publish_allow == []
    client.force_login(world.superuser)
    page = client.get(reverse("admin:credentials_account_change", args=[account.pk])).content.decode()
    assert "sensor" in page
    assert reverse("admin:credentials_account_remove_signing_key", args=[account.pk, scope.pk]) not in page
