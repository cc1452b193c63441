"""Nebula certificate codec: reference vectors, round trips, PEM, keys, signing rules, verification, and
cross-checks against the real ``nebula-cert`` binary (integration)."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

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


def vector_ca(version: int = 1):
    return nc.create_ca("acme-ca", NB, CA_NA, version=version, seed=CA_SEED)


def now_ca(version: int = 1, **kw):
    now = int(time.time())
    return nc.create_ca(kw.pop("name", "test-ca"), now - 3600, now + 30 * 86400, version=version, **kw)


def issue(ca, key, name="host-1", networks=("10.128.0.5/16",), groups=("web",), nb=None, na=None, **kw):
    now = int(time.time())
    _priv, pub = nc.generate_host_keypair()
    kw.setdefault("public_key", pub)
    return nc.sign_host(
        ca,
        key,
        name,
        list(networks),
        list(groups),
        now - 60 if nb is None else nb,
        now + 86400 if na is None else na,
        **kw,
    )


# ------------------------------------------------------------------------------------------------
# v1 reference vectors (verified against nebula-cert 1.6.1)


def test_v1_ca_vector_byte_for_byte():
    ca, key = vector_ca(1)
    assert ca.details_bytes().hex() == V1["ca_details_hex"]
    assert ca.marshal().hex() == V1["ca_der_hex"]
    assert ca.fingerprint() == V1["ca_fingerprint"]
    assert key[:32] == CA_SEED and key[32:] == ca.public_key
    # details begin 0a 07 "acme-ca" 28 ... and end with IsCA 40 01
    assert ca.details_bytes().startswith(b"\x0a\x07acme-ca\x28")
    assert ca.details_bytes().endswith(b"\x40\x01")


def test_v1_host_public_key_is_x25519_of_private():
    assert nc.x25519_public_from_private(HOST_PRIV).hex() == V1["host_x25519_pub_hex"]


def test_v1_host_vector_byte_for_byte():
    ca, key = vector_ca(1)
    host = nc.sign_host(
        ca,
        key,
        "web-01",
        ["10.128.0.100/24"],
        ["web", "ssh"],
        NB,
        HOST_NA,
        nc.x25519_public_from_private(HOST_PRIV),
        unsafe_networks=["192.168.50.0/24"],
    )
    details = host.details_bytes()
    assert details.hex() == V1["host_details_hex"]
    assert host.marshal().hex() == V1["host_der_hex"]
    assert host.fingerprint() == V1["host_fingerprint"]
    assert host.issuer == V1["ca_fingerprint"]
    # the HOST address is stored with the mask: 10.128.0.100/24 -> 0x0A800064, 0xFFFFFF00
    assert bytes.fromhex("1209e480805480feffff0f") in details
    # Issuer is the raw 32 fingerprint bytes under field 9
    assert details.endswith(b"\x4a\x20" + bytes.fromhex(V1["ca_fingerprint"]))
    # one tag per group, order preserved
    assert b"\x22\x03web\x22\x03ssh" in details


def test_v1_vectors_decode_and_verify():
    ca = nc.unmarshal_certificate(bytes.fromhex(V1["ca_der_hex"]))
    host = nc.unmarshal_certificate(bytes.fromhex(V1["host_der_hex"]))
    assert (ca.version, ca.name, ca.is_ca, ca.not_before, ca.not_after) == (1, "acme-ca", True, NB, CA_NA)
    assert host.name == "web-01"
    assert host.networks == [ipaddress.ip_interface("10.128.0.100/24")]
    assert host.unsafe_networks == [ipaddress.ip_interface("192.168.50.0/24")]
    assert host.groups == ["web", "ssh"]
    assert (host.not_before, host.not_after) == (NB, HOST_NA)
    assert host.issuer == V1["ca_fingerprint"] == ca.fingerprint()
    assert host.public_key.hex() == V1["host_x25519_pub_hex"]
    assert host.verify_signature(ca.public_key)
    assert ca.verify_signature(ca.public_key)
    assert host.fingerprint() == V1["host_fingerprint"]
    assert host.marshal().hex() == V1["host_der_hex"]
    nc.verify_certificate(host, [ca], now=IN_WINDOW)


# ------------------------------------------------------------------------------------------------
# v2 reference vectors (nebula v1.10.0 cert_v2.go)


def test_v2_ca_vector_byte_for_byte():
    ca, _key = vector_ca(2)
    der = ca.marshal()
    assert der.hex() == V2["ca_der_hex"]
    assert len(der) == 128
    assert der.startswith(
        bytes.fromhex("307ea018800761636d652d63618401ff85046b043d8086047dd040808220") + ca.public_key
    )
    assert der[-66:-64] == b"\x83\x40"
    assert ca.fingerprint() == V2["ca_fingerprint"]
    # v2 fingerprint is NOT the hash of the DER
    assert hashlib.sha256(der).hexdigest() != ca.fingerprint()
    raw_details = ca.details_bytes()
    assert (
        ca.fingerprint() == hashlib.sha256(raw_details + b"\x00" + ca.public_key + ca.signature).hexdigest()
    )


def test_v2_host_vector_byte_for_byte_with_sorted_unsafe_networks():
    ca, key = vector_ca(2)
    host = nc.sign_host(
        ca,
        key,
        "web-01",
        ["10.128.0.100/24"],
        ["web", "ssh"],
        NB,
        HOST_NA,
        b"\x22" * 32,
        unsafe_networks=["192.168.50.0/24", "172.16.0.0/16"],
    )
    assert host.marshal().hex() == V2["host_der_hex"]
    assert host.fingerprint() == V2["host_fingerprint"]
    assert [str(n) for n in host.unsafe_networks] == ["172.16.0.0/16", "192.168.50.0/24"]
    # network stored as host address + prefix: 04 05 0a800064 18
    assert bytes.fromhex("04050a80006418") in host.marshal()


def test_v2_vectors_decode_and_verify():
    ca = nc.unmarshal_certificate(bytes.fromhex(V2["ca_der_hex"]))
    host = nc.unmarshal_certificate(bytes.fromhex(V2["host_der_hex"]))
    assert ca.version == host.version == 2
    assert ca.fingerprint() == V2["ca_fingerprint"]
    assert host.fingerprint() == V2["host_fingerprint"]
    assert host.issuer == V2["ca_fingerprint"]
    assert host.verify_signature(ca.public_key)
    assert host.name == "web-01" and host.groups == ["web", "ssh"]
    assert host.networks == [ipaddress.ip_interface("10.128.0.100/24")]
    assert host.marshal().hex() == V2["host_der_hex"]
    nc.verify_certificate(host, [ca], now=IN_WINDOW)
    # a v1 CA with the same key is a different CA: its fingerprint is not the issuer
    with pytest.raises(NebulaCertError, match="could not find ca for the certificate"):
        nc.verify_certificate(host, [vector_ca(1)[0]], now=IN_WINDOW)


def test_v2_signature_covers_details_curve_and_public_key():
    ca, key = vector_ca(2)
    host = nc.sign_host(ca, key, "h", ["10.1.0.1/16"], [], NB, HOST_NA, b"\x33" * 32)
    message = host.details_bytes() + b"\x00" + host.public_key
    assert host.signing_input() == message
    from cryptography.hazmat.primitives.asymmetric import ed25519

    ed25519.Ed25519PublicKey.from_public_bytes(ca.public_key).verify(host.signature, message)


def test_v2_keeps_wire_details_it_was_read_from():
    """Networks out of order on the wire: nebula sorts them in memory but the signature covers the raw
    bytes, so the decoder must keep them."""
    ca, key = vector_ca(2)

    def tlv(tag, content):
        return nc._der(tag, content)

    nets = tlv(0x04, bytes([10, 2, 0, 1, 16])) + tlv(0x04, bytes([10, 1, 0, 1, 16]))  # unsorted
    details = tlv(
        0xA0,
        tlv(0x80, b"odd")
        + tlv(0xA1, nets)
        + tlv(0x85, nc._der_int_content(NB))
        + tlv(0x86, nc._der_int_content(HOST_NA))
        + tlv(0x87, bytes.fromhex(ca.fingerprint())),
    )
    pub = b"\x44" * 32
    from cryptography.hazmat.primitives.asymmetric import ed25519

    sig = ed25519.Ed25519PrivateKey.from_private_bytes(key[:32]).sign(details + b"\x00" + pub)
    der = tlv(0x30, details + tlv(0x82, pub) + tlv(0x83, sig))
    cert = nc.unmarshal_certificate(der)
    assert [str(n) for n in cert.networks] == ["10.1.0.1/16", "10.2.0.1/16"]
    assert cert.details_bytes() == details
    assert cert.marshal() == der
    assert cert.verify_signature(ca.public_key)
    assert cert.fingerprint() == hashlib.sha256(details + b"\x00" + pub + sig).hexdigest()
    nc.verify_certificate(cert, [ca], now=IN_WINDOW)
    # once a field changes, the details are re-encoded (sorted) and the old signature no longer holds
    cert.name = "other"
    assert cert.details_bytes() != details
    assert not cert.verify_signature(ca.public_key)


def test_v2_ipv6_networks_and_sorting():
    ca, key = nc.create_ca("ca6", NB, CA_NA, version=2, networks=["fd00::/8", "10.0.0.0/8"])
    assert [str(n) for n in ca.networks] == ["10.0.0.0/8", "fd00::/8"]  # IPv4 sorts before IPv6
    host = nc.sign_host(
        ca,
        key,
        "h6",
        ["fd00::5/64", "10.1.2.3/16"],
        [],
        NB,
        HOST_NA,
        b"\x55" * 32,
        unsafe_networks=["fd99::/64"],
    )
    again = nc.load_certificate(host.to_pem())
    assert [str(n) for n in again.networks] == ["10.1.2.3/16", "fd00::5/64"]
    assert again.unsafe_networks == [ipaddress.ip_interface("fd99::/64")]
    nc.verify_certificate(again, [ca], now=IN_WINDOW)


def test_v2_negative_and_large_times_use_minimal_integers():
    assert nc._der_int_content(0) == b"\x00"
    assert nc._der_int_content(127) == b"\x7f"
    assert nc._der_int_content(128) == b"\x00\x80"
    assert nc._der_int_content(-1) == b"\xff"
    assert nc._der_int_content(-129) == b"\xff\x7f"
    assert nc._der_int_content(NB) == bytes.fromhex("6b043d80")
    assert nc._der_int_content(CA_NA) == bytes.fromhex("7dd04080")
    assert nc._der_int_content(2**63 - 1) == b"\x7f" + b"\xff" * 7


# ------------------------------------------------------------------------------------------------
# Round trips and decoder robustness


@pytest.mark.parametrize("version", [1, 2])
def test_round_trip_through_pem_and_der(version):
    ca, key = now_ca(version, groups=["web", "db", "ops"], networks=["10.128.0.0/16"])
    host = issue(ca, key, groups=["web", "ops"], unsafe_networks=["192.168.7.0/24"])
    pem = host.to_pem()
    assert pem.startswith(f"-----BEGIN {host.banner}-----\n")
    for loaded in (
        nc.load_certificate(pem),
        nc.load_certificate(host.marshal()),
        nc.load_certificate(pem.encode()),
    ):
        assert loaded == host
        assert loaded.summary() == host.summary()
        assert loaded.fingerprint() == host.fingerprint()
        assert loaded.to_pem() == pem
    assert nc.load_certificate(ca.to_pem()).is_ca


def test_v1_decoder_accepts_unpacked_repeated_ips():
    ca, key = vector_ca(1)
    host = nc.unmarshal_certificate(bytes.fromhex(V1["host_der_hex"]))
    packed = host.details_bytes()
    # Ips as two separate varint fields (field 2, wire type 0) instead of one packed field
    unpacked = packed.replace(
        bytes.fromhex("1209e480805480feffff0f"),
        nc._pb_key(2, 0) + nc._pb_varint(0x0A800064) + nc._pb_key(2, 0) + nc._pb_varint(0xFFFFFF00),
    )
    der = nc._pb_bytes(1, unpacked) + nc._pb_bytes(2, host.signature)
    again = nc.unmarshal_certificate(der)
    assert again.networks == host.networks
    # nebula re-marshals v1 canonically, so the signature and fingerprint are the canonical ones
    assert again.marshal() == host.marshal()
    assert again.verify_signature(ca.public_key)


@pytest.mark.parametrize(
    ("der", "message"),
    [
        (b"", "nil byte array"),
        (bytes.fromhex("1200"), "encoded Details was nil"),
        (nc._pb_bytes(1, nc._pb_bytes(2, nc._pb_varint(1))), "should be in pairs"),
        (nc._pb_bytes(1, nc._pb_bytes(2, nc._pb_varint(1) + nc._pb_varint(0xFF00FF00))), "invalid netmask"),
        (bytes.fromhex("0a05"), "truncated"),
        (nc._pb_bytes(1, nc._pb_bytes(1, b"\xff")), "UTF-8"),
        (nc._pb_bytes(1, nc._pb_bytes(1, b"x") + nc._pb_bytes(2, b"")), "invalid public key"),
    ],
)
def test_v1_decode_errors(der, message):
    with pytest.raises(NebulaCertError, match=message):
        nc.unmarshal_certificate(der, version=1)


def test_v1_decode_rejects_what_nebula_rejects():
    ca, key = vector_ca(1)
    no_net = nc.NebulaCertificate(version=1, name="x", public_key=b"\x01" * 32, not_before=1, not_after=2)
    with pytest.raises(NebulaCertError, match="non-CA certificates must contain exactly one network"):
        nc.unmarshal_certificate(no_net.marshal())
    zero = nc.NebulaCertificate(
        version=1, name="x", networks=[ipaddress.ip_interface("0.0.0.0/8")], public_key=b"\x01" * 32
    )
    with pytest.raises(NebulaCertError, match="zero address"):
        nc.unmarshal_certificate(zero.marshal())


def test_v2_decode_errors():
    good = bytes.fromhex(V2["ca_der_hex"])
    with pytest.raises(NebulaCertError, match="bad wire format"):
        nc.unmarshal_certificate(good[:-1])
    # non-minimal long-form length
    with pytest.raises(NebulaCertError, match="minimally"):
        nc.unmarshal_certificate(b"\x30\x81\x05" + good[2:7])
    # non-minimal INTEGER for notBefore (a leading 00 that is not needed)
    ca = nc.unmarshal_certificate(good)
    details = nc._der(
        0xA0,
        nc._der(0x80, b"acme-ca") + nc._der(0x84, b"\xff") + nc._der(0x85, b"\x00" + nc._der_int_content(NB))
        + nc._der(0x86, nc._der_int_content(CA_NA)),
    )  # fmt: skip
    bad_int = nc._der(0x30, details + nc._der(0x82, ca.public_key) + nc._der(0x83, ca.signature))
    with pytest.raises(NebulaCertError, match="minimally encoded"):
        nc.unmarshal_certificate(bad_int)
    # wrong outer tag
    with pytest.raises(NebulaCertError):
        nc.unmarshal_certificate(b"\x31" + good[1:], version=2)
    # empty name is refused by nebula's v2 decoder
    with pytest.raises(NebulaCertError, match="non-empty name"):
        nc.NebulaCertificate(version=2, name="", public_key=ca.public_key, is_ca=True).validate()


def test_equality_compares_wire_bytes():
    a = nc.unmarshal_certificate(bytes.fromhex(V1["host_der_hex"]))
    b = nc.unmarshal_certificate(bytes.fromhex(V1["host_der_hex"]))
    assert a == b
    b.groups = ["web"]
    assert a != b


def test_times_accept_aware_datetimes_and_refuse_naive_ones():
    start = datetime.fromtimestamp(NB, UTC)
    ca_dt, _ = nc.create_ca("acme-ca", start, datetime.fromtimestamp(CA_NA, UTC), seed=CA_SEED)
    assert ca_dt.marshal().hex() == V1["ca_der_hex"]
    assert ca_dt.not_before_dt == start
    with pytest.raises(NebulaCertError, match="timezone-aware"):
        nc.create_ca("x", datetime(2030, 1, 1), datetime(2031, 1, 1))  # noqa: DTZ001
    ca, _ = vector_ca(1)
    assert not ca.expired(IN_WINDOW)
    assert not ca.expired(NB) and not ca.expired(CA_NA)  # both ends inclusive
    assert ca.expired(NB - 1) and ca.expired(CA_NA + 0.5)
    assert ca.expired(datetime.fromtimestamp(CA_NA + 1, UTC))


# ------------------------------------------------------------------------------------------------
# PEM


def test_pem_banners_and_line_layout():
    ca, key = vector_ca(1)
    ca2, _ = vector_ca(2)
    priv, pub = nc.generate_host_keypair()
    assert ca.to_pem().splitlines()[0] == "-----BEGIN NEBULA CERTIFICATE-----"
    assert ca.to_pem().endswith("-----END NEBULA CERTIFICATE-----\n")
    assert ca2.to_pem().splitlines()[0] == "-----BEGIN NEBULA CERTIFICATE V2-----"
    assert nc.ed25519_private_key_to_pem(key).startswith("-----BEGIN NEBULA ED25519 PRIVATE KEY-----\n")
    assert nc.ed25519_public_key_to_pem(ca.public_key).startswith(
        "-----BEGIN NEBULA ED25519 PUBLIC KEY-----\n"
    )
    assert nc.x25519_private_key_to_pem(priv).startswith("-----BEGIN NEBULA X25519 PRIVATE KEY-----\n")
    assert nc.x25519_public_key_to_pem(pub).startswith("-----BEGIN NEBULA X25519 PUBLIC KEY-----\n")
    # Go pem.EncodeToMemory: 64-character lines, the last one shorter, END line with a newline
    body = nc.pem_encode("X", bytes(range(256))).splitlines()[1:-1]
    assert [len(line) for line in body] == [64] * 5 + [24]
    assert "".join(body) == base64.b64encode(bytes(range(256))).decode()
    assert nc.pem_encode("X", b"") == "-----BEGIN X-----\n-----END X-----\n"
    # the CA key is seed || public under the ED25519 banner
    banner, data = nc.parse_pem(nc.ed25519_private_key_to_pem(key))[0]
    assert banner == "NEBULA ED25519 PRIVATE KEY" and data == CA_SEED + ca.public_key


def test_parse_pem_bundles_and_errors():
    ca1, _ = vector_ca(1)
    ca2, _ = vector_ca(2)
    bundle = ca1.to_pem() + "\n" + ca2.to_pem()
    blocks = nc.parse_pem(bundle)
    assert [b for b, _ in blocks] == ["NEBULA CERTIFICATE", "NEBULA CERTIFICATE V2"]
    assert [c.version for c in nc.load_certificates(bundle)] == [1, 2]
    assert nc.parse_pem(ca1.to_pem().replace("\n", "\r\n"))[0][1] == ca1.marshal()
    with pytest.raises(NebulaCertError, match="valid PEM"):
        nc.parse_pem("no pem here")
    with pytest.raises(NebulaCertError, match="outside PEM blocks"):
        nc.parse_pem("garbage\n" + ca1.to_pem())
    with pytest.raises(NebulaCertError, match="does not match END"):
        nc.parse_pem(ca1.to_pem().replace("END NEBULA CERTIFICATE", "END NEBULA CERTIFICATE V2"))
    with pytest.raises(NebulaCertError, match="base64"):
        nc.parse_pem("-----BEGIN X-----\n!!!!\n-----END X-----\n")
    with pytest.raises(NebulaCertError, match="exactly one PEM block"):
        nc.load_certificate(bundle)
    with pytest.raises(NebulaCertError, match="proper certificate banner"):
        nc.load_certificate(nc.x25519_public_key_to_pem(b"\x09" * 32))
    # a v1 body under the v2 banner is refused
    with pytest.raises(NebulaCertError):
        nc.load_certificate(nc.pem_encode(nc.CERT_V2_BANNER, ca1.marshal()))


# ------------------------------------------------------------------------------------------------
# Keys


def test_host_keypair_is_x25519():
    priv, pub = nc.generate_host_keypair()
    assert len(priv) == len(pub) == 32
    assert nc.x25519_public_from_private(priv) == pub
    assert nc.load_x25519_private(nc.x25519_private_key_to_pem(priv)) == priv
    assert nc.load_x25519_public(nc.x25519_public_key_to_pem(pub)) == pub


def test_ca_key_loading():
    ca, key = vector_ca(1)
    assert nc.load_ca_key(nc.ed25519_private_key_to_pem(key)) == key
    assert nc.load_ed25519_public(nc.ed25519_public_key_to_pem(ca.public_key)) == ca.public_key
    corrupt = CA_SEED + b"\x00" * 32
    with pytest.raises(NebulaCertError, match="corrupt"):
        nc.load_ca_key(nc.pem_encode(nc.ED25519_PRIVATE_BANNER, corrupt))
    with pytest.raises(NebulaCertError, match="encrypted CA keys are not supported"):
        nc.load_ca_key(nc.pem_encode(nc.ED25519_ENCRYPTED_PRIVATE_BANNER, b"x" * 80))
    with pytest.raises(NebulaCertError, match="banner"):
        nc.load_ca_key(nc.x25519_private_key_to_pem(HOST_PRIV))
    with pytest.raises(NebulaCertError, match="64 bytes"):
        nc.load_ca_key(nc.pem_encode(nc.ED25519_PRIVATE_BANNER, CA_SEED))


def test_check_private_key_pairs():
    ca, key = vector_ca(1)
    nc.check_private_key(ca, key)
    host = nc.unmarshal_certificate(bytes.fromhex(V1["host_der_hex"]))
    nc.check_private_key(host, HOST_PRIV)
    with pytest.raises(NebulaCertError, match="don't match"):
        nc.check_private_key(host, b"\x23" * 32)
    # pb-nebula's bug: an Ed25519 public key in the host cert and the Ed25519 seed as "X25519" key
    from cryptography.hazmat.primitives.asymmetric import ed25519

    seed = b"\x42" * 32
    ed_pub = ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    buggy = nc.sign_host(ca, key, "buggy", ["10.128.0.9/24"], [], NB, HOST_NA, ed_pub)
    with pytest.raises(NebulaCertError, match="don't match"):
        nc.check_private_key(buggy, seed)


def test_parse_device_public_key_formats():
    priv, pub = nc.generate_host_keypair()
    pem = nc.x25519_public_key_to_pem(pub)
    assert nc.parse_public_key_pem_or_raw(pem) == pub
    assert nc.parse_public_key_pem_or_raw("\n  " + pem + "\n") == pub
    assert nc.parse_public_key_pem_or_raw(pem.encode()) == pub
    assert nc.parse_public_key_pem_or_raw(pub) == pub
    assert nc.parse_public_key_pem_or_raw(pub.hex()) == pub
    assert nc.parse_public_key_pem_or_raw(base64.b64encode(pub).decode()) == pub
    assert nc.parse_public_key_pem_or_raw(base64.urlsafe_b64encode(pub).decode().rstrip("=")) == pub


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (nc.pem_encode(nc.ED25519_PUBLIC_BANNER, b"\x01" * 32), "Ed25519"),
        (nc.pem_encode(nc.ED25519_PRIVATE_BANNER, b"\x01" * 64), "private key"),
        (nc.pem_encode(nc.X25519_PRIVATE_BANNER, b"\x01" * 32), "private key"),
        (nc.pem_encode(nc.X25519_PUBLIC_BANNER, b"\x01" * 31), "32 bytes, got 31"),
        (nc.pem_encode(nc.CERT_BANNER, b"\x01" * 32), "expected a NEBULA X25519 PUBLIC KEY"),
        (b"\x01" * 33, "32 bytes, got 33"),
        ("ab" * 31, "64 hex characters"),
        (base64.b64encode(b"\x01" * 16).decode(), "32 bytes, got 16"),
        ("not a key!", "neither"),
        ("", "empty"),
        (b"\x00" * 32, "low-order"),
        ("01" + "00" * 31, "low-order"),
    ],
)
def test_parse_device_public_key_rejections(value, message):
    with pytest.raises(NebulaCertError, match=message):
        nc.parse_public_key_pem_or_raw(value)


# ------------------------------------------------------------------------------------------------
# Signing rules


@pytest.fixture
def constrained_ca():
    return nc.create_ca(
        "constrained",
        NB,
        CA_NA,
        groups=["web", "db"],
        networks=["10.128.0.0/16"],
        unsafe_networks=["192.168.0.0/16"],
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
    return nc.sign_host(ca, key, **args)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"not_after": CA_NA + 1}, "^certificate expires after signing certificate$"),
        ({"not_before": NB - 1}, "^certificate is valid before the signing certificate$"),
        ({"groups": ["web", "admin"]}, "group not present on the signing ca: admin"),
        (
            {"networks": ["10.129.0.1/24"]},
            "network assignment outside the limitations of the signing ca: 10.129",
        ),
        ({"networks": ["10.128.0.1/8"]}, "outside the limitations of the signing ca: 10.128.0.1/8"),
        ({"unsafe_networks": ["172.16.0.0/24"]}, "unsafe network assignment outside the limitations"),
        ({"not_after": NB}, "not_after must be later than not_before"),
        ({"name": ""}, "name is required"),
        ({"public_key": b"\x09" * 31}, "32 bytes"),
        ({"networks": []}, "exactly one network"),
        ({"networks": "10.128.1.1/24"}, "list of CIDR strings"),
        ({"networks": ["10.128.1.1"]}, "CIDR notation"),
        ({"groups": "web"}, "list of strings"),
    ],
)
def test_signing_constraint_violations(constrained_ca, overrides, message):
    ca, key = constrained_ca
    with pytest.raises(NebulaCertError, match=message):
        sign(ca, key, **overrides)


def test_signing_within_constraints_and_issuer(constrained_ca):
    ca, key = constrained_ca
    # equal bounds are allowed, like nebula (notAfter clamped to the CA's)
    host = sign(
        ca, key, not_before=NB, not_after=CA_NA, groups=["web", "db"], unsafe_networks=["192.168.4.0/24"]
    )
    assert host.issuer == ca.fingerprint()
    nc.verify_certificate(host, [ca], now=IN_WINDOW)
    assert isinstance(NebulaCertError("x"), ValueError)


def test_unconstrained_ca_accepts_any_group_and_network():
    ca, key = vector_ca(1)
    host = sign(ca, key, groups=["anything"], networks=["172.31.255.1/12"])
    nc.verify_certificate(host, [ca], now=IN_WINDOW)


def test_signer_must_be_the_ca_and_its_key():
    ca, key = vector_ca(1)
    other, other_key = nc.create_ca("other", NB, CA_NA, seed=b"\x12" * 32)
    with pytest.raises(NebulaCertError, match="does not match private key"):
        sign(ca, other_key)
    host = sign(ca, key)
    with pytest.raises(NebulaCertError, match="not a CA"):
        sign(host, key)
    # 32-byte seed and a cryptography key object are accepted too
    from cryptography.hazmat.primitives.asymmetric import ed25519

    assert sign(ca, key[:32]) == sign(ca, ed25519.Ed25519PrivateKey.from_private_bytes(key[:32])) == host


def test_v1_refuses_ipv6_and_v2_validation_rules():
    ca1, key1 = vector_ca(1)
    with pytest.raises(NebulaCertError, match="may not contain IPv6 networks"):
        sign(ca1, key1, networks=["fd00::1/64"])
    with pytest.raises(NebulaCertError, match="IPv6 unsafe networks"):
        sign(ca1, key1, unsafe_networks=["fd00::/64"])
    with pytest.raises(NebulaCertError, match="IPv6"):
        nc.create_ca("v6", NB, CA_NA, networks=["fd00::/8"], version=1)
    ca2, key2 = vector_ca(2)
    with pytest.raises(NebulaCertError, match="at least 1 network"):
        sign(ca2, key2, networks=[])
    with pytest.raises(NebulaCertError, match="duplicate network detected: 10.128.1.1/24"):
        sign(ca2, key2, networks=["10.128.1.1/24", "10.128.1.1/24"])
    with pytest.raises(NebulaCertError, match="duplicate network"):
        sign(ca2, key2, unsafe_networks=["192.168.0.0/24", "192.168.0.0/24"])
    with pytest.raises(NebulaCertError, match="IPv6 unsafe networks require an IPv6 address assignment"):
        sign(ca2, key2, unsafe_networks=["fd00::/64"])
    with pytest.raises(NebulaCertError, match="zero address"):
        sign(ca2, key2, networks=["0.0.0.0/24"])
    with pytest.raises(NebulaCertError, match="4in6"):
        sign(ca2, key2, networks=["::ffff:10.0.0.1/120"])
    with pytest.raises(NebulaCertError, match="empty group"):
        sign(ca2, key2, groups=[""])
    with pytest.raises(NebulaCertError, match="253"):
        sign(ca2, key2, name="x" * 254)
    # version override: a v1 CA may issue a v2 certificate (and the reverse)
    assert sign(ca1, key1, version=2).version == 2
    assert sign(ca2, key2, version=1).version == 1


# ------------------------------------------------------------------------------------------------
# Verification


def test_verify_accepts_and_returns_signer():
    ca, key = now_ca()
    host = issue(ca, key)
    nc.verify_certificate(host, [ca])
    pool = nc.CAPool([ca])
    assert pool.verify(host) is ca
    assert pool.fingerprints == [ca.fingerprint()]


def test_verify_other_ca():
    ca, key = now_ca()
    other, _ = now_ca(name="other")
    with pytest.raises(NebulaCertError, match="^could not find ca for the certificate$"):
        nc.verify_certificate(issue(ca, key), [other])


def test_verify_expired_certificate():
    ca, key = now_ca()
    now = int(time.time())
    host = issue(ca, key, nb=now - 3000, na=now - 10)
    with pytest.raises(NebulaCertError, match="^certificate is expired$"):
        nc.verify_certificate(host, [ca])
    not_yet = issue(ca, key, nb=now + 600, na=now + 6000)
    with pytest.raises(NebulaCertError, match="^certificate is expired$"):
        nc.verify_certificate(not_yet, [ca])


def test_verify_expired_ca_comes_before_certificate_expiry():
    ca, key = vector_ca(1)
    host = sign(ca, key)
    with pytest.raises(NebulaCertError, match="^root certificate is expired$"):
        nc.verify_certificate(host, [ca], now=CA_NA + 10)


def test_verify_blocklisted_comes_first():
    ca, key = now_ca()
    now = int(time.time())
    host = issue(ca, key, nb=now - 3000, na=now - 10)  # also expired
    with pytest.raises(NebulaCertError, match="^certificate is in the block list$"):
        nc.verify_certificate(host, [ca], blocklist={host.fingerprint()})
    with pytest.raises(NebulaCertError, match="block list"):
        nc.verify_certificate(host, [ca], blocklist={host.fingerprint().upper()})
    # blocking another fingerprint has no effect
    fresh = issue(ca, key)
    nc.verify_certificate(fresh, [ca], blocklist={host.fingerprint()})


def test_verify_tampered_signature_and_fields():
    ca, key = now_ca()
    host = issue(ca, key)
    bad_sig = nc.load_certificate(host.to_pem())
    bad_sig.signature = bytes([bad_sig.signature[0] ^ 1]) + bad_sig.signature[1:]
    with pytest.raises(NebulaCertError, match="^certificate signature did not match$"):
        nc.verify_certificate(bad_sig, [ca])
    renamed = nc.load_certificate(host.to_pem())
    renamed.groups = ["admin"]
    with pytest.raises(NebulaCertError, match="^certificate signature did not match$"):
        nc.verify_certificate(renamed, [ca])
    # a byte flipped inside the PEM body
    der = bytearray(host.marshal())
    der[5] ^= 0x01
    with pytest.raises(NebulaCertError):
        nc.verify_certificate(nc.unmarshal_certificate(bytes(der)), [ca])


def test_verify_checks_ca_constraints_last(constrained_ca):
    """A validly signed certificate that breaks the CA's constraints (made without sign_host)."""
    ca, key = constrained_ca
    cert = nc.NebulaCertificate(
        version=1,
        name="rogue",
        networks=[ipaddress.ip_interface("10.200.0.1/16")],
        groups=["web"],
        not_before=NB,
        not_after=HOST_NA,
        public_key=b"\x09" * 32,
        issuer=ca.fingerprint(),
    )
    nc._sign(cert, nc._ed25519_from_key(key))
    assert cert.verify_signature(ca.public_key)
    with pytest.raises(NebulaCertError, match="outside the limitations of the signing ca: 10.200.0.1/16"):
        nc.verify_certificate(cert, [ca], now=IN_WINDOW)


