"""Tests for credentials.codecs.natsjwt against the Go-verified vectors in tests/vectors/nats.json."""

from __future__ import annotations

import base64
import gc
import hashlib
import json
import time
from pathlib import Path

import jwt as pyjwt
import nkeys
import pytest

from credentials.codecs import natsjwt as nj
from credentials.codecs.natsjwt import (
    AccountClaims,
    AccountLimits,
    Export,
    Import,
    NatsCodecError,
    OperatorClaims,
    ResponsePermission,
    UserClaims,
)

VECTORS_PATH = Path(__file__).resolve().parents[1] / "vectors" / "nats.json"
SHARED_VECTORS_PATH = Path(__file__).resolve().parents[2].parent / "shared/reference/vectors/nats.json"
HEADER = b'{"typ":"JWT","alg":"ed25519-nkey"}'
PREFIXES = {"O": nkeys.PREFIX_BYTE_OPERATOR, "A": nkeys.PREFIX_BYTE_ACCOUNT, "U": nkeys.PREFIX_BYTE_USER}


@pytest.fixture(scope="module")
def vec() -> dict:
    return json.loads(VECTORS_PATH.read_text())


@pytest.fixture(scope="module")
def keys(vec) -> dict[str, nj.KeyPair]:
    return {name: nj.keypair_from_seed(k["seed"]) for name, k in vec["keys"].items()}


