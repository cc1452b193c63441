"""Nebula certificate codec: reference vectors, round trips, PEM, keys, signing rules, verification, and
cross-checks against the real ``nebula-cert`` binary (integration)."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

from credentials.codecs import nebulacert as nc
from credentials.codecs.nebulacert import NebulaCertError

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "vectors" / "nebula.json").read_text())
V1 = VECTORS["v1"]
V2 = VECTORS["v2"]

# Inputs of the reference vectors (see the `_inputs` fields).
CA_SEED = b"\x11" * 32
HOST_PRIV = b"\x22" * 32
NB, CA_NA, HOST_NA = 1795440000, 2110800000, 1826976000
IN_WINDOW = 1800000000


def x25519_public(private: bytes) -> bytes:
    return x25519.X25519PrivateKey.from_private_bytes(private).public_key().public_bytes_raw()


def vector_ca(version: int = 1):
    return nc.create_ca(
        "acme-ca", NB, CA_NA, version=version, key=ed25519.Ed25519PrivateKey.from_private_bytes(CA_SEED)
    )


def now_ca(version: int = 1, name: str = "test-ca"):
    now = int(time.time())
    return nc.create_ca(name, now - 3600, now + 30 * 86400, version=version)


def issue(ca, key, name="host-1", networks=("10.128.0.5/16",), groups=("web",), nb=None, na=None, **kw):
    now = int(time.time())
    kw.setdefault("public_key", nc.generate_host_keypair()[1])
    return nc.HostSigner(ca, key).sign(
        name, list(networks), list(groups), now - 60 if nb is None else nb, now + 86400 if na is None else na, **kw
    )


def sign(ca, key, **kw):
    args = {
        "name": "h",
        "networks": ["10.128.1.1/24"],
        "groups": ["web"],
        "not_before": NB,
        "not_after": HOST_NA,
        "public_key": b"\x09" * 32,
    }
    args.update(kw)
    return nc.HostSigner(ca, key).sign(**args)


def verify(cert, cas, blocklist=(), now=None):
    return nc.CAPool(cas, blocklist).verify(cert, now)


def pem(version: int, der_hex: str) -> str:
    return nc.pem_encode(nc.CERT_V2_BANNER if version == 2 else nc.CERT_BANNER, bytes.fromhex(der_hex))


# ------------------------------------------------------------------------------------------------
# v1 reference vectors (verified against nebula-cert 1.6.1)


def test_v1_ca_vector_byte_for_byte():
    ca, key = vector_ca(1)
    assert ca.details.hex() == V1["ca_details_hex"]
    assert ca.marshal().hex() == V1["ca_der_hex"]
    assert ca.fingerprint() == V1["ca_fingerprint"]
    assert key[:32] == CA_SEED and key[32:] == ca.public_key
    assert ca.details.startswith(b"\x0a\x07acme-ca\x28") and ca.details.endswith(b"\x40\x01")


def test_v1_host_vector_byte_for_byte():
    ca, key = vector_ca(1)
    assert x25519_public(HOST_PRIV).hex() == V1["host_x25519_pub_hex"]
    host = sign(
        ca, key, name="web-01", networks=["10.128.0.100/24"], groups=["web", "ssh"],
        public_key=x25519_public(HOST_PRIV), unsafe_networks=["192.168.50.0/24"],
    )  # fmt: skip
    assert host.details.hex() == V1["host_details_hex"]
    assert host.marshal().hex() == V1["host_der_hex"]
    assert host.fingerprint() == V1["host_fingerprint"]
    assert host.issuer == V1["ca_fingerprint"]
    # the host address is stored with the mask: 10.128.0.100/24 -> 0x0A800064, 0xFFFFFF00
    assert bytes.fromhex("1209e480805480feffff0f") in host.details
    assert host.details.endswith(b"\x4a\x20" + bytes.fromhex(V1["ca_fingerprint"]))
    assert b"\x22\x03web\x22\x03ssh" in host.details


@pytest.mark.parametrize(("version", "vectors"), [(1, V1), (2, V2)])
def test_vectors_decode_re_encode_and_verify(version, vectors):
    ca = nc.load_certificate(pem(version, vectors["ca_der_hex"]))
    host = nc.load_certificate(pem(version, vectors["host_der_hex"]))
    assert (ca.version, ca.name, ca.is_ca, ca.not_before, ca.not_after) == (version, "acme-ca", True, NB, CA_NA)
    assert (host.name, host.networks, host.groups) == ("web-01", ["10.128.0.100/24"], ["web", "ssh"])
    assert (host.not_before, host.not_after, host.is_ca) == (NB, HOST_NA, False)
    assert host.issuer == vectors["ca_fingerprint"] == ca.fingerprint()
    assert host.fingerprint() == vectors["host_fingerprint"]
    assert ca.marshal().hex() == vectors["ca_der_hex"] and host.marshal().hex() == vectors["host_der_hex"]
    assert verify(host, [ca], now=IN_WINDOW) == ca


# ------------------------------------------------------------------------------------------------
# v2 reference vectors (nebula v1.10.0 cert_v2.go)


def test_v2_ca_vector_byte_for_byte():
    ca, _key = vector_ca(2)
    der = ca.marshal()
    assert der.hex() == V2["ca_der_hex"] and len(der) == 128
    assert der.startswith(bytes.fromhex("307ea018800761636d652d63618401ff85046b043d8086047dd040808220") + ca.public_key)
    assert ca.fingerprint() == V2["ca_fingerprint"]
    # the v2 fingerprint is not the hash of the DER but of details || curve || public key || signature
    assert hashlib.sha256(der).hexdigest() != ca.fingerprint()
    assert ca.fingerprint() == hashlib.sha256(ca.details + b"\x00" + ca.public_key + ca.signature).hexdigest()


def test_v2_host_vector_byte_for_byte_with_sorted_unsafe_networks():
    ca, key = vector_ca(2)
    host = sign(
        ca, key, name="web-01", networks=["10.128.0.100/24"], groups=["web", "ssh"], public_key=b"\x22" * 32,
        unsafe_networks=["192.168.50.0/24", "172.16.0.0/16"],
    )  # fmt: skip
    assert host.marshal().hex() == V2["host_der_hex"]
    assert host.fingerprint() == V2["host_fingerprint"]
    assert host.unsafe_networks == ["172.16.0.0/16", "192.168.50.0/24"]
    assert bytes.fromhex("04050a80006418") in host.marshal()  # address + prefix
    assert host.signing_input() == host.details + b"\x00" + host.public_key
    ed25519.Ed25519PublicKey.from_public_bytes(ca.public_key).verify(host.signature, host.signing_input())


def test_v2_keeps_the_details_it_was_read_from():
    """Networks out of order on the wire: the signature covers the bytes as read, not a re-encoding."""
    ca, key = vector_ca(2)
    der = nc._der
    nets = der(0x04, bytes([10, 2, 0, 1, 16])) + der(0x04, bytes([10, 1, 0, 1, 16]))  # unsorted
    details = der(
        0xA0,
        der(0x80, b"odd") + der(0xA1, nets) + der(0x85, nc._der_int(NB)) + der(0x86, nc._der_int(HOST_NA))
        + der(0x87, bytes.fromhex(ca.fingerprint())),
    )  # fmt: skip
    pub = b"\x44" * 32
    signature = ed25519.Ed25519PrivateKey.from_private_bytes(key[:32]).sign(details + b"\x00" + pub)
    wire = der(0x30, details + der(0x82, pub) + der(0x83, signature))
    cert = nc.load_certificate(nc.pem_encode(nc.CERT_V2_BANNER, wire))
    assert cert.networks == ["10.2.0.1/16", "10.1.0.1/16"]
    assert cert.details == details and cert.marshal() == wire
    assert cert.fingerprint() == hashlib.sha256(details + b"\x00" + pub + signature).hexdigest()
    verify(cert, [ca], now=IN_WINDOW)


def test_der_integers_are_minimal():
    assert [nc._der_int(v) for v in (0, 127, 128, -1, -128, -129)] == [
        b"\x00", b"\x7f", b"\x00\x80", b"\xff", b"\x80", b"\xff\x7f",
    ]  # fmt: skip
    assert nc._der_int(NB) == bytes.fromhex("6b043d80") and nc._der_int(2**63 - 1) == b"\x7f" + b"\xff" * 7


# ------------------------------------------------------------------------------------------------
# Round trips and decoding


@pytest.mark.parametrize("version", [1, 2])
def test_round_trip_through_pem(version):
    ca, key = now_ca(version)
    host = issue(ca, key, groups=["web", "ops"], unsafe_networks=["192.168.7.0/24", "10.9.0.0/16"])
    text = host.to_pem()
    assert text.startswith(f"-----BEGIN {nc.CERT_V2_BANNER if version == 2 else nc.CERT_BANNER}-----\n")
    loaded = nc.load_certificate(text)
    assert loaded == host and loaded.to_pem() == text and loaded.fingerprint() == host.fingerprint()
    assert nc.load_certificates(ca.to_pem() + "\n" + text) == [ca, host]


def test_datetimes_and_their_round_trip():
    start, end = datetime.fromtimestamp(NB, UTC), datetime.fromtimestamp(CA_NA, UTC)
    ca, _ = nc.create_ca("acme-ca", start, end, key=ed25519.Ed25519PrivateKey.from_private_bytes(CA_SEED))
    assert ca.marshal().hex() == V1["ca_der_hex"]
    assert (ca.not_before_dt, ca.not_after_dt) == (start, end)
    with pytest.raises(NebulaCertError, match="timezone-aware"):
        nc.create_ca("x", datetime(2030, 1, 1), datetime(2031, 1, 1))  # noqa: DTZ001
    assert not ca.expired(NB) and not ca.expired(CA_NA)  # both ends inclusive, like nebula
    assert ca.expired(NB - 1) and ca.expired(CA_NA + 0.5)


def v1_wire(details: bytes, signature: bytes = b"\x01" * 64) -> str:
    return nc.pem_encode(nc.CERT_BANNER, nc._pb(1, details) + nc._pb(2, signature))


PUB = nc._pb(7, b"\x01" * 32)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (nc.pem_encode(nc.CERT_BANNER, bytes.fromhex("0a05")), "bad wire format"),
        (nc.pem_encode(nc.CERT_BANNER, b"\x12\x00"), "unexpected field type"),
        (nc.pem_encode(nc.CERT_BANNER, b"\x0d\x00\x00\x00\x00"), "wire type 5"),
        (v1_wire(nc._pb(2, nc._varint(1)) + PUB), "should be in pairs"),
        (v1_wire(nc._pb(2, nc._varint(1) + nc._varint(0xFF00FF00)) + PUB), "invalid network"),
        (v1_wire(nc._pb(1, b"\xff") + PUB), "UTF-8"),
        (v1_wire(b"\x08\x01" + PUB), "unexpected field type"),
        (v1_wire(nc._pb(1, b"x") + nc._pb(2, nc._v1_pairs([nc._network("10.0.0.1/8")]))), "invalid public key"),
        (v1_wire(nc._pb(1, b"x") + PUB), "at least one network"),
        (v1_wire(nc._pb(1, b"x") + PUB + b"\xa0\x06\x01", b"\x01" * 64), "only curve25519"),
        (nc.pem_encode(nc.CERT_V2_BANNER, bytes.fromhex(V2["ca_der_hex"])[:-1]), "truncated"),
        (nc.pem_encode(nc.CERT_V2_BANNER, b"\x31\x00"), "not a v2 certificate"),
        (nc.pem_encode(nc.CERT_V2_BANNER, nc._der(0x30, nc._der(0x81, b"\x01"))), "only curve25519"),
        (nc.pem_encode(nc.CERT_V2_BANNER, nc._der(0x30, nc._der(0x82, b"\x01" * 32))), "missing details"),
        (nc.pem_encode(nc.CERT_BANNER[:-1] + "X", b"x"), "proper certificate banner"),
    ],
)
def test_decode_errors(text, message):
    with pytest.raises(NebulaCertError, match=message):
        nc.load_certificate(text)


def test_v2_ipv6_networks_are_refused():
    der = nc._der
    v6 = der(0x04, b"\xfd" + b"\x00" * 14 + b"\x01" + b"\x40")  # fd00::1/64
    details = der(0xA0, der(0x80, b"v6") + der(0xA1, v6) + der(0x85, nc._der_int(NB)) + der(0x86, nc._der_int(HOST_NA)))
    wire = der(0x30, details + der(0x82, b"\x01" * 32) + der(0x83, b"\x02" * 64))
    with pytest.raises(NebulaCertError, match="only IPv4 is supported"):
        nc.load_certificate(nc.pem_encode(nc.CERT_V2_BANNER, wire))


# ------------------------------------------------------------------------------------------------
# PEM and keys


def test_pem_banners_and_line_layout():
    ca, key = vector_ca(1)
    ca2, _ = vector_ca(2)
    priv, _ = nc.generate_host_keypair()
    assert ca.to_pem().splitlines()[0] == "-----BEGIN NEBULA CERTIFICATE-----"
    assert ca.to_pem().endswith("-----END NEBULA CERTIFICATE-----\n")
    assert ca2.to_pem().splitlines()[0] == "-----BEGIN NEBULA CERTIFICATE V2-----"
    assert nc.ed25519_private_key_to_pem(key).startswith("-----BEGIN NEBULA ED25519 PRIVATE KEY-----\n")
    assert nc.x25519_private_key_to_pem(priv).startswith("-----BEGIN NEBULA X25519 PRIVATE KEY-----\n")
    # Go pem.EncodeToMemory: 64-character lines, the last one shorter, END line with a newline
    body = nc.pem_encode("X", bytes(range(256))).splitlines()[1:-1]
    assert [len(line) for line in body] == [64] * 5 + [24]
    assert "".join(body) == base64.b64encode(bytes(range(256))).decode()
    assert nc.pem_encode("X", b"") == "-----BEGIN X-----\n-----END X-----\n"
    assert nc.parse_pem(nc.ed25519_private_key_to_pem(key)) == [("NEBULA ED25519 PRIVATE KEY", CA_SEED + ca.public_key)]


def test_parse_pem_bundles_and_errors():
    ca1, _ = vector_ca(1)
    ca2, _ = vector_ca(2)
    bundle = ca1.to_pem() + "\n" + ca2.to_pem()
    assert [b for b, _ in nc.parse_pem(bundle)] == ["NEBULA CERTIFICATE", "NEBULA CERTIFICATE V2"]
    assert [c.version for c in nc.load_certificates(bundle)] == [1, 2]
    assert nc.parse_pem(ca1.to_pem().replace("\n", "\r\n"))[0][1] == ca1.marshal()
    for bad in (
        "no pem here",
        "garbage\n" + ca1.to_pem(),
        ca1.to_pem() + "trailing",
        ca1.to_pem().replace("END NEBULA CERTIFICATE", "END NEBULA CERTIFICATE V2"),
    ):
        with pytest.raises(NebulaCertError, match="not a sequence of valid PEM blocks"):
            nc.parse_pem(bad)
    with pytest.raises(NebulaCertError, match="base64"):
        nc.parse_pem("-----BEGIN X-----\nAAA\n-----END X-----\n")
    with pytest.raises(NebulaCertError, match="exactly one certificate, found 2"):
        nc.load_certificate(bundle)
    with pytest.raises(NebulaCertError):  # a v1 body under the v2 banner
        nc.load_certificate(nc.pem_encode(nc.CERT_V2_BANNER, ca1.marshal()))


def test_host_keypair_is_x25519():
    priv, pub = nc.generate_host_keypair()
    assert len(priv) == len(pub) == 32 and x25519_public(priv) == pub
    assert nc.parse_pem(nc.x25519_private_key_to_pem(priv)) == [(nc.X25519_PRIVATE_BANNER, priv)]


def test_ca_key_loading():
    _, key = vector_ca(1)
    assert nc.load_ca_key(nc.ed25519_private_key_to_pem(key)) == key
    for bad in (
        nc.x25519_private_key_to_pem(HOST_PRIV),
        nc.pem_encode(nc.ED25519_PRIVATE_BANNER, CA_SEED),
        nc.ed25519_private_key_to_pem(key) * 2,
    ):
        with pytest.raises(NebulaCertError, match="expected one NEBULA ED25519 PRIVATE KEY block of 64 bytes"):
            nc.load_ca_key(bad)


def test_parse_device_public_key_formats():
    _, pub = nc.generate_host_keypair()
    text = nc.pem_encode(nc.X25519_PUBLIC_BANNER, pub)
    for value in (
        text,
        "\n  " + text + "\n",
        text.encode(),
        pub.hex(),
        pub.hex().upper(),
        base64.b64encode(pub).decode(),
        base64.urlsafe_b64encode(pub).decode().rstrip("="),
    ):
        assert nc.parse_public_key_pem_or_raw(value) == pub


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (nc.pem_encode("NEBULA ED25519 PUBLIC KEY", b"\x01" * 32), "Ed25519 keys are for CA signing only"),
        (nc.pem_encode(nc.ED25519_PRIVATE_BANNER, b"\x01" * 64), "this is a private key"),
        (nc.pem_encode(nc.X25519_PRIVATE_BANNER, b"\x01" * 32), "this is a private key"),
        (nc.pem_encode(nc.X25519_PUBLIC_BANNER, b"\x01" * 31), "32 bytes, got 31"),
        (nc.pem_encode(nc.CERT_BANNER, b"\x01" * 32), "expected one NEBULA X25519 PUBLIC KEY PEM block"),
        ("ab" * 31, "64 hex characters"),
        (base64.b64encode(b"\x01" * 16).decode(), "32 bytes, got 16"),
        ("not a key!", "neither"),
        ("", "empty"),
        ("00" * 32, "low-order"),
        ("01" + "00" * 31, "low-order"),
    ],
)
def test_parse_device_public_key_rejections(value, message):
    with pytest.raises(NebulaCertError, match=message):
        nc.parse_public_key_pem_or_raw(value)


# ------------------------------------------------------------------------------------------------
# Signing rules


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"not_after": CA_NA + 1}, "^certificate expires after signing certificate$"),
        ({"not_before": NB - 1}, "^certificate is valid before the signing certificate$"),
        ({"not_after": NB}, "not_after must be later than not_before"),
        ({"name": ""}, "name is required"),
        ({"public_key": b"\x09" * 31}, "32 bytes"),
        ({"networks": []}, "at least one network"),
        ({"networks": "10.128.1.1/24"}, "lists, not strings"),
        ({"groups": "web"}, "lists, not strings"),
        ({"networks": ["10.128.1.1"]}, "an IPv4 address/prefix is expected"),
        ({"networks": ["10.128.1.1/33"]}, "an IPv4 address/prefix is expected"),
        ({"networks": ["10.128.1.1/024"]}, "an IPv4 address/prefix is expected"),
        ({"networks": ["010.128.1.1/24"]}, "an IPv4 address/prefix is expected"),
        ({"networks": ["fd00::1/64"]}, "an IPv4 address/prefix is expected"),
        ({"unsafe_networks": ["fd00::/64"]}, "an IPv4 address/prefix is expected"),
        ({"networks": ["0.0.0.0/24"]}, "zero address"),
        ({"groups": [""]}, "groups must be non-empty strings"),
        ({"groups": [1]}, "groups must be non-empty strings"),
    ],
)
def test_signing_rules(overrides, message):
    ca, key = vector_ca(1)
    with pytest.raises(NebulaCertError, match=message):
        sign(ca, key, **overrides)


def test_v2_signing_rules():
    ca, key = vector_ca(2)
    with pytest.raises(NebulaCertError, match="duplicate network detected"):
        sign(ca, key, networks=["10.128.1.1/24", "10.128.1.1/24"])
    with pytest.raises(NebulaCertError, match="duplicate network detected"):
        sign(ca, key, unsafe_networks=["192.168.0.0/24", "192.168.0.0/24"])
    with pytest.raises(NebulaCertError, match="253"):
        sign(ca, key, name="x" * 254)
    assert sign(ca, key, name="x" * 253).version == 2
    # a default route is a valid unsafe network, only the host's own address must not be zero
    assert sign(ca, key, unsafe_networks=["0.0.0.0/0"]).unsafe_networks == ["0.0.0.0/0"]


def test_the_signer_needs_the_ca_and_its_key():
    ca, key = vector_ca(1)
    _, other_key = nc.create_ca("other", NB, CA_NA)
    with pytest.raises(NebulaCertError, match="root certificate does not match private key"):
        nc.HostSigner(ca, other_key)
    with pytest.raises(NebulaCertError, match="64 bytes"):
        nc.HostSigner(ca, key[:32])
    host = sign(ca, key)
    with pytest.raises(NebulaCertError, match="not a CA"):
        nc.HostSigner(host, key)
    constrained = nc._signed(
        ed25519.Ed25519PrivateKey.from_private_bytes(CA_SEED), 1, "c", [], [], ["web"], NB, CA_NA, ca.public_key,
        True, b"",
    )  # fmt: skip
    with pytest.raises(NebulaCertError, match="constraints are not supported"):
        nc.HostSigner(constrained, key)
    with pytest.raises(NebulaCertError, match="constraints are not supported"):
        nc.CAPool([constrained])


def test_signing_is_deterministic_and_issuer_is_the_ca():
    ca, key = vector_ca(1)
    assert sign(ca, key) == sign(ca, key)
    assert sign(ca, key, not_after=CA_NA).issuer == ca.fingerprint()  # equal bounds are allowed, like nebula


# ------------------------------------------------------------------------------------------------
# Verification


def test_verify_accepts_and_returns_the_signer():
    ca, key = now_ca()
    assert verify(issue(ca, key), [ca]) == ca
    assert verify(issue(ca, key), [ca], now=datetime.now(UTC)) == ca


def test_verify_refuses_in_nebulas_order():
    ca, key = now_ca()
    other, _ = now_ca(name="other")
    now = int(time.time())
    with pytest.raises(NebulaCertError, match="^could not find ca for the certificate$"):
        verify(issue(ca, key), [other])
    expired = issue(ca, key, nb=now - 3000, na=now - 10)
    with pytest.raises(NebulaCertError, match="^certificate is expired$"):
        verify(expired, [ca])
    with pytest.raises(NebulaCertError, match="^certificate is expired$"):
        verify(issue(ca, key, nb=now + 600, na=now + 6000), [ca])
    # the blocklist comes first (case does not matter), then the CA's own expiry
    with pytest.raises(NebulaCertError, match="^certificate is in the block list$"):
        verify(expired, [ca], blocklist={expired.fingerprint().upper()})
    verify(issue(ca, key), [ca], blocklist={expired.fingerprint()})
    with pytest.raises(NebulaCertError, match="^root certificate is expired$"):
        verify(expired, [ca], now=ca.not_after + 10)
    with pytest.raises(NebulaCertError, match="no issuer in certificate"):
        verify(ca, [ca])


def test_verify_refuses_tampering():
    ca, key = now_ca()
    host = issue(ca, key)
    bad_signature = host._replace(signature=bytes([host.signature[0] ^ 1]) + host.signature[1:])
    with pytest.raises(NebulaCertError, match="^certificate signature did not match$"):
        verify(bad_signature, [ca])
    wire = host.marshal().replace(b"\x22\x03web", b"\x22\x03wex")  # a group renamed on the wire
    with pytest.raises(NebulaCertError, match="^certificate signature did not match$"):
        verify(nc.load_certificate(nc.pem_encode(nc.CERT_BANNER, wire)), [ca])
    with pytest.raises(NebulaCertError, match="host-1: certificate is not a CA"):
        nc.CAPool([host])
    impostor = nc.load_certificate(nc.pem_encode(nc.CERT_BANNER, ca.marshal().replace(b"test-ca", b"test-cb")))
    with pytest.raises(NebulaCertError, match="test-cb: certificate is not self-signed"):
        nc.CAPool([impostor])


def test_verify_refuses_a_certificate_outliving_its_ca():
    """Validly signed but past the CA's lifetime (made without HostSigner, which refuses it)."""
    ca, key = vector_ca(1)
    rogue = nc._signed(
        ed25519.Ed25519PrivateKey.from_private_bytes(key[:32]), 1, "rogue", [nc._network("10.128.0.1/16")], [], [],
        NB, CA_NA + 10, b"\x09" * 32, False, bytes.fromhex(ca.fingerprint()),
    )  # fmt: skip
    with pytest.raises(NebulaCertError, match="^certificate expires after signing certificate$"):
        verify(rogue, [ca], now=IN_WINDOW)