def test_ca_pool_rotation_and_admission():
    old, old_key = now_ca(name="old")
    new, new_key = now_ca(name="new", version=2)
    pool = nc.CAPool.from_pem(old.to_pem() + new.to_pem())
    pool.verify(issue(old, old_key))
    pool.verify(issue(new, new_key))
    host = issue(old, old_key)
    with pytest.raises(NebulaCertError, match="host-1: certificate is not a CA"):
        nc.CAPool([host])
    impostor = nc.load_certificate(old.to_pem())
    impostor.name = "impostor"
    with pytest.raises(NebulaCertError, match="impostor: certificate is not self-signed"):
        nc.CAPool([impostor])
    no_issuer = nc.load_certificate(host.to_pem())
    no_issuer.issuer = ""
    with pytest.raises(NebulaCertError, match="no issuer in certificate"):
        pool.verify(no_issuer)


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
    ca, key = now_ca(groups=["web", "ssh"], networks=["10.128.0.0/16"], unsafe_networks=["192.168.0.0/16"])
    priv, pub = nc.generate_host_keypair()
    issue_kw.setdefault("groups", ["web", "ssh"])
    issue_kw.setdefault("unsafe_networks", ["192.168.50.0/24"])
    host = issue(ca, key, name="web-01", networks=["10.128.0.100/24"], public_key=pub, **issue_kw)
    (tmp_path / "ca.crt").write_text(ca.to_pem())
    (tmp_path / "ca.key").write_text(nc.ed25519_private_key_to_pem(key))
    (tmp_path / "host.crt").write_text(host.to_pem())
    (tmp_path / "host.key").write_text(nc.x25519_private_key_to_pem(priv))
    return ca, key, host