def _b64d(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _payload_text(token: str) -> str:
    return _b64d(token.split(".")[1]).decode("utf-8")


def _signed(header: bytes, payload: dict, signer: nj.KeyPair) -> str:
    signing_input = f"{_b64e(header)}.{_b64e(json.dumps(payload).encode())}"
    return f"{signing_input}.{_b64e(signer.sign(signing_input.encode()))}"


# ---------------------------------------------------------------------------- vectors file


def test_vendored_vectors_match_shared_copy_when_present():
    if not SHARED_VECTORS_PATH.exists():
        pytest.skip("shared reference checkout not present")
    assert json.loads(VECTORS_PATH.read_text()) == json.loads(SHARED_VECTORS_PATH.read_text())


# ---------------------------------------------------------------------------- nkeys


def test_vector_keys(vec):
    for name, k in vec["keys"].items():
        kind = k["public"][0]
        seed = nkeys.encode_seed(bytes([k["raw_seed_byte"]]) * 32, PREFIXES[kind]).decode()
        assert seed == k["seed"], name
        kp = nj.keypair_from_seed(seed, kind)
        assert (kp.kind, kp.public_key, kp.seed) == (kind, k["public"], k["seed"]), name
        assert kp.sign(b"hello nats") == nkeys.from_seed(seed.encode()).sign(b"hello nats")
        assert nj.keypair_from_seed(seed.encode()).public_key == k["public"]


@pytest.mark.parametrize(
    ("factory", "kind", "seed_prefix"),
    [(nj.create_operator, "O", "SO"), (nj.create_account, "A", "SA"), (nj.create_user, "U", "SU")],
)
def test_create_keypairs(factory, kind, seed_prefix):
    a, b = factory(), factory()
    assert a.kind == kind and a.public_key[0] == kind
    assert a.seed.startswith(seed_prefix) and len(a.seed) == 58 and len(a.public_key) == 56
    assert a.public_key != b.public_key and a.seed != b.seed
    assert nj.is_valid_public_key(a.public_key, kind)
    assert nj.keypair_from_seed(a.seed, kind).public_key == a.public_key
    assert nkeys.from_seed(a.seed.encode()).public_key.decode() == a.public_key
    assert a.seed not in repr(a)


def test_create_keypair_rejects_unknown_kind():
    with pytest.raises(NatsCodecError, match="unknown key kind"):
        nj.create_keypair("S")
    with pytest.raises(NatsCodecError, match="unknown key kind"):
        nj.create_keypair("N")


def _flip(s: str, i: int) -> str:
    return s[:i] + ("B" if s[i] != "B" else "C") + s[i + 1 :]


def test_public_key_validation(vec):
    op = vec["keys"]["operator"]["public"]
    assert nj.is_valid_public_key(op)
    assert nj.is_valid_public_key(op, "O")
    assert nj.is_valid_public_key(op.encode(), "O")
    assert not nj.is_valid_public_key(op, "A")
    assert not nj.is_valid_public_key(_flip(op, 20))  # CRC mismatch
    assert not nj.is_valid_public_key(op[:-1])
    assert not nj.is_valid_public_key(op.lower())
    assert not nj.is_valid_public_key(None)
    assert not nj.is_valid_public_key(vec["keys"]["operator"]["seed"])
    assert not nj.is_valid_public_key("U" + "A" * 55)  # right shape, bad checksum
    server = nkeys.from_seed(nkeys.encode_seed(b"\x09" * 32, nkeys.PREFIX_BYTE_SERVER)).public_key.decode()
    assert not nj.is_valid_public_key(server)  # a valid nkey, but not a kind the platform uses
    with pytest.raises(NatsCodecError, match="unknown key kind"):
        nj.is_valid_public_key(op, "X")
    assert issubclass(NatsCodecError, ValueError)


def test_seed_validation(vec):
    seed = vec["keys"]["user"]["seed"]
    with pytest.raises(NatsCodecError, match="expected account seed"):
        nj.keypair_from_seed(seed, "A")
    with pytest.raises(NatsCodecError, match="checksum"):
        nj.keypair_from_seed(_flip(seed, 30))
    with pytest.raises(NatsCodecError, match="58 characters"):
        nj.keypair_from_seed(seed[:-2])
    with pytest.raises(NatsCodecError):
        nj.keypair_from_seed(vec["keys"]["user"]["public"])
    with pytest.raises(NatsCodecError, match="expected str or bytes"):
        nj.keypair_from_seed(12345)  # type: ignore[arg-type]
    server_seed = nkeys.encode_seed(b"\x09" * 32, nkeys.PREFIX_BYTE_SERVER)
    with pytest.raises(NatsCodecError, match="not an operator, account or user seed"):
        nj.keypair_from_seed(server_seed)
    with pytest.raises(NatsCodecError) as excinfo:
        nj.keypair_from_seed(_flip(seed, 30))
    assert seed[2:20] not in str(excinfo.value)  # never echo secret material
    assert nj.keypair_from_seed("  " + seed + "\n").seed == seed


def test_seeds_are_not_kept_after_use():
    """A decoded seed lives as long as its caller holds the key pair: nothing process-wide keeps it."""
    signer_seed, user = nj.create_account().seed, nj.create_user()
    assert nj.keypair_from_seed(signer_seed).kind == "A"
    nj.encode(UserClaims(subject=user.public_key), signer_seed, iat=1)
    gc.collect()
    kept = [o for o in gc.get_objects() if type(o) in (nj.KeyPair, nkeys.KeyPair)]  # type(): no weakproxy lookups
    assert not [o for o in kept if o.seed in (signer_seed, signer_seed.encode())]


# ---------------------------------------------------------------------------- JWT vectors


def _operator_claims(keys):
    return OperatorClaims(
        subject=keys["operator"].public_key,
        name="stone-age.io",
        signing_keys=[keys["operator_signing"].public_key],
        system_account=keys["system_account"].public_key,
    )


def _account_claims(keys):
    return AccountClaims(
        subject=keys["account"].public_key,
        name=nj.normalize_account_name("Acme Corp"),
        limits=AccountLimits(mem_storage=-1, disk_storage=-1),
        signing_keys=[keys["account_signing"].public_key],
        revocations={"U" + "A" * 55: 1700000000},
    )


def _user_claims(keys):
    return UserClaims(
        subject=keys["user"].public_key,
        name="alice",
        pub_allow=[">"],
        sub_allow=[">", "_INBOX.>"],
        issuer_account=keys["account"].public_key,
    )


def _system_user_claims(keys):
    return UserClaims(
        subject=keys["system_user"].public_key,
        name="sys",
        pub_allow=["$SYS.>", ">"],
        sub_allow=["$SYS.>", ">"],
        resp=ResponsePermission(max_msgs=-1, ttl_seconds=0),
        issuer_account=keys["system_account"].public_key,
    )


def _check_vector(token: str, expected: dict) -> None:
    assert _payload_text(token) == expected["payload"]
    assert token == expected["jwt"]


def test_operator_vector(vec, keys):
    token = nj.encode(_operator_claims(keys), keys["operator"], iat=vec["iat"])
    _check_vector(token, vec["operator"])


def test_system_account_vector(vec, keys):
    claims = nj.system_account_claims(
        keys["system_account"].public_key, [keys["system_account_signing"].public_key]
    )
    token = nj.encode(claims, keys["operator_signing"].seed, iat=vec["iat"])
    _check_vector(token, vec["system_account"])


def test_account_vector(vec, keys):
    token = nj.encode(_account_claims(keys), keys["operator_signing"], iat=vec["iat"])
    _check_vector(token, vec["account"])


def test_system_user_vector(vec, keys):
    token = nj.encode(_system_user_claims(keys), keys["system_account_signing"], iat=vec["iat"])
    _check_vector(token, vec["system_user"])


def test_user_vector(vec, keys):
    token = nj.encode(_user_claims(keys), keys["account_signing"], iat=vec["iat"])
    _check_vector(token, vec["user"])


def test_delete_claim_vector(vec, keys):
    claims = nj.account_delete_claims(keys["operator"].public_key, [keys["account"].public_key])
    token = nj.encode(claims, keys["operator"], iat=vec["iat"])
    _check_vector(token, vec["delete_claim"])


def test_header_is_exact(vec, keys):
    for name in ("operator", "system_account", "account", "system_user", "user", "delete_claim"):
        assert _b64d(vec[name]["jwt"].split(".")[0]) == HEADER, name
    assert _b64d(nj.encode(_user_claims(keys), keys["account"]).split(".")[0]) == HEADER


def test_jti_is_sha512_256_of_registered_claims_only(vec):
    for name in ("operator", "account", "user", "system_user", "delete_claim", "system_account"):
        payload = json.loads(vec[name]["payload"])
        cd = {k: payload[k] for k in ("exp", "iat", "iss", "name", "sub") if k in payload}
        body = nj.go_json_dumps(cd).encode()
        expected = base64.b32encode(hashlib.new("sha512_256", body).digest()).decode().rstrip("=")
        assert payload["jti"] == expected, name
        assert len(expected) == 52


def test_same_second_same_jti_regardless_of_body(vec, keys):
    a = _account_claims(keys)
    b = AccountClaims(subject=a.subject, name=a.name, limits=a.limits, signing_keys=a.signing_keys,
                      revocations={**a.revocations, keys["user"].public_key: 1800000000})
    ta = nj.encode(a, keys["operator_signing"], iat=vec["iat"])
    tb = nj.encode(b, keys["operator_signing"], iat=vec["iat"])
    assert ta != tb
    assert nj.decode(ta)["jti"] == nj.decode(tb)["jti"]
    tc = nj.encode(b, keys["operator_signing"], iat=vec["iat"] + 1)
    assert nj.decode(tc)["jti"] != nj.decode(tb)["jti"]


def test_iat_defaults_to_now(keys):
    before = int(time.time())
    token = nj.encode(_user_claims(keys), keys["account_signing"])
    after = int(time.time())
    assert before <= nj.decode(token)["iat"] <= after


def test_algorithm_is_registered_on_an_instance_of_our_own(vec, keys):
    """PyJWT's module-level functions do not know ``ed25519-nkey``: registering it is local to the codec."""
    with pytest.raises(NotImplementedError):
        pyjwt.get_algorithm_by_name(nj.ALGORITHM)
    with pytest.raises(pyjwt.InvalidAlgorithmError):
        pyjwt.decode(vec["user"]["jwt"], key=keys["account_signing"].public_key, algorithms=[nj.ALGORITHM])


# ---------------------------------------------------------------------------- decode


def test_decode_round_trips(vec, keys):
    for name in ("operator", "system_account", "account", "system_user", "user", "delete_claim"):
        assert nj.decode(vec[name]["jwt"]) == json.loads(vec[name]["payload"]), name
        assert nj.decode(vec[name]["jwt"].encode(), verify=False) == json.loads(vec[name]["payload"]), name


def _forged(token: str, length: int = 64) -> str:
    """`token` with the first bit of its signature flipped (and the signature cut to `length` bytes)."""
    h, p, s = token.split(".")
    sig = bytearray(_b64d(s))
    sig[0] ^= 1
    return f"{h}.{p}.{_b64e(bytes(sig[:length]))}"


def test_tampered_signature_rejected(vec):
    bad = _forged(vec["user"]["jwt"])
    with pytest.raises(NatsCodecError, match="signature"):
        nj.decode(bad)
    assert nj.decode(bad, verify=False)["name"] == "alice"
    with pytest.raises(NatsCodecError, match="signature"):
        nj.decode(_forged(vec["user"]["jwt"], length=40))


def test_tampered_payload_rejected(vec):
    h, p, s = vec["user"]["jwt"].split(".")
    payload = _b64d(p).replace(b'"alice"', b'"mallory"')
    with pytest.raises(NatsCodecError, match="signature"):
        nj.decode(f"{h}.{_b64e(payload)}.{s}")


def test_decode_rejects_issuer_kind_not_allowed_for_type(keys):
    # A user JWT whose issuer is an operator key, signed correctly, is still refused.
    payload = {"iss": keys["operator"].public_key, "sub": keys["user"].public_key,
               "nats": {"type": "user", "version": 2}}
    with pytest.raises(NatsCodecError, match="not allowed"):
        nj.decode(_signed(HEADER, payload, keys["operator"]))


def test_decode_issuer_checks(keys):
    with pytest.raises(NatsCodecError, match="no issuer"):
        nj.decode(_signed(HEADER, {"sub": "x"}, keys["account"]))
    with pytest.raises(NatsCodecError, match="issuer is invalid"):
        nj.decode(_signed(HEADER, {"iss": _flip(keys["account"].public_key, 30)}, keys["account"]))


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b'{"typ":"JOSE","alg":"ed25519-nkey"}', "type"),
        (b'{"typ":"JWT","alg":"HS256"}', "algorithm"),
        (b'{"typ":"JWT","alg":"ed25519"}', "algorithm"),
        (b'{"typ":"JWT","alg":"ed25519-nkeyx"}', "algorithm"),
        (b'{"alg":"ed25519-nkey"}', "type"),
        (b"[1,2]", "malformed"),
        (b"not json", "malformed"),
    ],
)
def test_decode_header_checks(vec, header, message):
    _, p, s = vec["user"]["jwt"].split(".")
    with pytest.raises(NatsCodecError, match=message):
        nj.decode(f"{_b64e(header)}.{p}.{s}")


