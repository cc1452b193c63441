"""Tests for credentials.codecs.natsjwt against the Go-verified vectors in tests/vectors/nats.json."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path

import nkeys
import pytest

from credentials.codecs import natsjwt as nj
from credentials.codecs.natsjwt import (
    AccountClaims,
    AccountLimits,
    Export,
    GenericClaims,
    Import,
    JetStreamLimits,
    NatsCodecError,
    OperatorClaims,
    Permissions,
    ResponsePermission,
    ServiceLatency,
    UserClaims,
)

VECTORS_PATH = Path(__file__).resolve().parents[1] / "vectors" / "nats.json"
SHARED_VECTORS_PATH = Path(__file__).resolve().parents[2].parent / "shared/reference/vectors/nats.json"


@pytest.fixture(scope="module")
def vec() -> dict:
    return json.loads(VECTORS_PATH.read_text())


@pytest.fixture(scope="module")
def keys(vec) -> dict[str, nj.KeyPair]:
    return {name: nj.keypair_from_seed(k["seed"]) for name, k in vec["keys"].items()}


def _b64d(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _payload_text(token: str) -> str:
    return _b64d(token.split(".")[1]).decode("utf-8")


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ---------------------------------------------------------------------------- vectors file


def test_vendored_vectors_match_shared_copy_when_present():
    if not SHARED_VECTORS_PATH.exists():
        pytest.skip("shared reference checkout not present")
    assert json.loads(VECTORS_PATH.read_text()) == json.loads(SHARED_VECTORS_PATH.read_text())


# ---------------------------------------------------------------------------- nkeys


def test_vector_keys_from_raw_seed_bytes(vec):
    kinds = {"O": nj.OPERATOR, "A": nj.ACCOUNT, "U": nj.USER}
    for name, k in vec["keys"].items():
        raw = bytes([k["raw_seed_byte"]]) * 32
        kind = kinds[k["public"][0]]
        kp = nj._keypair_from_raw(kind, raw)
        assert kp.seed == k["seed"], name
        assert kp.public_key == k["public"], name
        assert kp.private_key == k["private"], name
        assert kp.raw_seed == raw
        parsed = nj.keypair_from_seed(k["seed"], kind)
        assert parsed == kp
        assert nj.public_key_from_seed(k["seed"].encode()) == k["public"]


def test_keys_agree_with_nkeys_package(vec):
    for name, k in vec["keys"].items():
        ref = nkeys.from_seed(k["seed"].encode())
        assert ref.public_key.decode() == k["public"], name
        assert ref.private_key.decode() == k["private"], name
        ours = nj.keypair_from_seed(k["seed"])
        msg = b"hello nats"
        assert ours.sign(msg) == ref.sign(msg)
        assert ours.verify(msg, ref.sign(msg))
        assert not ours.verify(msg + b"!", ref.sign(msg))


@pytest.mark.parametrize(
    ("factory", "kind", "seed_prefix"),
    [(nj.create_operator, "O", "SO"), (nj.create_account, "A", "SA"), (nj.create_user, "U", "SU")],
)
def test_create_keypairs(factory, kind, seed_prefix):
    a, b = factory(), factory()
    assert a.kind == kind and a.public_key[0] == kind
    assert a.seed.startswith(seed_prefix) and len(a.seed) == 58 and len(a.public_key) == 56
    assert a.public_key != b.public_key and a.seed != b.seed
    assert nj.validate_public_key(a.public_key, kind) == a.public_key
    assert nj.validate_seed(a.seed, kind) == a.seed
    assert nj.keypair_from_seed(a.seed).public_key == a.public_key
    ref = nkeys.from_seed(a.seed.encode())
    assert ref.public_key.decode() == a.public_key
    assert a.seed not in repr(a)


def test_create_keypair_rejects_unknown_kind():
    with pytest.raises(NatsCodecError):
        nj.create_keypair("S")


def _flip(s: str, i: int) -> str:
    return s[:i] + ("B" if s[i] != "B" else "C") + s[i + 1 :]


def test_public_key_validation(vec):
    op = vec["keys"]["operator"]["public"]
    acct = vec["keys"]["account"]["public"]
    assert nj.is_valid_public_key(op)
    assert nj.is_valid_public_key(op, "O")
    assert not nj.is_valid_public_key(op, "A")
    assert not nj.is_valid_public_key(_flip(op, 20))  # CRC mismatch
    assert not nj.is_valid_public_key(op[:-1])
    assert not nj.is_valid_public_key(op.lower())
    assert not nj.is_valid_public_key(None)
    assert not nj.is_valid_public_key(vec["keys"]["operator"]["seed"])
    assert not nj.is_valid_public_key("U" + "A" * 55)  # right shape, bad checksum
    with pytest.raises(NatsCodecError, match="expected account public key"):
        nj.validate_public_key(op, "A")
    with pytest.raises(NatsCodecError, match="checksum"):
        nj.validate_public_key(_flip(acct, 30), "A")
    assert issubclass(NatsCodecError, ValueError)


def test_seed_validation(vec):
    seed = vec["keys"]["user"]["seed"]
    with pytest.raises(NatsCodecError, match="expected account seed"):
        nj.keypair_from_seed(seed, "A")
    with pytest.raises(NatsCodecError, match="checksum"):
        nj.keypair_from_seed(_flip(seed, 30))
    with pytest.raises(NatsCodecError):
        nj.keypair_from_seed(seed[:-2])
    with pytest.raises(NatsCodecError):
        nj.keypair_from_seed(vec["keys"]["user"]["public"])
    with pytest.raises(NatsCodecError):
        nj.keypair_from_seed(12345)  # type: ignore[arg-type]
    try:
        nj.validate_seed(_flip(seed, 30))
    except NatsCodecError as exc:
        assert seed[2:] not in str(exc)  # never echo secret material
    assert nj.keypair_from_seed("  " + seed + "\n").seed == seed


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


def test_user_creds_vector(vec, keys):
    creds = nj.format_user_creds(vec["user"]["jwt"], keys["user"].seed)
    assert creds == vec["user_creds"]
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


def test_header_is_exact():
    assert _b64d(nj.HEADER_B64) == b'{"typ":"JWT","alg":"ed25519-nkey"}'


def test_jti_is_sha512_256_of_registered_claims_only(vec, keys):
    for name in ("operator", "account", "user", "system_user", "delete_claim", "system_account"):
        payload = json.loads(vec[name]["payload"])
        cd = {k: payload[k] for k in ("aud", "exp", "iat", "iss", "name", "nbf", "sub") if k in payload}
        body = nj.go_json_dumps(cd).encode()
        expected = base64.b32encode(hashlib.new("sha512_256", body).digest()).decode().rstrip("=")
        assert payload["jti"] == expected, name
        assert len(expected) == 52


def test_same_second_same_jti_regardless_of_body(vec, keys):
    a = _account_claims(keys)
    b = a.with_revocation(keys["user"].public_key, 1800000000)
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


# ---------------------------------------------------------------------------- decode


def test_decode_round_trips(vec, keys):
    for name in ("operator", "system_account", "account", "system_user", "user", "delete_claim"):
        assert nj.decode(vec[name]["jwt"]) == json.loads(vec[name]["payload"]), name
    info = nj.claim_info(vec["user"]["jwt"])
    assert info.claim_type == "user"
    assert info.subject == keys["user"].public_key
    assert info.issuer == keys["account_signing"].public_key
    assert info.issuer_account == keys["account"].public_key
    assert info.issued_at == vec["iat"]
    assert info.expires == 0 and not info.is_expired()
    assert info.name == "alice"
    assert nj.claim_info(vec["delete_claim"]["jwt"]).claim_type == "generic"
    assert nj.claim_info(vec["operator"]["jwt"]).claim_type == "operator"
    assert nj.claim_info(json.loads(vec["account"]["payload"])).claim_type == "account"


def test_tampered_signature_rejected(vec):
    token = vec["user"]["jwt"]
    h, p, s = token.split(".")
    sig = bytearray(_b64d(s))
    sig[0] ^= 1
    bad = f"{h}.{p}.{_b64e(bytes(sig))}"
    with pytest.raises(NatsCodecError, match="signature"):
        nj.decode(bad)
    assert nj.decode(bad, verify=False)["name"] == "alice"


def test_tampered_payload_rejected(vec):
    h, p, s = vec["user"]["jwt"].split(".")
    payload = _b64d(p).replace(b'"alice"', b'"mallory"')
    with pytest.raises(NatsCodecError, match="signature"):
        nj.decode(f"{h}.{_b64e(payload)}.{s}")


def test_decode_rejects_issuer_kind_not_allowed_for_type(keys):
    # A user JWT whose issuer is an operator key, signed correctly, is still refused.
    payload = {"iss": keys["operator"].public_key, "sub": keys["user"].public_key,
               "nats": {"type": "user", "version": 2}}
    signing_input = nj.HEADER_B64 + "." + _b64e(json.dumps(payload).encode())
    token = signing_input + "." + _b64e(keys["operator"].sign(signing_input.encode()))
    with pytest.raises(NatsCodecError, match="not allowed"):
        nj.decode(token)


def test_decode_v1_alg_verifies_payload_only(keys):
    header = _b64e(b'{"typ":"jwt","alg":"ed25519"}')
    payload = _b64e(json.dumps({"iss": keys["account"].public_key, "sub": keys["user"].public_key,
                                "type": "user"}).encode())
    good = f"{header}.{payload}.{_b64e(keys['account'].sign(payload.encode()))}"
    assert nj.claim_info(good).claim_type == "user"
    wrong = f"{header}.{payload}.{_b64e(keys['account'].sign((header + '.' + payload).encode()))}"
    with pytest.raises(NatsCodecError, match="signature"):
        nj.decode(wrong)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b'{"typ":"JOSE","alg":"ed25519-nkey"}', "type"),
        (b'{"typ":"JWT","alg":"HS256"}', "algorithm"),
        (b'{"typ":"JWT","alg":"ed25519-nkeyx"}', "algorithm"),
        (b'{"alg":"ed25519-nkey"}', "type"),
        (b"[1,2]", "JSON object"),
        (b"not json", "not JSON"),
    ],
)
def test_decode_header_checks(vec, header, message):
    _, p, s = vec["user"]["jwt"].split(".")
    with pytest.raises(NatsCodecError, match=message):
        nj.decode(f"{_b64e(header)}.{p}.{s}")


def test_decode_header_case_insensitive(keys):
    header = _b64e(b'{"typ":"jwt","alg":"ED25519-NKEY"}')
    payload = _b64e(json.dumps({"iss": keys["account"].public_key, "sub": keys["user"].public_key,
                                "nats": {"type": "user", "version": 2}}).encode())
    token = f"{header}.{payload}.{_b64e(keys['account'].sign(f'{header}.{payload}'.encode()))}"
    assert nj.decode(token)["sub"] == keys["user"].public_key


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c.d", nj.HEADER_B64 + ".@@@.AAAA", nj.HEADER_B64 + ".e30=.AAAA", b"\xff.a.b", 42],
)
def test_decode_malformed(token):
    with pytest.raises(NatsCodecError):
        nj.decode(token)


def test_decode_size_cap():
    with pytest.raises(NatsCodecError, match="exceeds maximum"):
        nj.decode("a" * (nj.MAX_TOKEN_SIZE + 1))


def test_decode_newer_version_rejected(keys):
    payload = _b64e(json.dumps({"iss": keys["account"].public_key, "nats": {"type": "user", "version": 3}}).encode())
    with pytest.raises(NatsCodecError, match="newer"):
        nj.decode(f"{nj.HEADER_B64}.{payload}.AAAA", verify=False)


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


def test_generic_claims_any_signer(keys):
    for name in ("operator", "account", "user"):
        token = nj.encode(GenericClaims(subject="x", data={"b": 1, "a": [2.0, "y"]}), keys[name], iat=5)
        assert _payload_text(token).endswith('"sub":"x","nats":{"a":[2,"y"],"b":1,"version":2}}')


def test_subject_kind_checked(keys):
    with pytest.raises(NatsCodecError, match="expected user public key"):
        nj.encode(UserClaims(subject=keys["account"].public_key), keys["account"], iat=1)
    with pytest.raises(NatsCodecError, match="expected account public key"):
        nj.encode(AccountClaims(subject=keys["user"].public_key), keys["operator"], iat=1)
    with pytest.raises(NatsCodecError, match="subject is not set"):
        nj.encode(UserClaims(), keys["account"], iat=1)
    with pytest.raises(NatsCodecError, match="expected account public key"):
        nj.encode(
            UserClaims(subject=keys["user"].public_key, issuer_account=keys["operator"].public_key),
            keys["account"],
            iat=1,
        )


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
    assert "data" not in payload["nats"]
    assert nj.claim_info(token).is_expired(now=1900000001)
    assert not nj.claim_info(token).is_expired(now=1900000000)


def test_user_full_field_order(keys):
    claims = UserClaims(
        subject=keys["user"].public_key,
        name="n",
        not_before=10,
        audience="aud",
        pub_allow=["a"],
        sub_deny=["b"],
        resp=ResponsePermission(max_msgs=5, ttl_seconds=1.5),
        src=[" 10.0.0.0/8 ", "10.0.0.0/8", "192.168.1.0/24"],
        times=[nj.TimeRange("08:00:00", "17:00:00")],
        times_location="Europe/Paris",
        subs=10,
        data=20,
        payload=30,
        bearer_token=True,
        proxy_required=True,
        allowed_connection_types=["STANDARD", "WEBSOCKET", "STANDARD"],
        issuer_account=keys["account"].public_key,
        tags=["Edge", "edge", " Site-1 "],
    )
    payload = nj.decode(nj.encode(claims, keys["account_signing"], iat=7))
    assert list(payload) == ["aud", "jti", "iat", "iss", "name", "nbf", "sub", "nats"]
    n = payload["nats"]
    assert list(n) == [
        "pub", "sub", "resp", "src", "times", "times_location", "subs", "data", "payload",
        "bearer_token", "proxy_required", "allowed_connection_types", "issuer_account", "tags",
        "type", "version",
    ]
    assert n["pub"] == {"allow": ["a"]} and n["sub"] == {"deny": ["b"]}
    assert n["resp"] == {"max": 5, "ttl": 1500000000}
    assert n["src"] == ["10.0.0.0/8", "192.168.1.0/24"]
    assert n["times"] == [{"start": "08:00:00", "end": "17:00:00"}]
    assert n["allowed_connection_types"] == ["STANDARD", "WEBSOCKET"]
    assert n["tags"] == ["edge", "site-1"]


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
    claims = UserClaims(subject=keys["user"].public_key, pub_allow=["x.>", "", "y", "x.>"], pub_deny=[""])
    n = nj.decode(nj.encode(claims, keys["account"], iat=1))["nats"]
    assert n["pub"] == {"allow": ["x.>", "y"]}


def test_account_full_field_order(keys):
    other = keys["system_account"].public_key
    claims = AccountClaims(
        subject=keys["account"].public_key,
        name="full",
        limits=AccountLimits(
            subs=1, data=2, payload=3, imports=4, exports=5, wildcards=True, disallow_bearer=True,
            conn=6, leaf=7, mem_storage=8, disk_storage=9, streams=10, consumer=11, max_ack_pending=12,
            mem_max_stream_bytes=13, disk_max_stream_bytes=14, max_bytes_required=True,
            tiered_limits={"R3": JetStreamLimits(disk_storage=1), "R1": JetStreamLimits(mem_storage=2)},
        ),
        signing_keys=[keys["account_signing"].public_key, keys["system_account_signing"].public_key],
        revocations={"UZZ": 2, "*": 1, "UAA": 3},
        exports=[
            Export(subject="z.svc", type="service", name="z", response_type="Chunked",
                   response_threshold_seconds=2, service_latency=ServiceLatency(0, "lat.z"),
                   token_req=True, revocations={"AB": 1}, advertise=True, allow_trace=True,
                   description="d", info_url="https://x.example"),
            Export(subject="a.>", type="stream"),
            Export(subject="m.*", type="stream", name="first-m"),
            Export(subject="m.*", type="service", name="second-m"),
        ],
        imports=[
            Import(subject="q", account=other, type="service", name="q", token="t", to="old",
                   local_subject="lq", share=True, allow_trace=True),
            Import(subject="b.>", account=other, type="stream"),
        ],
        default_permissions=Permissions(pub_allow=["p"], sub_deny=["s"], resp=ResponsePermission(2, 0)),
        authorization=nj.ExternalAuthorization(auth_users=[keys["user"].public_key], allowed_accounts=["*"]),
        cluster_traffic="owner",
        description="desc",
        info_url="https://info.example",
        tags=["T"],
    )
    payload = nj.decode(nj.encode(claims, keys["operator"], iat=1))
    n = payload["nats"]
    assert list(n) == [
        "imports", "exports", "limits", "signing_keys", "revocations", "default_permissions",
        "authorization", "cluster_traffic", "description", "info_url", "tags", "type", "version",
    ]
    assert list(n["limits"]) == [
        "subs", "data", "payload", "imports", "exports", "wildcards", "disallow_bearer", "conn", "leaf",
        "mem_storage", "disk_storage", "streams", "consumer", "max_ack_pending", "mem_max_stream_bytes",
        "disk_max_stream_bytes", "max_bytes_required", "tiered_limits",
    ]
    assert list(n["limits"]["tiered_limits"]) == ["R1", "R3"]
    assert n["limits"]["tiered_limits"]["R3"] == {"disk_storage": 1}
    assert n["signing_keys"] == sorted(n["signing_keys"])
    assert list(n["revocations"]) == ["*", "UAA", "UZZ"]
    assert [e["subject"] for e in n["exports"]] == ["a.>", "m.*", "m.*", "z.svc"]
    assert [e.get("name") for e in n["exports"]][1:3] == ["first-m", "second-m"]  # stable
    assert list(n["exports"][3]) == [
        "name", "subject", "type", "token_req", "revocations", "response_type", "response_threshold",
        "service_latency", "advertise", "allow_trace", "description", "info_url",
    ]
    assert n["exports"][3]["response_threshold"] == 2_000_000_000
    assert n["exports"][3]["service_latency"] == {"sampling": "headers", "results": "lat.z"}
    assert [i["subject"] for i in n["imports"]] == ["b.>", "q"]
    assert list(n["imports"][1]) == [
        "name", "subject", "account", "token", "to", "local_subject", "type", "share", "allow_trace",
    ]
    assert n["default_permissions"] == {"pub": {"allow": ["p"]}, "sub": {"deny": ["s"]},
                                        "resp": {"max": 2, "ttl": 0}}
    assert list(n["authorization"]) == ["auth_users", "allowed_accounts"]
    assert n["tags"] == ["t"]


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
    bad = [
        AccountClaims(subject=keys["account"].public_key, signing_keys=[keys["operator"].public_key]),
        AccountClaims(subject=keys["account"].public_key, exports=[Export(subject="x", type="bogus")]),
        AccountClaims(subject=keys["account"].public_key,
                      exports=[Export(subject="x", type="service", response_type="stream")]),
        AccountClaims(subject=keys["account"].public_key, limits=AccountLimits(conn="5")),  # type: ignore[arg-type]
        AccountClaims(subject=keys["account"].public_key, cluster_traffic="everyone"),
        AccountClaims(subject=keys["account"].public_key,
                      exports=[Export(subject="x", type="service", service_latency=ServiceLatency(101, "r"))]),
    ]
    for claims in bad:
        with pytest.raises(NatsCodecError):
            nj.encode(claims, keys["operator"], iat=1)
    with pytest.raises(NatsCodecError):
        nj.encode(OperatorClaims(subject=keys["operator"].public_key, signing_keys=[keys["account"].public_key]),
                  keys["operator"], iat=1)
    with pytest.raises(NatsCodecError):
        nj.encode(OperatorClaims(subject=keys["operator"].public_key, system_account=keys["user"].public_key),
                  keys["operator"], iat=1)


def test_revocation_keeps_later_time(keys):
    a = AccountClaims(subject=keys["account"].public_key)
    a = a.with_revocation("UX", 100).with_revocation("UX", 50).with_revocation("*", 7)
    assert a.revocations == {"UX": 100, "*": 7}
    assert a.with_revocation("UX", 200).revocations["UX"] == 200


def test_account_delete_claims_validation(keys):
    with pytest.raises(NatsCodecError):
        nj.account_delete_claims(keys["account"].public_key, [keys["account"].public_key])
    with pytest.raises(NatsCodecError):
        nj.account_delete_claims(keys["operator"].public_key, [])
    with pytest.raises(NatsCodecError):
        nj.account_delete_claims(keys["operator"].public_key, [keys["user"].public_key])


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


def test_creds_parse_round_trip(vec, keys):
    jwt, seed = nj.parse_creds(vec["user_creds"])
    assert jwt == vec["user"]["jwt"] and seed == keys["user"].seed
    assert nj.parse_creds(vec["user_creds"].replace("\n", "\r\n")) == (jwt, seed)
    assert nj.parse_creds(vec["user_creds"].encode()) == (jwt, seed)
    no_footer = vec["user_creds"].rstrip("\n").removesuffix("*" * 61).rstrip("\n")
    assert no_footer.endswith("------END USER NKEY SEED------")
    assert nj.parse_creds(no_footer) == (jwt, seed)
    minted = nj.mint_user_credentials(UserClaims(name="bob", pub_allow=["x"]), keys["account"])
    assert nj.parse_creds(minted.creds) == (minted.jwt, minted.seed)
    assert nj.decode(minted.jwt)["sub"] == minted.public_key
    assert nj.format_user_creds(minted.jwt, minted.seed) == minted.creds


def test_creds_parse_errors(vec, keys):
    only_jwt = vec["user_creds"].split("\n\n*")[0] + "\n"
    with pytest.raises(NatsCodecError):
        nj.parse_creds(only_jwt)
    with pytest.raises(NatsCodecError):
        nj.parse_creds("")
    with pytest.raises(NatsCodecError, match="user seed"):
        nj.parse_creds(vec["user_creds"].replace(keys["user"].seed, keys["account"].seed))


def test_creds_refuses_mismatched_or_non_user_seed(vec, keys):
    with pytest.raises(NatsCodecError, match="does not match"):
        nj.format_user_creds(vec["user"]["jwt"], keys["system_user"].seed)
    with pytest.raises(NatsCodecError, match="not a user seed"):
        nj.format_user_creds(vec["user"]["jwt"], keys["account"].seed)
    with pytest.raises(NatsCodecError, match="cannot be serialized as a user config"):
        nj.format_user_creds(vec["account"]["jwt"], keys["user"].seed)
    h, p, s = vec["user"]["jwt"].split(".")
    with pytest.raises(NatsCodecError, match="signature"):
        nj.format_user_creds(f"{h}.{p}.{s[::-1]}", keys["user"].seed)
    with pytest.raises(NatsCodecError):
        nj.mint_user_credentials(UserClaims(), keys["account"], user_key=keys["account"])


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


@pytest.mark.parametrize("subject", ["a.*", ">", "a.>", "*"])
def test_validate_subject_without_wildcards(subject):
    with pytest.raises(NatsCodecError, match="wildcards"):
        nj.validate_subject(subject, allow_wildcards=False)
    assert nj.validate_subject("a.b", allow_wildcards=False) == "a.b"


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