def test_rotation_bundle_trusts_both_cas():
    old, old_key = now_ca(name="old")
    new, new_key = now_ca(name="new", version=2)
    pool = nc.CAPool(nc.load_certificates(old.to_pem() + new.to_pem()))
    assert pool.verify(issue(old, old_key)) == old
    assert pool.verify(issue(new, new_key)) == new


# ------------------------------------------------------------------------------------------------
# Integration with the real nebula-cert (Debian's nebula package, 1.6.1: v1 certificates)


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found on PATH; install the Debian 'nebula' package (apt-get install nebula)")
    return path


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=60, check=False)


def write_ca_and_host(tmp_path: Path, **issue_kw):
    ca, key = now_ca()
    priv, pub = nc.generate_host_keypair()
    issue_kw.setdefault("groups", ["web", "ssh"])
    issue_kw.setdefault("unsafe_networks", ["192.168.50.0/24"])
    host = issue(ca, key, name="web-01", networks=["10.128.0.100/24"], public_key=pub, **issue_kw)
    (tmp_path / "ca.crt").write_text(ca.to_pem())
    (tmp_path / "ca.key").write_text(nc.ed25519_private_key_to_pem(key))
    (tmp_path / "host.crt").write_text(host.to_pem())
    (tmp_path / "host.key").write_text(nc.x25519_private_key_to_pem(priv))
    return ca, key, host