def test_decode_typ_case_insensitive(keys):
    payload = {"iss": keys["account"].public_key, "sub": keys["user"].public_key,
               "nats": {"type": "user", "version": 2}}
    token = _signed(b'{"typ":"jwt","alg":"ed25519-nkey"}', payload, keys["account"])
    assert nj.decode(token)["sub"] == keys["user"].public_key


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c.d", _b64e(HEADER) + ".@@@.AAAA", _b64e(HEADER) + "." + _b64e(b"[1]") + ".AAAA",
     _b64e(HEADER) + "." + _b64e(b"\xff") + ".AAAA", b"\xff.a.b", 42],
)
def test_decode_malformed(token):
    with pytest.raises(NatsCodecError):
        nj.decode(token, verify=False)


# ---------------------------------------------------------------------------- signer rules


@pytest.mark.parametrize(
    ("claims_factory", "bad_signers", "good_signer"),
    [
        (_operator_claims, ["account", "user", "account_signing"], "operator_signing"),
        (_account_claims, ["account", "account_signing", "user"], "operator"),
        (_user_claims, ["operator", "operator_signing", "user"], "account"),
    ],
)
def test_wrong_signer_prefix_rejected(keys, claims_factory, bad_signers, good_signer):
    claims = claims_factory(keys)
    for name in bad_signers:
        with pytest.raises(NatsCodecError, match="must be signed by"):
            nj.encode(claims, keys[name], iat=1)
    assert nj.decode(nj.encode(claims, keys[good_signer], iat=1))["iss"] == keys[good_signer].public_key


