"""Scoped signing keys (wire-formats §1.10): an account's `user_scope` signing keys and the users they sign.

The expected texts are written out member by member in Go's struct order (nats-io/jwt v2.8.2 `UserScope`,
`UserPermissionLimits`, `SigningKeys.MarshalJSON`), since there is no Go vector for them; nats-server accepting
them is checked by tests/integration/test_nats_contracts.py.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from credentials.codecs import natsjwt as nj
from credentials.codecs.natsjwt import (
    AccountClaims,
    NatsCodecError,
    ResponsePermission,
    ScopedSigningKey,
    UserClaims,
    UserPermissionLimits,
)

VECTORS_PATH = Path(__file__).resolve().parents[1] / "vectors" / "nats.json"


@pytest.fixture(scope="module")
def keys() -> dict[str, nj.KeyPair]:
    vec = json.loads(VECTORS_PATH.read_text())
    return {name: nj.keypair_from_seed(k["seed"]) for name, k in vec["keys"].items()}


def _nats_text(token: str) -> str:
    payload = token.split(".")[1]
    text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    return text[text.index('"nats":') + len('"nats":') : -1]


def _scope(key: str) -> ScopedSigningKey:
    return ScopedSigningKey(
        key=key,
        role="sensor",
        template=UserPermissionLimits(
            pub_allow=["acme.{{tag(location)}}.{{tag(thing)}}.>"],
            sub_allow=["cmd.{{tag(thing)}}.>", "_INBOX.{{tag(thing)}}.>"],
            resp=ResponsePermission(max_msgs=1, ttl_seconds=0),
        ),
        description="thing type sensor",
    )


def test_account_writes_scoped_and_plain_keys_sorted_by_key_in_go_order(keys):
    plain, scoped = keys["account_signing"].public_key, keys["system_account_signing"].public_key
    assert plain < scoped  # the plain key sorts first whatever the order given
    claims = AccountClaims(subject=keys["account"].public_key, signing_keys=[_scope(scoped), plain])
    text = _nats_text(nj.encode(claims, keys["operator"], iat=1795440860))
    expected_keys = (
        '"signing_keys":["' + plain + '",{"kind":"user_scope","key":"' + scoped + '","role":"sensor",'
        '"template":{"pub":{"allow":["acme.{{tag(location)}}.{{tag(thing)}}.\\u003e"]},'
        '"sub":{"allow":["cmd.{{tag(thing)}}.\\u003e","_INBOX.{{tag(thing)}}.\\u003e"]},'
        '"resp":{"max":1,"ttl":0},"subs":-1,"data":-1,"payload":-1},"description":"thing type sensor"}]'
    )
    assert (
        text == '{"limits":{"subs":-1,"data":-1,"payload":-1,"imports":-1,"exports":-1,"wildcards":true,'
        '"conn":-1,"leaf":-1},' + expected_keys + ',"default_permissions":{"pub":{},"sub":{}},'
        '"authorization":{},"type":"account","version":2}'
    )


def test_scope_with_empty_role_template_and_description_writes_them_as_go_does(keys):
    key = keys["account_signing"].public_key
    claims = AccountClaims(subject=keys["account"].public_key, signing_keys=[ScopedSigningKey(key=key)])
    entry = nj.decode(nj.encode(claims, keys["operator"], iat=1))["nats"]["signing_keys"][0]
    assert list(entry) == ["kind", "key", "role", "template", "description"]
    # NewUserScope: unlimited subs/data/payload; an empty template allows nothing but is still written.
    assert entry == {
        "kind": "user_scope",
        "key": key,
        "role": "",
        "description": "",
        "template": {"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1},
    }


def test_template_member_order_with_deny_limits_and_bearer(keys):
    template = UserPermissionLimits(
        pub_allow=["a"], pub_deny=["b"], sub_allow=["c"], sub_deny=["d"],
        resp=ResponsePermission(max_msgs=-1, ttl_seconds=2), subs=10, data=0, payload=1024, bearer_token=True,
    )  # fmt: skip
    assert nj.go_json_dumps(template.to_json()) == (
        '{"pub":{"allow":["a"],"deny":["b"]},"sub":{"allow":["c"],"deny":["d"]},'
        '"resp":{"max":-1,"ttl":2000000000},"subs":10,"payload":1024,"bearer_token":true}'
    )


def test_a_key_listed_twice_is_written_once_unless_the_scopes_differ(keys):
    key, subject = keys["account_signing"].public_key, keys["account"].public_key
    same = AccountClaims(subject=subject, signing_keys=[_scope(key), _scope(key), "", key + ""])
    with pytest.raises(NatsCodecError, match="listed twice"):
        nj.encode(same, keys["operator"], iat=1)  # plain and scoped at once
    once = AccountClaims(subject=subject, signing_keys=[_scope(key), _scope(key)])
    assert len(nj.decode(nj.encode(once, keys["operator"], iat=1))["nats"]["signing_keys"]) == 1


@pytest.mark.parametrize(
    "entry",
    [
        ScopedSigningKey(key="UAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ScopedSigningKey(key="not-a-key"),
        42,
    ],
)
def test_bad_signing_keys_are_refused(keys, entry):
    with pytest.raises(NatsCodecError):
        nj.encode(AccountClaims(subject=keys["account"].public_key, signing_keys=[entry]), keys["operator"], iat=1)


def test_scoped_user_carries_no_permissions_or_limits_only_name_and_tags(keys):
    account, signer, user = keys["account"].public_key, keys["account_signing"], keys["user"].public_key
    claims = UserClaims(
        subject=user,
        name="s-01",
        scoped=True,
        tags=["thing:s-01", "location:Hall-A", "type:sensor", "thing:s-01"],
        issuer_account=account,
    )
    token = nj.encode(claims, signer, iat=1795440860)
    # Go SetScoped(true): the zero UserPermissionLimits, whose Pub and Sub (structs) are written as {}.
    assert _nats_text(token) == (
        '{"pub":{},"sub":{},"issuer_account":"' + account + '",'
        '"tags":["thing:s-01","location:Hall-A","type:sensor"],"type":"user","version":2}'
    )
    payload = nj.decode(token)
    assert payload["name"] == "s-01" and payload["iss"] == signer.public_key


@pytest.mark.parametrize(
    "grant",
    [
        {"pub_allow": ["x"]},
        {"sub_deny": ["y"]},
        {"resp": ResponsePermission()},
        {"subs": 5},
        {"payload": 0},
        {"bearer_token": True},
    ],
)
def test_scoped_user_with_permissions_or_limits_is_refused(keys, grant):
    claims = UserClaims(subject=keys["user"].public_key, scoped=True, **grant)
    with pytest.raises(NatsCodecError, match="no permissions or limits"):
        nj.encode(claims, keys["account_signing"], iat=1)


def test_unscoped_user_with_tags_keeps_its_permissions(keys):
    claims = UserClaims(subject=keys["user"].public_key, pub_allow=["a"], tags=["site:hq"])
    n = nj.decode(nj.encode(claims, keys["account"], iat=1))["nats"]
    assert list(n) == ["pub", "sub", "subs", "data", "payload", "tags", "type", "version"]
    assert n["tags"] == ["site:hq"] and n["pub"] == {"allow": ["a"]}


def test_mint_scoped_user_creds(keys):
    claims = UserClaims(name="s-01", scoped=True, tags=["thing:s-01"], issuer_account=keys["account"].public_key)
    minted = nj.mint_user_credentials(claims, keys["account_signing"])
    assert nj.format_user_creds(minted.jwt, minted.seed) == minted.creds
    assert nj.decode(minted.jwt)["nats"]["tags"] == ["thing:s-01"]