@pytest.mark.integration
def test_nebula_cert_verifies_our_certificate(tmp_path):
    nebula_cert = binary("nebula-cert")
    write_ca_and_host(tmp_path)
    r = run(nebula_cert, "verify", "-ca", str(tmp_path / "ca.crt"), "-crt", str(tmp_path / "host.crt"))
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.integration
def test_nebula_cert_print_reports_our_fields(tmp_path):
    nebula_cert = binary("nebula-cert")
    ca, _key, host = write_ca_and_host(tmp_path)
    r = run(nebula_cert, "print", "-json", "-path", str(tmp_path / "host.crt"))
    assert r.returncode == 0, r.stdout + r.stderr
    printed = json.loads(r.stdout)
    details = printed["details"]
    assert printed["fingerprint"] == host.fingerprint()
    assert printed["signature"] == host.signature.hex()
    assert details["name"] == "web-01"
    assert details["ips"] == ["10.128.0.100/24"]
    assert details["subnets"] == ["192.168.50.0/24"]
    assert details["groups"] == ["web", "ssh"]
    assert details["isCa"] is False
    assert details["issuer"] == ca.fingerprint()
    assert details["publicKey"] == host.public_key.hex()
    assert datetime.fromisoformat(details["notBefore"]).timestamp() == host.not_before
    assert datetime.fromisoformat(details["notAfter"]).timestamp() == host.not_after
    r = run(nebula_cert, "print", "-json", "-path", str(tmp_path / "ca.crt"))
    assert json.loads(r.stdout)["fingerprint"] == ca.fingerprint()