def test_subject_kind_checked(keys):
    with pytest.raises(NatsCodecError, match="expected user public key"):
        nj.encode(UserClaims(subject=keys["account"].public_key), keys["account"], iat=1)
    with pytest.raises(NatsCodecError, match="expected account public key"):
        nj.encode(AccountClaims(subject=keys["user"].public_key), keys["operator"], iat=1)
    with pytest.raises(NatsCodecError, match="is not a public key"):
        nj.encode(UserClaims(subject=keys["user"].public_key.lower()), keys["account"], iat=1)
    with pytest.raises(NatsCodecError, match="is not a public key"):
        nj.encode(UserClaims(subject=keys["user"].seed), keys["account"], iat=1)
    with pytest.raises(NatsCodecError, match="subject is not set"):
        nj.encode(UserClaims(), keys["account"], iat=1)
    with pytest.raises(NatsCodecError, match="expected account public key"):
        nj.encode(
            UserClaims(subject=keys["user"].public_key, issuer_account=keys["operator"].public_key),
            keys["account"],
            iat=1,
        )
    with pytest.raises(NatsCodecError, match="cannot encode"):
        nj.encode({"sub": keys["user"].public_key}, keys["account"])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- claim shapes


def test_user_with_deny_resp_exp_bearer_shape(keys):
    """The §1.9 'user with a deny list, resp, exp and bearer' payload, checked against Go."""
    claims = UserClaims(
        subject=keys["user"].public_key,
        name="alice",
        expires=1900000000,
        pub_allow=[">", "sensors.>"],
        pub_deny=["sensors.internal.>"],
        sub_allow=[">", "_INBOX.>"],
        resp=ResponsePermission(max_msgs=1, ttl_seconds=30),
        subs=-1,
        data=0,
        payload=1024,
        bearer_token=True,
        issuer_account=keys["account"].public_key,
    )
    token = nj.encode(claims, keys["account_signing"], iat=1795440860)
    text = _payload_text(token)
    payload = json.loads(text)
    assert list(payload) == ["exp", "jti", "iat", "iss", "name", "sub", "nats"]
    signer, user, account = keys["account_signing"].public_key, keys["user"].public_key, keys["account"].public_key
    registered = '"iat":1795440860,"iss":"' + signer + '","name":"alice","sub":"' + user + '"'
    cd = '{"exp":1900000000,' + registered + "}"
    jti = base64.b32encode(hashlib.new("sha512_256", cd.encode()).digest()).decode().rstrip("=")
    expected = (
        '{"exp":1900000000,"jti":"' + jti + '",' + registered + ","
        '"nats":{"pub":{"allow":["\\u003e","sensors.\\u003e"],"deny":["sensors.internal.\\u003e"]},'
        '"sub":{"allow":["\\u003e","_INBOX.\\u003e"]},"resp":{"max":1,"ttl":30000000000},'
        '"subs":-1,"payload":1024,"bearer_token":true,"issuer_account":"' + account + '","type":"user","version":2}}'
    )
    assert text == expected
    assert nj.decode(token)["exp"] == 1900000000