def nebula_cert_verify(tmp_path: Path) -> subprocess.CompletedProcess:
    return run(binary("nebula-cert"), "verify", "-ca", str(tmp_path / "ca.crt"), "-crt", str(tmp_path / "host.crt"))


@pytest.mark.integration
def test_nebula_cert_verifies_and_prints_our_certificate(tmp_path):
    ca, _key, host = write_ca_and_host(tmp_path)
    r = nebula_cert_verify(tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run(binary("nebula-cert"), "print", "-json", "-path", str(tmp_path / "host.crt"))
    assert r.returncode == 0, r.stdout + r.stderr
    printed = json.loads(r.stdout)
    details = printed["details"]
    assert printed["fingerprint"] == host.fingerprint()
    assert printed["signature"] == host.signature.hex()
    assert (details["name"], details["ips"], details["subnets"]) == ("web-01", ["10.128.0.100/24"], ["192.168.50.0/24"])
    assert (details["groups"], details["isCa"], details["issuer"]) == (["web", "ssh"], False, ca.fingerprint())
    assert details["publicKey"] == host.public_key.hex()
    assert datetime.fromisoformat(details["notBefore"]).timestamp() == host.not_before
    assert datetime.fromisoformat(details["notAfter"]).timestamp() == host.not_after
    r = run(binary("nebula-cert"), "print", "-json", "-path", str(tmp_path / "ca.crt"))
    assert json.loads(r.stdout)["fingerprint"] == ca.fingerprint()


@pytest.mark.integration
def test_nebula_cert_refuses_another_ca_an_expired_certificate_and_a_bad_signature(tmp_path):
    ca, _key, host = write_ca_and_host(tmp_path)
    other, _ = now_ca(name="other")
    (tmp_path / "ca.crt").write_text(other.to_pem())
    r = nebula_cert_verify(tmp_path)
    assert r.returncode != 0 and "could not find ca for the certificate" in r.stdout + r.stderr

    now = int(time.time())
    write_ca_and_host(tmp_path, nb=now - 3000, na=now - 60)
    r = nebula_cert_verify(tmp_path)
    assert r.returncode != 0 and "certificate is expired" in r.stdout + r.stderr

    _ca, _key, host = write_ca_and_host(tmp_path)
    tampered = host._replace(signature=bytes([host.signature[0] ^ 0x80]) + host.signature[1:])
    (tmp_path / "host.crt").write_text(tampered.to_pem())
    r = nebula_cert_verify(tmp_path)
    assert r.returncode != 0 and "signature did not match" in r.stdout + r.stderr


@pytest.mark.integration
def test_files_made_by_nebula_cert_round_trip_byte_for_byte(tmp_path):
    nebula_cert = binary("nebula-cert")
    r = run(nebula_cert, "ca", "-name", "their-ca", "-duration", "48h", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run(
        nebula_cert, "sign", "-name", "their-host", "-ip", "10.9.0.7/16", "-groups", "a",
        "-subnets", "192.168.1.0/24,192.168.2.0/24", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    ca_text, host_text = (tmp_path / "ca.crt").read_text(), (tmp_path / "their-host.crt").read_text()
    ca, host = nc.load_certificate(ca_text), nc.load_certificate(host_text)
    assert ca.to_pem() == ca_text and host.to_pem() == host_text
    key = nc.load_ca_key((tmp_path / "ca.key").read_text())
    assert nc.ed25519_private_key_to_pem(key) == (tmp_path / "ca.key").read_text()
    host_key = nc.parse_pem((tmp_path / "their-host.key").read_text())[0][1]
    assert nc.x25519_private_key_to_pem(host_key) == (tmp_path / "their-host.key").read_text()
    assert x25519_public(host_key) == host.public_key
    printed = json.loads(run(nebula_cert, "print", "-json", "-path", str(tmp_path / "their-host.crt")).stdout)
    assert printed["fingerprint"] == host.fingerprint() and host.issuer == ca.fingerprint()
    assert host.unsafe_networks == ["192.168.1.0/24", "192.168.2.0/24"]
    verify(host, [ca])
    # and our signer accepts their CA (and its key): nebula-cert verifies what we sign with it
    ours = issue(ca, key, groups=["b"], networks=["10.9.0.8/16"], nb=ca.not_before, na=ca.not_after)
    (tmp_path / "ours.crt").write_text(ours.to_pem())
    r = run(nebula_cert, "verify", "-ca", str(tmp_path / "ca.crt"), "-crt", str(tmp_path / "ours.crt"))
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.integration
def test_a_ca_with_constraints_from_nebula_cert_is_refused_with_a_message(tmp_path):
    r = run(binary("nebula-cert"), "ca", "-name", "limited", "-duration", "48h", "-groups", "a,b", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    ca = nc.load_certificate((tmp_path / "ca.crt").read_text())
    assert ca.groups == ["a", "b"] and ca.constrained
    with pytest.raises(NebulaCertError, match="constraints are not supported"):
        nc.HostSigner(ca, nc.load_ca_key((tmp_path / "ca.key").read_text()))


@pytest.mark.integration
def test_nebula_cert_refuses_v2_which_it_predates(tmp_path):
    """Debian's nebula 1.6.1 only reads v1: the reason the platform issues v1 by default."""
    ca, _ = vector_ca(2)
    (tmp_path / "ca2.crt").write_text(ca.to_pem())
    r = run(binary("nebula-cert"), "print", "-path", str(tmp_path / "ca2.crt"))
    if r.returncode == 0:  # a newer nebula-cert understands v2: then it must agree with us
        assert ca.fingerprint() in r.stdout
    else:
        assert "banner" in r.stdout + r.stderr


def test_expiry_helpers_are_consistent():
    ca, _ = vector_ca(1)
    assert ca.not_after_dt - ca.not_before_dt == timedelta(seconds=CA_NA - NB)