@pytest.mark.integration
def test_nebula_cert_rejects_certificate_from_another_ca(tmp_path):
    nebula_cert = binary("nebula-cert")
    write_ca_and_host(tmp_path)
    other, _ = now_ca(name="other")
    (tmp_path / "other.crt").write_text(other.to_pem())
    r = run(nebula_cert, "verify", "-ca", str(tmp_path / "other.crt"), "-crt", str(tmp_path / "host.crt"))
    assert r.returncode != 0
    assert "could not find ca for the certificate" in r.stdout + r.stderr


@pytest.mark.integration
def test_nebula_cert_rejects_expired_certificate(tmp_path):
    nebula_cert = binary("nebula-cert")
    now = int(time.time())
    write_ca_and_host(tmp_path, nb=now - 3000, na=now - 60)
    r = run(nebula_cert, "verify", "-ca", str(tmp_path / "ca.crt"), "-crt", str(tmp_path / "host.crt"))
    assert r.returncode != 0
    assert "certificate is expired" in r.stdout + r.stderr


@pytest.mark.integration
def test_nebula_cert_rejects_tampered_signature(tmp_path):
    nebula_cert = binary("nebula-cert")
    _ca, _key, host = write_ca_and_host(tmp_path)
    host.signature = bytes([host.signature[0] ^ 0x80]) + host.signature[1:]
    (tmp_path / "host.crt").write_text(host.to_pem())
    r = run(nebula_cert, "verify", "-ca", str(tmp_path / "ca.crt"), "-crt", str(tmp_path / "host.crt"))
    assert r.returncode != 0
    assert "signature did not match" in r.stdout + r.stderr