def test_user_resp_ttl_fraction_and_limits(keys):
    claims = UserClaims(subject=keys["user"].public_key, resp=ResponsePermission(max_msgs=5, ttl_seconds=1.5),
                        subs=10, data=20, payload=30)
    n = nj.decode(nj.encode(claims, keys["account"], iat=7))["nats"]
    assert list(n) == ["pub", "sub", "resp", "subs", "data", "payload", "type", "version"]
    assert n["resp"] == {"max": 5, "ttl": 1500000000}
    assert (n["subs"], n["data"], n["payload"]) == (10, 20, 30)
    with pytest.raises(NatsCodecError, match="subs must be an int"):
        nj.encode(UserClaims(subject=keys["user"].public_key, subs="5"), keys["account"], iat=1)  # type: ignore[arg-type]
    with pytest.raises(NatsCodecError, match="resp.ttl"):
        nj.encode(UserClaims(subject=keys["user"].public_key, resp=ResponsePermission(1, "1")),  # type: ignore[arg-type]
                  keys["account"], iat=1)


def test_user_empty_permissions_are_not_defaulted(keys):
    payload = nj.decode(nj.encode(UserClaims(subject=keys["user"].public_key), keys["account"], iat=1))
    assert payload["nats"]["pub"] == {} and payload["nats"]["sub"] == {}
    assert "resp" not in payload["nats"]
    assert payload["nats"]["subs"] == -1 and payload["nats"]["data"] == -1


def test_string_list_semantics(keys):
    assert nj.string_list(["a", "", "b", "a", "c", "b"]) == ["a", "b", "c"]
    assert nj.string_list(None) == []
    with pytest.raises(NatsCodecError):
        nj.string_list("abc")
    with pytest.raises(NatsCodecError):
        nj.string_list(["a", 5])  # type: ignore[list-item]
    claims = UserClaims(subject=keys["user"].public_key, pub_allow=["x.>", "", "y", "x.>"], pub_deny=[""])
    n = nj.decode(nj.encode(claims, keys["account"], iat=1))["nats"]
    assert n["pub"] == {"allow": ["x.>", "y"]}


def test_account_full_field_order(keys):
    other = keys["system_account"].public_key
    claims = AccountClaims(
        subject=keys["account"].public_key,
        name="full",
        limits=AccountLimits(subs=1, data=2, payload=3, conn=6, leaf=7, mem_storage=8, disk_storage=9,
                             streams=10, consumer=11),
        signing_keys=[keys["system_account_signing"].public_key, keys["account_signing"].public_key],
        revocations={"UZZ": 2, "*": 1, "UAA": 3},
        exports=[
            Export(subject="z.svc", type="service", name="z", response_type="Chunked",
                   response_threshold_seconds=2, token_req=True, account_token_position=2, advertise=True,
                   description="d", info_url="https://x.example"),
            Export(subject="a.>", type="stream"),
            Export(subject="m.*", type="stream", name="first-m"),
            Export(subject="m.*", type="service", name="second-m"),
        ],
        imports=[
            Import(subject="q", account=other, type="service", name="q", token="t", local_subject="lq", share=True),
            Import(subject="b.>", account=other, type="stream"),
        ],
    )
    n = nj.decode(nj.encode(claims, keys["operator"], iat=1))["nats"]
    assert list(n) == [
        "imports", "exports", "limits", "signing_keys", "revocations", "default_permissions", "authorization",
        "type", "version",
    ]
    assert n["limits"] == {"subs": 1, "data": 2, "payload": 3, "imports": -1, "exports": -1, "wildcards": True,
                           "conn": 6, "leaf": 7, "mem_storage": 8, "disk_storage": 9, "streams": 10, "consumer": 11}
    assert list(n["limits"]) == [
        "subs", "data", "payload", "imports", "exports", "wildcards", "conn", "leaf", "mem_storage",
        "disk_storage", "streams", "consumer",
    ]
    assert n["signing_keys"] == sorted(n["signing_keys"])
    assert list(n["revocations"]) == ["*", "UAA", "UZZ"]
    assert [e["subject"] for e in n["exports"]] == ["a.>", "m.*", "m.*", "z.svc"]
    assert [e.get("name") for e in n["exports"]][1:3] == ["first-m", "second-m"]  # stable
    assert list(n["exports"][3]) == [
        "name", "subject", "type", "token_req", "response_type", "response_threshold", "account_token_position",
        "advertise", "description", "info_url",
    ]
    assert n["exports"][3]["response_threshold"] == 2_000_000_000
    assert [i["subject"] for i in n["imports"]] == ["b.>", "q"]
    assert list(n["imports"][1]) == ["name", "subject", "account", "token", "local_subject", "type", "share"]
    assert n["default_permissions"] == {"pub": {}, "sub": {}} and n["authorization"] == {}