@pytest.mark.integration
def test_files_made_by_nebula_cert_round_trip_byte_for_byte(tmp_path):
    nebula_cert = binary("nebula-cert")
    r = run(nebula_cert, "ca", "-name", "their-ca", "-duration", "48h", "-groups", "a,b", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    r = run(
        nebula_cert, "sign", "-name", "their-host", "-ip", "10.9.0.7/16", "-groups", "a",
        "-subnets", "192.168.1.0/24,192.168.2.0/24", cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    ca_text = (tmp_path / "ca.crt").read_text()
    host_text = (tmp_path / "their-host.crt").read_text()
    ca = nc.load_certificate(ca_text)
    host = nc.load_certificate(host_text)
    assert ca.to_pem() == ca_text and host.to_pem() == host_text
    key = nc.load_ca_key((tmp_path / "ca.key").read_text())
    assert nc.ed25519_private_key_to_pem(key) == (tmp_path / "ca.key").read_text()
    host_key = nc.load_x25519_private((tmp_path / "their-host.key").read_text())
    assert nc.x25519_private_key_to_pem(host_key) == (tmp_path / "their-host.key").read_text()
    nc.check_private_key(ca, key)
    nc.check_private_key(host, host_key)
    printed = json.loads(run(nebula_cert, "print", "-json", "-path", str(tmp_path / "their-host.crt")).stdout)
    assert printed["fingerprint"] == host.fingerprint()
    assert host.issuer == ca.fingerprint()
    assert [str(n) for n in host.unsafe_networks] == ["192.168.1.0/24", "192.168.2.0/24"]
    nc.verify_certificate(host, [ca])
    # and our signer accepts their CA
    ours = issue(ca, key, groups=["b"], networks=["10.9.0.8/16"], nb=ca.not_before, na=ca.not_after)
    (tmp_path / "ours.crt").write_text(ours.to_pem())
    r = run(nebula_cert, "verify", "-ca", str(tmp_path / "ca.crt"), "-crt", str(tmp_path / "ours.crt"))
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.integration
def test_nebula_cert_refuses_v2_which_it_predates(tmp_path):
    """Debian's nebula 1.6.1 only reads v1: the reason the platform issues v1 by default."""
    nebula_cert = binary("nebula-cert")
    ca, _ = vector_ca(2)
    (tmp_path / "ca2.crt").write_text(ca.to_pem())
    r = run(nebula_cert, "print", "-path", str(tmp_path / "ca2.crt"))
    if r.returncode == 0:  # a newer nebula-cert understands v2: then it must agree with us
        assert ca.fingerprint() in r.stdout
    else:
        assert "banner" in r.stdout + r.stderr


def test_expiry_helpers_are_consistent():
    ca, _ = vector_ca(1)
    assert ca.not_after_dt - ca.not_before_dt == timedelta(seconds=CA_NA - NB)