def test_account_defaults_match_go(keys):
    n = nj.decode(nj.encode(AccountClaims(subject=keys["account"].public_key), keys["operator"], iat=1))["nats"]
    assert n == {
        "limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": True,
                   "conn": -1, "leaf": -1},
        "default_permissions": {"pub": {}, "sub": {}},
        "authorization": {},
        "type": "account",
        "version": 2,
    }


def test_account_claim_validation(keys):
    subject = keys["account"].public_key
    bad = [
        AccountClaims(subject=subject, signing_keys=[keys["operator"].public_key]),
        AccountClaims(subject=subject, exports=[Export(subject="x", type="bogus")]),
        AccountClaims(subject=subject, exports=[Export(subject="x", type="service", response_type="stream")]),
        AccountClaims(subject=subject, exports=[Export(subject="x", type="stream", account_token_position=-1)]),
        AccountClaims(subject=subject, imports=[Import(subject="x", account=subject, type="bogus")]),
        AccountClaims(subject=subject, limits=AccountLimits(conn="5")),  # type: ignore[arg-type]
        AccountClaims(subject=subject, revocations={"UX": 1.5}),  # type: ignore[dict-item]
    ]
    for claims in bad:
        with pytest.raises(NatsCodecError):
            nj.encode(claims, keys["operator"], iat=1)
    with pytest.raises(NatsCodecError, match="operator signing key"):
        nj.encode(OperatorClaims(subject=keys["operator"].public_key, signing_keys=[keys["account"].public_key]),
                  keys["operator"], iat=1)
    with pytest.raises(NatsCodecError, match="expected account public key"):
        nj.encode(OperatorClaims(subject=keys["operator"].public_key, system_account=keys["user"].public_key),
                  keys["operator"], iat=1)


def test_account_delete_claims_validation(keys):
    with pytest.raises(NatsCodecError):
        nj.account_delete_claims(keys["account"].public_key, [keys["account"].public_key])
    with pytest.raises(NatsCodecError, match="at least one account"):
        nj.account_delete_claims(keys["operator"].public_key, [])
    with pytest.raises(NatsCodecError):
        nj.account_delete_claims(keys["operator"].public_key, [keys["user"].public_key])
    claims = nj.account_delete_claims(keys["operator"].public_key, [keys["account"].public_key])
    with pytest.raises(NatsCodecError, match="must be signed by"):
        nj.encode(claims, keys["account"], iat=1)


# ---------------------------------------------------------------------------- Go JSON escaping


def test_go_json_escaping():
    s = nj.go_json_dumps({"k": "a<b>c&d\u2028e\u2029f é ü 日本 \n\r\t\b\f\x01\x1f\x7f \"q\" \\"})
    assert s == (
        '{"k":"a\\u003cb\\u003ec\\u0026d\\u2028e\\u2029f é ü 日本 \\n\\r\\t\\b\\f\\u0001\\u001f\x7f '
        '\\"q\\" \\\\"}'
    )
    assert nj.go_json_dumps({"b": [1, True, None], "a": {}}) == '{"b":[1,true,null],"a":{}}'
    with pytest.raises(NatsCodecError):
        nj.go_json_dumps({"x": float("nan")})


def test_escaping_inside_token(keys):
    claims = UserClaims(subject=keys["user"].public_key, name="R&D <lab>\u2028é", pub_allow=["a.>"])
    token = nj.encode(claims, keys["account"], iat=1)
    text = _payload_text(token)
    assert '"name":"R\\u0026D \\u003clab\\u003e\\u2028é"' in text
    assert '"allow":["a.\\u003e"]' in text
    assert nj.decode(token)["name"] == "R&D <lab>\u2028é"
    with pytest.raises(NatsCodecError):
        nj.encode(UserClaims(subject=keys["user"].public_key, name="\ud800"), keys["account"], iat=1)


# ---------------------------------------------------------------------------- .creds


def test_user_creds_vector(vec, keys):
    assert nj.format_user_creds(vec["user"]["jwt"], keys["user"].seed) == vec["user_creds"]
    assert nj.format_user_creds(vec["user"]["jwt"] + "\n", keys["user"].seed.encode(), verify=False) == vec[
        "user_creds"
    ]
    minted = nj.mint_user_credentials(
        UserClaims(name="alice", pub_allow=[">"], sub_allow=[">", "_INBOX.>"],
                   issuer_account=keys["account"].public_key),
        keys["account_signing"],
        user_key=keys["user"],
        iat=vec["iat"],
    )
    assert minted.jwt == vec["user"]["jwt"]
    assert minted.creds == vec["user_creds"]
    assert minted.public_key == keys["user"].public_key and minted.seed == keys["user"].seed
    assert keys["user"].seed not in repr(minted)


def test_mint_new_user(keys):
    minted = nj.mint_user_credentials(UserClaims(name="bob", pub_allow=["x"]), keys["account"].seed)
    assert minted.keypair.kind == "U" and minted.public_key != keys["user"].public_key
    assert nj.decode(minted.jwt)["sub"] == minted.public_key
    assert nj.format_user_creds(minted.jwt, minted.seed) == minted.creds
    with pytest.raises(NatsCodecError, match="user_key must be a user"):
        nj.mint_user_credentials(UserClaims(), keys["account"], user_key=keys["account"])


def test_creds_verified_refuses_mismatched_or_non_user_seed(vec, keys):
    with pytest.raises(NatsCodecError, match="does not match"):
        nj.format_user_creds(vec["user"]["jwt"], keys["system_user"].seed)
    with pytest.raises(NatsCodecError, match="not a user seed"):
        nj.format_user_creds(vec["user"]["jwt"], keys["account"].seed)
    with pytest.raises(NatsCodecError, match="cannot be serialized as a user config"):
        nj.format_user_creds(vec["account"]["jwt"], keys["user"].seed)
    with pytest.raises(NatsCodecError, match="signature"):
        nj.format_user_creds(_forged(vec["user"]["jwt"]), keys["user"].seed)
    with pytest.raises(NatsCodecError, match="jwt must be a string"):
        nj.format_user_creds(None, keys["user"].seed)  # type: ignore[arg-type]


def test_creds_unverified_checks_form_only(vec, keys):
    """Without verify (a token and seed stored together) nothing is re-verified, but the form still is."""
    forged = _forged(vec["user"]["jwt"])
    assert nj.format_user_creds(forged, keys["user"].seed, verify=False).startswith(
        f"-----BEGIN NATS USER JWT-----\n{forged}\n"
    )
    with pytest.raises(NatsCodecError, match="not a user seed"):
        nj.format_user_creds(vec["user"]["jwt"], keys["account"].seed, verify=False)
    with pytest.raises(NatsCodecError, match="not a user seed"):
        nj.format_user_creds(vec["user"]["jwt"], keys["user"].seed[:-1], verify=False)
    with pytest.raises(NatsCodecError, match="3 dot-separated parts"):
        nj.format_user_creds("", keys["user"].seed, verify=False)


# ---------------------------------------------------------------------------- subjects / names


@pytest.mark.parametrize(
    "subject",
    [">", "*", "a", "a.b.c", "a.*.c", "a.*", "a.>", "*.>", "$SYS.>", "_INBOX.>", "sensors.temp-1.x_y",
     "a.*.*.>", "ünïcode.ok", "a:b.c"],
)
def test_validate_subject_good(subject):
    assert nj.validate_subject(subject) == subject


@pytest.mark.parametrize(
    "subject",
    ["", ".", "a.", ".a", "a..b", "a b", "a\tb", "a\nb", " a", "a.>.b", ">.a", "a*", "a.b*", "*a.b",
     "a.>b", "a.b>", "foo.**", "a.\x00", None, 5],
)
def test_validate_subject_bad(subject):
    with pytest.raises(NatsCodecError):
        nj.validate_subject(subject)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Acme Corp", "acme_corp"),
        ("ACME-Corp 2", "acme_corp_2"),
        ("Café & Co.", "caf__co"),
        ("already_ok_123", "already_ok_123"),
        ("!!!", "unnamed_account"),
        ("", "unnamed_account"),
        ("  x  ", "__x__"),
    ],
)
def test_normalize_account_name(name, expected):
    assert nj.normalize_account_name(name) == expected
