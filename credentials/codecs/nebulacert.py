"""Nebula PKI codec (pure Python, no Django): certificates v1 and v2, PEM, keys, signing, verification.

Wire formats reproduced byte for byte (slackhq/nebula ``cert`` package):

* **v1** (``NEBULA CERTIFICATE``): protobuf ``RawNebulaCertificate{Details=1, Signature=2}``. Proto3
  rules: default values omitted, fields in field-number order, ``Ips``/``Subnets`` packed uint32
  ``ip, mask`` pairs holding the *host* address, ``Issuer`` = raw CA fingerprint bytes, ``curve`` is field
  100. Signature = Ed25519 over the marshalled details; fingerprint = sha256 of the whole marshalled
  certificate. Understood by every nebula release (Debian ships 1.6.1).
* **v2** (``NEBULA CERTIFICATE V2``, nebula >= 1.10): ASN.1 DER. Networks are sorted and must be
  unique. Signature = Ed25519 over ``rawDetails || curve byte || publicKey``; fingerprint = sha256 of
  ``rawDetails || curve byte || publicKey || signature``. A decoded v2 certificate keeps the details bytes
  it was read from (they are what the signature covers) for as long as its fields are unchanged.

Keys: a CA signing key is Ed25519, stored as 64 bytes ``seed || public`` under
``NEBULA ED25519 PRIVATE KEY``. A host key is X25519: 32 random bytes under ``NEBULA X25519 PRIVATE KEY``,
public = X25519(private, basepoint). Only curve25519 is implemented (no P-256, no encrypted CA keys).

Times: ``NebulaCertificate.not_before`` / ``not_after`` are **int unix seconds** (what both formats
store). Every function taking a time also accepts a timezone-aware ``datetime``; naive datetimes are
refused. ``not_before_dt`` / ``not_after_dt`` give aware UTC datetimes.

Every error is a :class:`NebulaCertError` (a ``ValueError``). Where nebula has a message for the same
condition the message is nebula's, e.g. ``certificate expires after signing certificate``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import math
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

__all__ = [
    "CERT_BANNER",
    "CERT_V2_BANNER",
    "CURVE25519",
    "ED25519_ENCRYPTED_PRIVATE_BANNER",
    "ED25519_PRIVATE_BANNER",
    "ED25519_PUBLIC_BANNER",
    "MAX_CERTIFICATE_SIZE",
    "MAX_NAME_LENGTH",
    "P256",
    "X25519_PRIVATE_BANNER",
    "X25519_PUBLIC_BANNER",
    "CAPool",
    "NebulaCertError",
    "NebulaCertificate",
    "check_private_key",
    "create_ca",
    "ed25519_private_key_to_pem",
    "ed25519_public_key_to_pem",
    "generate_host_keypair",
    "load_ca_key",
    "load_certificate",
    "load_certificates",
    "load_ed25519_public",
    "load_x25519_private",
    "load_x25519_public",
    "parse_network",
    "parse_pem",
    "parse_public_key_pem_or_raw",
    "pem_encode",
    "sign_host",
    "unmarshal_certificate",
    "verify_certificate",
    "x25519_private_key_to_pem",
    "x25519_public_from_private",
    "x25519_public_key_to_pem",
]

CERT_BANNER = "NEBULA CERTIFICATE"
CERT_V2_BANNER = "NEBULA CERTIFICATE V2"
ED25519_PRIVATE_BANNER = "NEBULA ED25519 PRIVATE KEY"
ED25519_ENCRYPTED_PRIVATE_BANNER = "NEBULA ED25519 ENCRYPTED PRIVATE KEY"
ED25519_PUBLIC_BANNER = "NEBULA ED25519 PUBLIC KEY"
X25519_PRIVATE_BANNER = "NEBULA X25519 PRIVATE KEY"
X25519_PUBLIC_BANNER = "NEBULA X25519 PUBLIC KEY"

CURVE25519 = 0
P256 = 1
_CURVE_NAMES = {CURVE25519: "CURVE25519", P256: "P256"}

MAX_CERTIFICATE_SIZE = 65536
MAX_NAME_LENGTH = 253
_MAX_NETWORK_LENGTH = 17

Network = ipaddress.IPv4Interface | ipaddress.IPv6Interface
TimeLike = int | float | datetime


class NebulaCertError(ValueError):
    """Any failure to decode, encode, sign or verify a Nebula certificate or key."""


# --------------------------------------------------------------------------------------------------
# Small helpers


def _to_unix(value: TimeLike, what: str) -> int:
    if isinstance(value, bool):
        raise NebulaCertError(f"{what} must be unix seconds or a datetime, not a bool")
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise NebulaCertError(f"{what} must be a timezone-aware datetime")
        return math.floor(value.timestamp())
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NebulaCertError(f"{what} must be finite")
        return math.floor(value)
    raise NebulaCertError(f"{what} must be unix seconds or a datetime, got {type(value).__name__}")


def _now_float(at: TimeLike | None) -> float:
    if at is None:
        return time.time()
    if isinstance(at, datetime):
        if at.tzinfo is None or at.utcoffset() is None:
            raise NebulaCertError("time must be a timezone-aware datetime")
        return at.timestamp()
    if isinstance(at, bool) or not isinstance(at, int | float):
        raise NebulaCertError(f"time must be unix seconds or a datetime, got {type(at).__name__}")
    return float(at)


def parse_network(value: str | Network | ipaddress.IPv4Network | ipaddress.IPv6Network) -> Network:
    """``"10.128.0.100/24"`` -> ``IPv4Interface('10.128.0.100/24')`` (host address kept, like nebula)."""
    if isinstance(value, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        return value
    if isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return ipaddress.ip_interface(f"{value.network_address}/{value.prefixlen}")
    if not isinstance(value, str):
        raise NebulaCertError(f"network must be a CIDR string, got {type(value).__name__}")
    text = value.strip()
    if "/" not in text:
        raise NebulaCertError(f"network must be in CIDR notation (address/prefix): {value!r}")
    if "%" in text:
        raise NebulaCertError(f"networks may not contain zones: {value}")
    try:
        return ipaddress.ip_interface(text)
    except ValueError as exc:
        raise NebulaCertError(f"invalid network {value!r}: {exc}") from None


def _parse_networks(values: Iterable, what: str) -> list[Network]:
    if isinstance(values, str):
        raise NebulaCertError(f"{what} must be a list of CIDR strings, not a single string")
    return [parse_network(v) for v in values]


def _net_str(n: Network) -> str:
    return f"{n.ip}/{n.network.prefixlen}"


def _net_sort_key(n: Network) -> tuple[int, int, int]:
    return (n.version, int(n.ip), n.network.prefixlen)


def _is_4in6(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.version == 6 and ip.ipv4_mapped is not None


def _contains(ca_net: Network, sub: Network) -> bool:
    """nebula: ``caNet.Contains(sub.Addr()) && caNet.Bits() <= sub.Bits()``."""
    if ca_net.version != sub.version:
        return False
    return sub.ip in ca_net.network and ca_net.network.prefixlen <= sub.network.prefixlen


# --------------------------------------------------------------------------------------------------
# Protobuf (v1)


_SMALL_VARINTS = [bytes([i]) for i in range(128)]


def _pb_varint(value: int) -> bytes:
    if 0 <= value < 128:
        return _SMALL_VARINTS[value]
    if value < 0:
        value += 1 << 64
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _pb_key(field_number: int, wire_type: int) -> bytes:
    return _pb_varint((field_number << 3) | wire_type)


def _pb_bytes(field_number: int, data: bytes) -> bytes:
    """A length-delimited field (wire type 2); field numbers here are all below 16 (one-byte key)."""
    return bytes([(field_number << 3) | 2]) + _pb_varint(len(data)) + data


def _pb_read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise NebulaCertError("bad wire format: truncated varint")
        b = buf[pos]
        pos += 1
        if shift == 63 and b > 1:
            raise NebulaCertError("bad wire format: varint overflow")
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise NebulaCertError("bad wire format: varint overflow")


def _pb_fields(buf: bytes) -> Iterable[tuple[int, int, int | bytes]]:
    """Yield ``(field_number, wire_type, value)``; value is an int (varint/fixed) or bytes."""
    pos = 0
    n = len(buf)
    while pos < n:
        key, pos = _pb_read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise NebulaCertError("bad wire format: field number 0")
        if wire == 0:
            value, pos = _pb_read_varint(buf, pos)
            yield number, wire, value
        elif wire == 1:
            if pos + 8 > n:
                raise NebulaCertError("bad wire format: truncated fixed64")
            yield number, wire, int.from_bytes(buf[pos : pos + 8], "little")
            pos += 8
        elif wire == 2:
            length, pos = _pb_read_varint(buf, pos)
            if pos + length > n:
                raise NebulaCertError("bad wire format: truncated length-delimited field")
            yield number, wire, buf[pos : pos + length]
            pos += length
        elif wire == 5:
            if pos + 4 > n:
                raise NebulaCertError("bad wire format: truncated fixed32")
            yield number, wire, int.from_bytes(buf[pos : pos + 4], "little")
            pos += 4
        else:
            raise NebulaCertError(f"bad wire format: unsupported wire type {wire}")


def _pb_uint32s(wire: int, value: int | bytes, into: list[int]) -> None:
    if wire == 0:
        into.append(int(value) & 0xFFFFFFFF)
    elif wire == 2:
        assert isinstance(value, bytes)
        pos = 0
        while pos < len(value):
            v, pos = _pb_read_varint(value, pos)
            into.append(v & 0xFFFFFFFF)
    else:
        raise NebulaCertError("bad wire format: wrong wire type for repeated uint32")


def _pb_expect(wire: int, expected: int, name: str) -> None:
    if wire != expected:
        raise NebulaCertError(f"bad wire format: wrong wire type for {name}")


def _int64(v: int) -> int:
    v &= (1 << 64) - 1
    return v - (1 << 64) if v >= 1 << 63 else v


def _mask_to_prefix(mask: int) -> int:
    inverted = ~mask & 0xFFFFFFFF
    if inverted & (inverted + 1):
        raise NebulaCertError(f"invalid netmask {ipaddress.IPv4Address(mask)}")
    return 32 - inverted.bit_length()


def _v1_pairs(nets: list[Network]) -> bytes:
    out = bytearray()
    for n in nets:
        out += _pb_varint(int(n.ip))
        out += _pb_varint((0xFFFFFFFF << (32 - n.network.prefixlen)) & 0xFFFFFFFF)
    return bytes(out)


def _v1_nets_from_pairs(values: list[int], what: str) -> list[Network]:
    if len(values) % 2:
        raise NebulaCertError(f"encoded {what} should be in pairs, an odd number was found")
    return [
        ipaddress.IPv4Interface((values[i], _mask_to_prefix(values[i + 1]))) for i in range(0, len(values), 2)
    ]


# --------------------------------------------------------------------------------------------------
# DER (v2)

_TAG_SEQUENCE = 0x30
_TAG_OCTET_STRING = 0x04
_TAG_UTF8_STRING = 0x0C
_TAG_CERT_DETAILS = 0xA0
_TAG_CERT_CURVE = 0x81
_TAG_CERT_PUBLIC_KEY = 0x82
_TAG_CERT_SIGNATURE = 0x83
_TAG_NAME = 0x80
_TAG_NETWORKS = 0xA1
_TAG_UNSAFE_NETWORKS = 0xA2
_TAG_GROUPS = 0xA3
_TAG_IS_CA = 0x84
_TAG_NOT_BEFORE = 0x85
_TAG_NOT_AFTER = 0x86
_TAG_ISSUER = 0x87


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _der_len(len(content)) + content


def _der_int_content(v: int) -> bytes:
    """Minimal two's-complement INTEGER content (Go cryptobyte ``AddASN1Int64``)."""
    length = 1
    while length < 8 and not (-(1 << (8 * length - 1)) <= v < (1 << (8 * length - 1))):
        length += 1
    return v.to_bytes(length, "big", signed=True)


class _DerReader:
    """A cursor with the semantics of Go ``cryptobyte.String`` (minimal lengths, low tag numbers)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def empty(self) -> bool:
        return self.pos >= len(self.data)

    def peek_tag(self) -> int | None:
        return None if self.empty() else self.data[self.pos]

    def read_element(self, tag: int) -> tuple[bytes, bytes]:
        """Read one TLV with ``tag``; return ``(whole element, content)``."""
        d, start = self.data, self.pos
        if len(d) - start < 2:
            raise NebulaCertError("bad wire format: truncated ASN.1 element")
        t = d[start]
        if t & 0x1F == 0x1F:
            raise NebulaCertError("bad wire format: high ASN.1 tag numbers are not supported")
        if t != tag:
            raise NebulaCertError(f"bad wire format: expected ASN.1 tag 0x{tag:02x}, found 0x{t:02x}")
        first = d[start + 1]
        if first & 0x80 == 0:
            length, header = first, 2
        else:
            nbytes = first & 0x7F
            if nbytes == 0 or nbytes > 4 or len(d) - start < 2 + nbytes:
                raise NebulaCertError("bad wire format: invalid ASN.1 length")
            length = int.from_bytes(d[start + 2 : start + 2 + nbytes], "big")
            if length < 0x80 or d[start + 2] == 0:
                raise NebulaCertError("bad wire format: ASN.1 length is not minimally encoded")
            header = 2 + nbytes
        end = start + header + length
        if end > len(d):
            raise NebulaCertError("bad wire format: truncated ASN.1 element")
        self.pos = end
        return d[start:end], d[start + header : end]

    def read(self, tag: int) -> bytes:
        return self.read_element(tag)[1]

    def read_optional(self, tag: int) -> bytes | None:
        if self.peek_tag() != tag:
            return None
        return self.read(tag)

    def read_int64(self, tag: int) -> int:
        content = self.read(tag)
        if not content:
            raise NebulaCertError("bad wire format: empty INTEGER")
        if len(content) > 1 and (
            (content[0] == 0 and content[1] < 0x80) or (content[0] == 0xFF and content[1] >= 0x80)
        ):
            raise NebulaCertError("bad wire format: INTEGER is not minimally encoded")
        if len(content) > 8:
            raise NebulaCertError("bad wire format: INTEGER does not fit in 64 bits")
        return int.from_bytes(content, "big", signed=True)


def _v2_net_bytes(n: Network) -> bytes:
    return n.ip.packed + bytes([n.network.prefixlen])


def _v2_net_from_bytes(val: bytes, what: str) -> Network:
    if not val or len(val) > _MAX_NETWORK_LENGTH:
        raise NebulaCertError(f"bad wire format: invalid {what} length")
    addr, bits = val[:-1], val[-1]
    if len(addr) == 4 and bits <= 32:
        return ipaddress.IPv4Interface((addr, bits))
    if len(addr) == 16 and bits <= 128:
        return ipaddress.IPv6Interface((addr, bits))
    raise NebulaCertError(f"invalid {what}: {val.hex()}")


# --------------------------------------------------------------------------------------------------
# The certificate


@dataclass(eq=False)
class NebulaCertificate:
    """A Nebula certificate, version 1 or 2.

    ``networks`` / ``unsafe_networks`` hold ``IPv4Interface``/``IPv6Interface`` values (host address and
    prefix, like nebula). ``not_before`` / ``not_after`` are int unix seconds. ``issuer`` is the lowercase hex
    fingerprint of the signing CA ("" on a CA). ``public_key`` is Ed25519 on a CA, X25519 on a host.
    Equality compares the marshalled bytes.
    """

    version: int
    name: str
    networks: list[Network] = field(default_factory=list)
    unsafe_networks: list[Network] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    not_before: int = 0
    not_after: int = 0
    public_key: bytes = b""
    is_ca: bool = False
    issuer: str = ""
    signature: bytes = b""
    curve: int = CURVE25519
    # (fields snapshot, details bytes): for a decoded v2 certificate, the details TLV exactly as read
    # from the wire (the signature covers those bytes); otherwise the last encoding.
    _details_cache: tuple[tuple, bytes] | None = field(default=None, init=False, repr=False)
    # (fields snapshot + signature, fingerprint): a CA's fingerprint is needed for every host it signs.
    _fingerprint_cache: tuple[tuple, str] | None = field(default=None, init=False, repr=False)

    # ---- derived views ------------------------------------------------------------------------

    @property
    def banner(self) -> str:
        return CERT_V2_BANNER if self.version == 2 else CERT_BANNER

    @property
    def curve_name(self) -> str:
        return _CURVE_NAMES.get(self.curve, str(self.curve))

    @property
    def not_before_dt(self) -> datetime:
        return datetime.fromtimestamp(self.not_before, UTC)

    @property
    def not_after_dt(self) -> datetime:
        return datetime.fromtimestamp(self.not_after, UTC)

    def expired(self, at: TimeLike | None = None) -> bool:
        """nebula ``Expired``: ``notBefore > at or notAfter < at`` (``at`` defaults to now)."""
        t = _now_float(at)
        return self.not_before > t or self.not_after < t

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NebulaCertificate):
            return NotImplemented
        return self.marshal() == other.marshal()

    __hash__ = None  # type: ignore[assignment]

    # ---- encoding -----------------------------------------------------------------------------

    def _snapshot(self) -> tuple:
        return (
            self.version,
            self.name,
            tuple(self.networks),
            tuple(self.unsafe_networks),
            tuple(self.groups),
            self.not_before,
            self.not_after,
            bytes(self.public_key),
            self.is_ca,
            self.issuer,
            self.curve,
        )

    def _v1_details(self) -> bytes:
        out = bytearray()
        if self.name:
            out += _pb_bytes(1, self.name.encode())
        if self.networks:
            out += _pb_bytes(2, _v1_pairs(self.networks))
        if self.unsafe_networks:
            out += _pb_bytes(3, _v1_pairs(self.unsafe_networks))
        for g in self.groups:
            out += _pb_bytes(4, g.encode())
        if self.not_before:
            out += _pb_key(5, 0) + _pb_varint(self.not_before)
        if self.not_after:
            out += _pb_key(6, 0) + _pb_varint(self.not_after)
        if self.public_key:
            out += _pb_bytes(7, bytes(self.public_key))
        if self.is_ca:
            out += _pb_key(8, 0) + b"\x01"
        if self.issuer:
            out += _pb_bytes(9, _issuer_bytes(self.issuer))
        if self.curve:
            out += _pb_key(100, 0) + _pb_varint(self.curve)
        return bytes(out)

    def _v2_details(self) -> bytes:
        body = bytearray(_der(_TAG_NAME, self.name.encode()))
        if self.networks:
            nets = sorted(self.networks, key=_net_sort_key)
            body += _der(_TAG_NETWORKS, b"".join(_der(_TAG_OCTET_STRING, _v2_net_bytes(n)) for n in nets))
        if self.unsafe_networks:
            nets = sorted(self.unsafe_networks, key=_net_sort_key)
            body += _der(
                _TAG_UNSAFE_NETWORKS, b"".join(_der(_TAG_OCTET_STRING, _v2_net_bytes(n)) for n in nets)
            )
        if self.groups:
            body += _der(_TAG_GROUPS, b"".join(_der(_TAG_UTF8_STRING, g.encode()) for g in self.groups))
        if self.is_ca:
            body += _der(_TAG_IS_CA, b"\xff")
        body += _der(_TAG_NOT_BEFORE, _der_int_content(self.not_before))
        body += _der(_TAG_NOT_AFTER, _der_int_content(self.not_after))
        if self.issuer:
            body += _der(_TAG_ISSUER, _issuer_bytes(self.issuer))
        return _der(_TAG_CERT_DETAILS, bytes(body))

    def details_bytes(self) -> bytes:
        """v1: the marshalled details message. v2: the details TLV (``rawDetails``)."""
        snapshot = self._snapshot()
        if self._details_cache is not None and self._details_cache[0] == snapshot:
            return self._details_cache[1]
        data = self._v2_details() if self.version == 2 else self._v1_details()
        self._details_cache = (snapshot, data)
        return data

    def signing_input(self) -> bytes:
        """The exact bytes the CA signs."""
        if self.version == 2:
            return self.details_bytes() + bytes([self.curve]) + bytes(self.public_key)
        return self.details_bytes()

    def marshal(self) -> bytes:
        """The wire bytes (what goes inside the PEM block)."""
        if self.version == 2:
            body = bytearray(self.details_bytes())
            if self.curve != CURVE25519:
                body += _der(_TAG_CERT_CURVE, bytes([self.curve]))
            if self.public_key:
                body += _der(_TAG_CERT_PUBLIC_KEY, bytes(self.public_key))
            body += _der(_TAG_CERT_SIGNATURE, bytes(self.signature))
            return _der(_TAG_SEQUENCE, bytes(body))
        if self.version != 1:
            raise NebulaCertError(f"certificate version unrecognized: {self.version}")
        out = _pb_bytes(1, self.details_bytes())
        if self.signature:
            out += _pb_bytes(2, bytes(self.signature))
        return out

    def to_pem(self) -> str:
        return pem_encode(self.banner, self.marshal())

    def fingerprint(self) -> str:
        """Lowercase hex sha256 (v1: of the marshalled cert; v2: of details||curve||pubkey||signature)."""
        key = (self._snapshot(), bytes(self.signature))
        if self._fingerprint_cache is not None and self._fingerprint_cache[0] == key:
            return self._fingerprint_cache[1]
        data = self.signing_input() + bytes(self.signature) if self.version == 2 else self.marshal()
        fp = hashlib.sha256(data).hexdigest()
        self._fingerprint_cache = (key, fp)
        return fp

    # ---- checks -------------------------------------------------------------------------------

    def verify_signature(self, ca_public_key: bytes) -> bool:
        """True when ``signature`` is a valid Ed25519 signature by ``ca_public_key`` (CheckSignature)."""
        if self.curve != CURVE25519 or len(ca_public_key) != 32 or not self.signature:
            return False
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(bytes(ca_public_key)).verify(
                bytes(self.signature), self.signing_input()
            )
        except (InvalidSignature, ValueError):
            return False
        return True

    def validate(self) -> None:
        """nebula's structural rules for this certificate's version (raised as NebulaCertError)."""
        _validate(
            self.version,
            self.name,
            self.networks,
            self.unsafe_networks,
            self.groups,
            self.public_key,
            self.is_ca,
        )

    def summary(self) -> dict:
        """A JSON-friendly view, in the spirit of ``nebula-cert print -json``."""
        return {
            "version": self.version,
            "name": self.name,
            "networks": [_net_str(n) for n in self.networks],
            "unsafeNetworks": [_net_str(n) for n in self.unsafe_networks],
            "groups": list(self.groups),
            "notBefore": self.not_before,
            "notAfter": self.not_after,
            "isCa": self.is_ca,
            "issuer": self.issuer,
            "publicKey": bytes(self.public_key).hex(),
            "curve": self.curve_name,
            "fingerprint": self.fingerprint(),
            "signature": bytes(self.signature).hex(),
        }


def _issuer_bytes(issuer: str) -> bytes:
    try:
        return bytes.fromhex(issuer)
    except ValueError:
        raise NebulaCertError(f"failed to decode issuer: {issuer!r} is not hex") from None


def _validate(
    version: int,
    name: str,
    networks: list[Network],
    unsafe_networks: list[Network],
    groups: list[str],
    public_key: bytes,
    is_ca: bool,
) -> None:
    """``certificateV1.validate`` / ``certificateV2.validate`` plus the v2 unmarshal rules."""
    if version not in (1, 2):
        raise NebulaCertError(f"unknown cert version {version}")
    if not public_key:
        raise NebulaCertError("invalid public key")
    if version == 2:
        encoded = name.encode()
        if not encoded:
            raise NebulaCertError("v2 certificates require a non-empty name")
        if len(encoded) > MAX_NAME_LENGTH:
            raise NebulaCertError(f"name is longer than {MAX_NAME_LENGTH} bytes")
        for g in groups:
            if not g:
                raise NebulaCertError("v2 certificates may not contain empty group names")
    if not is_ca and not networks:
        if version == 1:
            raise NebulaCertError("non-CA certificates must contain exactly one network")
        raise NebulaCertError("non-CA certificate must contain at least 1 network")
    has_v4 = has_v6 = False
    for n in networks:
        if version == 1 and n.version == 6:
            raise NebulaCertError(f"certificate may not contain IPv6 networks: {_net_str(n)}")
        if n.ip.is_unspecified:
            raise NebulaCertError(
                f"non-CA certificates must not use the zero address as a network: {_net_str(n)}"
            )
        if _is_4in6(n.ip):
            raise NebulaCertError(f"4in6 networks are not allowed: {_net_str(n)}")
        has_v4 = has_v4 or n.version == 4
        has_v6 = has_v6 or n.version == 6
    for n in unsafe_networks:
        if version == 1 and n.version == 6:
            raise NebulaCertError(f"certificate may not contain IPv6 unsafe networks: {_net_str(n)}")
        if version == 2 and not is_ca:
            if n.version == 6 and not has_v6:
                raise NebulaCertError(
                    f"IPv6 unsafe networks require an IPv6 address assignment: {_net_str(n)}"
                )
            if n.version == 4 and not has_v4:
                raise NebulaCertError(
                    f"IPv4 unsafe networks require an IPv4 address assignment: {_net_str(n)}"
                )
    if version == 2:
        for nets in (networks, unsafe_networks):
            keys = sorted(nets, key=_net_sort_key)
            for a, b in zip(keys, keys[1:], strict=False):
                if _net_sort_key(a) == _net_sort_key(b):
                    raise NebulaCertError(f"duplicate network detected: {_net_str(b)}")


# --------------------------------------------------------------------------------------------------
# Decoding


def _unmarshal_v1(data: bytes) -> NebulaCertificate:
    if not data:
        raise NebulaCertError("nil byte array")
    details_raw: bytes | None = None
    signature = b""
    for number, wire, value in _pb_fields(data):
        if number == 1:
            _pb_expect(wire, 2, "Details")
            details_raw = value  # type: ignore[assignment]
        elif number == 2:
            _pb_expect(wire, 2, "Signature")
            signature = value  # type: ignore[assignment]
    if details_raw is None:
        raise NebulaCertError("encoded Details was nil")
    name = ""
    ips: list[int] = []
    subnets: list[int] = []
    groups: list[str] = []
    not_before = not_after = 0
    public_key = b""
    is_ca = False
    issuer = b""
    curve = 0
    for number, wire, value in _pb_fields(details_raw):
        if number == 1:
            _pb_expect(wire, 2, "Name")
            name = _utf8(value, "name")  # type: ignore[arg-type]
        elif number == 2:
            _pb_uint32s(wire, value, ips)
        elif number == 3:
            _pb_uint32s(wire, value, subnets)
        elif number == 4:
            _pb_expect(wire, 2, "Groups")
            groups.append(_utf8(value, "group"))  # type: ignore[arg-type]
        elif number == 5:
            _pb_expect(wire, 0, "NotBefore")
            not_before = _int64(value)  # type: ignore[arg-type]
        elif number == 6:
            _pb_expect(wire, 0, "NotAfter")
            not_after = _int64(value)  # type: ignore[arg-type]
        elif number == 7:
            _pb_expect(wire, 2, "PublicKey")
            public_key = value  # type: ignore[assignment]
        elif number == 8:
            _pb_expect(wire, 0, "IsCA")
            is_ca = value != 0
        elif number == 9:
            _pb_expect(wire, 2, "Issuer")
            issuer = value  # type: ignore[assignment]
        elif number == 100:
            _pb_expect(wire, 0, "curve")
            curve = _int64(value)  # type: ignore[arg-type]
    cert = NebulaCertificate(
        version=1,
        name=name,
        networks=_v1_nets_from_pairs(ips, "IPs"),
        unsafe_networks=_v1_nets_from_pairs(subnets, "Subnets"),
        groups=groups,
        not_before=not_before,
        not_after=not_after,
        public_key=bytes(public_key),
        is_ca=is_ca,
        issuer=bytes(issuer).hex(),
        signature=bytes(signature),
        curve=curve,
    )
    cert.validate()
    return cert


def _utf8(value: bytes, what: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise NebulaCertError(f"bad wire format: {what} is not valid UTF-8") from None


def _unmarshal_v2(data: bytes) -> NebulaCertificate:
    if not data or len(data) > MAX_CERTIFICATE_SIZE:
        raise NebulaCertError("bad wire format: empty or oversized certificate")
    outer = _DerReader(_DerReader(data).read(_TAG_SEQUENCE))
    if outer.empty():
        raise NebulaCertError("bad wire format: empty certificate")
    raw_details, details_content = outer.read_element(_TAG_CERT_DETAILS)
    if not details_content:
        raise NebulaCertError("bad wire format: empty details")
    curve = CURVE25519
    raw_curve = outer.read_optional(_TAG_CERT_CURVE)
    if raw_curve is not None:
        if len(raw_curve) != 1:
            raise NebulaCertError("bad wire format: invalid curve")
        curve = raw_curve[0]
    public_key = outer.read_optional(_TAG_CERT_PUBLIC_KEY) or b""
    if not public_key:
        raise NebulaCertError("bad wire format: missing public key")
    signature = outer.read(_TAG_CERT_SIGNATURE)
    if not signature:
        raise NebulaCertError("bad wire format: empty signature")

    d = _DerReader(details_content)
    name_raw = d.read(_TAG_NAME)
    if not name_raw or len(name_raw) > MAX_NAME_LENGTH:
        raise NebulaCertError("bad wire format: invalid name")
    networks: list[Network] = []
    unsafe: list[Network] = []
    for tag, into, what in (
        (_TAG_NETWORKS, networks, "network"),
        (_TAG_UNSAFE_NETWORKS, unsafe, "unsafe network"),
    ):
        sub = d.read_optional(tag)
        if sub is not None:
            r = _DerReader(sub)
            while not r.empty():
                into.append(_v2_net_from_bytes(r.read(_TAG_OCTET_STRING), what))
    groups: list[str] = []
    raw_groups = d.read_optional(_TAG_GROUPS)
    if raw_groups is not None:
        r = _DerReader(raw_groups)
        while not r.empty():
            g = r.read(_TAG_UTF8_STRING)
            if not g:
                raise NebulaCertError("bad wire format: empty group")
            groups.append(_utf8(g, "group"))
    is_ca = False
    raw_is_ca = d.read_optional(_TAG_IS_CA)
    if raw_is_ca is not None:
        if len(raw_is_ca) != 1:
            raise NebulaCertError("bad wire format: invalid isCA")
        is_ca = raw_is_ca[0] > 0
    not_before = d.read_int64(_TAG_NOT_BEFORE)
    not_after = d.read_int64(_TAG_NOT_AFTER)
    issuer = d.read_optional(_TAG_ISSUER) or b""

    cert = NebulaCertificate(
        version=2,
        name=_utf8(name_raw, "name"),
        networks=sorted(networks, key=_net_sort_key),
        unsafe_networks=sorted(unsafe, key=_net_sort_key),
        groups=groups,
        not_before=not_before,
        not_after=not_after,
        public_key=bytes(public_key),
        is_ca=is_ca,
        issuer=bytes(issuer).hex(),
        signature=bytes(signature),
        curve=curve,
    )
    cert.validate()
    cert._details_cache = (cert._snapshot(), bytes(raw_details))
    return cert


def unmarshal_certificate(data: bytes, version: int | None = None) -> NebulaCertificate:
    """Decode wire bytes. ``version`` None: detect (v2 DER starts with 0x30, v1 protobuf with 0x0a)."""
    data = bytes(data)
    if version is None:
        version = 2 if data[:1] == b"\x30" else 1
    if version == 1:
        return _unmarshal_v1(data)
    if version == 2:
        return _unmarshal_v2(data)
    raise NebulaCertError(f"certificate version unrecognized: {version}")


# --------------------------------------------------------------------------------------------------
# PEM

_PEM_RE = re.compile(
    r"-----BEGIN ([A-Z0-9 ]+)-----[ \t]*\r?\n(.*?)-----END ([A-Z0-9 ]+)-----[ \t]*(?:\r?\n|\Z)", re.S
)


def pem_encode(banner: str, data: bytes) -> str:
    """Go ``pem.EncodeToMemory``: 64-character base64 lines, trailing newline."""
    b64 = base64.b64encode(bytes(data)).decode("ascii")
    lines = "".join(b64[i : i + 64] + "\n" for i in range(0, len(b64), 64))
    return f"-----BEGIN {banner}-----\n{lines}-----END {banner}-----\n"


def parse_pem(text: str | bytes) -> list[tuple[str, bytes]]:
    """All PEM blocks in ``text`` as ``(banner, bytes)``, in order.

    Anything but whitespace outside the blocks, PEM headers, mismatched END lines and invalid base64 are
    refused.
    """
    if isinstance(text, bytes | bytearray | memoryview):
        try:
            text = bytes(text).decode("ascii")
        except UnicodeDecodeError:
            raise NebulaCertError("input did not contain a valid PEM encoded block") from None
    blocks: list[tuple[str, bytes]] = []
    pos = 0
    if "-----BEGIN " not in text:
        raise NebulaCertError("input did not contain a valid PEM encoded block")
    for m in _PEM_RE.finditer(text):
        if text[pos : m.start()].strip():
            raise NebulaCertError("unexpected data outside PEM blocks")
        pos = m.end()
        banner, body, end_banner = m.group(1), m.group(2), m.group(3)
        if banner != end_banner:
            raise NebulaCertError(f"PEM block BEGIN {banner} does not match END {end_banner}")
        if ":" in body:
            raise NebulaCertError("PEM headers are not supported")
        compact = "".join(body.split())
        try:
            blocks.append((banner, base64.b64decode(compact, validate=True)))
        except (binascii.Error, ValueError):
            raise NebulaCertError(f"invalid base64 in PEM block {banner}") from None
    if text[pos:].strip():
        raise NebulaCertError("unexpected data outside PEM blocks")
    if not blocks:
        raise NebulaCertError("input did not contain a valid PEM encoded block")
    return blocks


def _single_block(text: str | bytes, what: str) -> tuple[str, bytes]:
    blocks = parse_pem(text)
    if len(blocks) != 1:
        raise NebulaCertError(f"expected exactly one PEM block for {what}, found {len(blocks)}")
    return blocks[0]


def _looks_like_pem(value: str | bytes) -> bool:
    head = value[:200] if isinstance(value, str) else bytes(value[:200]).decode("latin-1")
    return "-----BEGIN " in head


def _cert_from_block(banner: str, data: bytes) -> NebulaCertificate:
    if banner == CERT_BANNER:
        return _unmarshal_v1(data)
    if banner == CERT_V2_BANNER:
        return _unmarshal_v2(data)
    raise NebulaCertError(f"bytes did not contain a proper certificate banner (found {banner!r})")


def load_certificates(text: str | bytes) -> list[NebulaCertificate]:
    """Every certificate of a PEM bundle (v1 and v2 may be mixed, e.g. a CA rotation bundle)."""
    return [_cert_from_block(b, d) for b, d in parse_pem(text)]


def load_certificate(pem_or_der: str | bytes) -> NebulaCertificate:
    """One certificate from PEM (version from the banner) or from raw wire bytes (version detected)."""
    if isinstance(pem_or_der, str) or _looks_like_pem(pem_or_der):
        return _cert_from_block(*_single_block(pem_or_der, "a certificate"))
    return unmarshal_certificate(bytes(pem_or_der))


def _load_key(text: str | bytes, banner: str, size: int, what: str) -> bytes:
    found, data = _single_block(text, what)
    if found == ED25519_ENCRYPTED_PRIVATE_BANNER:
        raise NebulaCertError("encrypted CA keys are not supported; decrypt it first")
    if found != banner:
        raise NebulaCertError(f"bytes did not contain a proper {banner} banner (found {found!r})")
    if len(data) != size:
        raise NebulaCertError(f"key was not {size} bytes, is invalid {what}")
    return data


def load_ca_key(text: str | bytes) -> bytes:
    """``NEBULA ED25519 PRIVATE KEY`` -> 64 bytes (seed || public); the halves must agree."""
    key = _load_key(text, ED25519_PRIVATE_BANNER, 64, "ed25519 private key")
    _ed25519_from_key(key)
    return key


def load_ed25519_public(text: str | bytes) -> bytes:
    return _load_key(text, ED25519_PUBLIC_BANNER, 32, "ed25519 public key")


def load_x25519_private(text: str | bytes) -> bytes:
    return _load_key(text, X25519_PRIVATE_BANNER, 32, "X25519 private key")


def load_x25519_public(text: str | bytes) -> bytes:
    return _load_key(text, X25519_PUBLIC_BANNER, 32, "X25519 public key")


def ed25519_private_key_to_pem(key: bytes) -> str:
    if len(key) != 64:
        raise NebulaCertError("an Ed25519 CA private key is 64 bytes (seed || public)")
    return pem_encode(ED25519_PRIVATE_BANNER, key)


def ed25519_public_key_to_pem(key: bytes) -> str:
    if len(key) != 32:
        raise NebulaCertError("an Ed25519 public key is 32 bytes")
    return pem_encode(ED25519_PUBLIC_BANNER, key)


def x25519_private_key_to_pem(key: bytes) -> str:
    if len(key) != 32:
        raise NebulaCertError("an X25519 private key is 32 bytes")
    return pem_encode(X25519_PRIVATE_BANNER, key)


def x25519_public_key_to_pem(key: bytes) -> str:
    if len(key) != 32:
        raise NebulaCertError("an X25519 public key is 32 bytes")
    return pem_encode(X25519_PUBLIC_BANNER, key)


_PROBE_KEY = x25519.X25519PrivateKey.from_private_bytes(hashlib.sha256(b"stoneage x25519 probe").digest())


def parse_public_key_pem_or_raw(value: str | bytes) -> bytes:
    """A device-supplied X25519 public key -> 32 bytes.

    Accepts the ``NEBULA X25519 PUBLIC KEY`` PEM (what ``nebula-cert keygen`` writes), 64 hex characters,
    base64 of 32 bytes, or 32 raw bytes. Refuses private keys, Ed25519 keys, wrong lengths and low-order
    points, each with its own message.
    """
    if isinstance(value, bytes | bytearray | memoryview) and not _looks_like_pem(value):
        raw = bytes(value)
        if len(raw) == 32:
            return _check_x25519_public(raw)
        text = raw.decode("latin-1")
        if not text.isascii() or not text.strip().isprintable():
            raise NebulaCertError(f"X25519 public key must be 32 bytes, got {len(raw)}")
        value = text
    if not isinstance(value, str):
        value = bytes(value).decode("ascii", "replace")
    text = value.strip()
    if not text:
        raise NebulaCertError("public key is empty")
    if "-----BEGIN" in text:
        banner, data = _single_block(text, "a public key")
        if "PRIVATE KEY" in banner:
            raise NebulaCertError(
                f"this is a private key ({banner}); send only the public key (NEBULA X25519 PUBLIC KEY)"
            )
        if "ED25519" in banner:
            raise NebulaCertError(
                f"expected an X25519 key (NEBULA X25519 PUBLIC KEY), got {banner}; Ed25519 keys are for "
                "CA signing only, host keys are X25519 (nebula-cert keygen)"
            )
        if banner != X25519_PUBLIC_BANNER:
            raise NebulaCertError(f"expected a NEBULA X25519 PUBLIC KEY PEM block, got {banner}")
        if len(data) != 32:
            raise NebulaCertError(f"X25519 public key must be 32 bytes, got {len(data)}")
        return _check_x25519_public(data)
    if re.fullmatch(r"[0-9a-fA-F]+", text):
        if len(text) != 64:
            raise NebulaCertError(f"X25519 public key must be 32 bytes (64 hex characters), got {len(text)}")
        return _check_x25519_public(bytes.fromhex(text))
    try:
        compact = text.replace("-", "+").replace("_", "/")
        data = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise NebulaCertError(
            "public key is neither a NEBULA X25519 PUBLIC KEY PEM block, hex nor base64"
        ) from None
    if len(data) != 32:
        raise NebulaCertError(f"X25519 public key must be 32 bytes, got {len(data)}")
    return _check_x25519_public(data)


def _check_x25519_public(pub: bytes) -> bytes:
    try:
        _PROBE_KEY.exchange(x25519.X25519PublicKey.from_public_bytes(pub))
    except ValueError:
        raise NebulaCertError("invalid X25519 public key (low-order point)") from None
    return pub


# --------------------------------------------------------------------------------------------------
# Keys


def generate_host_keypair() -> tuple[bytes, bytes]:
    """A fresh X25519 host keypair ``(private32, public32)``, as ``nebula-cert keygen`` makes."""
    priv = x25519.X25519PrivateKey.generate()
    return priv.private_bytes_raw(), priv.public_key().public_bytes_raw()


def x25519_public_from_private(priv: bytes) -> bytes:
    """X25519(priv, basepoint)."""
    if len(priv) != 32:
        raise NebulaCertError("an X25519 private key is 32 bytes")
    return x25519.X25519PrivateKey.from_private_bytes(bytes(priv)).public_key().public_bytes_raw()


def _ed25519_from_key(key: bytes | ed25519.Ed25519PrivateKey) -> ed25519.Ed25519PrivateKey:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    key = bytes(key)
    if len(key) not in (32, 64):
        raise NebulaCertError("key was not 64 bytes, is invalid ed25519 private key")
    priv = ed25519.Ed25519PrivateKey.from_private_bytes(key[:32])
    if len(key) == 64 and priv.public_key().public_bytes_raw() != key[32:]:
        raise NebulaCertError("ed25519 private key is corrupt: its public half does not match its seed")
    return priv


def check_private_key(cert: NebulaCertificate, key: bytes | ed25519.Ed25519PrivateKey) -> None:
    """nebula ``VerifyPrivateKey``: a CA key must be its Ed25519 pair, a host key its X25519 pair."""
    if cert.curve != CURVE25519:
        raise NebulaCertError("curve in cert and private key supplied don't match")
    if cert.is_ca:
        pub = _ed25519_from_key(key).public_key().public_bytes_raw()
    else:
        if not isinstance(key, bytes | bytearray) or len(key) != 32:
            raise NebulaCertError("key was not 32 bytes, is invalid X25519 private key")
        pub = x25519_public_from_private(bytes(key))
    if pub != bytes(cert.public_key):
        raise NebulaCertError("public key in cert and private key supplied don't match")


# --------------------------------------------------------------------------------------------------
# Signing


def _check_ca_constraints(
    signer: NebulaCertificate,
    not_before: int,
    not_after: int,
    groups: Iterable[str],
    networks: Iterable[Network],
    unsafe_networks: Iterable[Network],
) -> None:
    """nebula ``checkCAConstraints``, same messages and order."""
    if not_after > signer.not_after:
        raise NebulaCertError("certificate expires after signing certificate")
    if not_before < signer.not_before:
        raise NebulaCertError("certificate is valid before the signing certificate")
    if signer.groups:
        for g in groups:
            if g not in signer.groups:
                raise NebulaCertError(f"certificate contained a group not present on the signing ca: {g}")
    if signer.networks:
        for n in networks:
            if not any(_contains(c, n) for c in signer.networks):
                raise NebulaCertError(
                    "certificate contained a network assignment outside the limitations of the signing ca: "
                    f"{_net_str(n)}"
                )
    if signer.unsafe_networks:
        for n in unsafe_networks:
            if not any(_contains(c, n) for c in signer.unsafe_networks):
                raise NebulaCertError(
                    "certificate contained an unsafe network assignment outside the limitations of the "
                    f"signing ca: {_net_str(n)}"
                )


def _check_groups(groups: Iterable[str]) -> list[str]:
    if isinstance(groups, str):
        raise NebulaCertError("groups must be a list of strings, not a single string")
    out = list(groups)
    for g in out:
        if not isinstance(g, str):
            raise NebulaCertError(f"group names must be strings, got {type(g).__name__}")
    return out


def _sign(cert: NebulaCertificate, key: ed25519.Ed25519PrivateKey) -> NebulaCertificate:
    cert.signature = key.sign(cert.signing_input())
    return cert


def create_ca(
    name: str,
    not_before: TimeLike,
    not_after: TimeLike,
    groups: Iterable[str] = (),
    networks: Iterable = (),
    version: int = 1,
    seed: bytes | None = None,
    unsafe_networks: Iterable = (),
) -> tuple[NebulaCertificate, bytes]:
    """A self-signed Ed25519 CA. Returns ``(certificate, private_key64)``; ``seed`` (32 bytes) makes it
    deterministic, otherwise a random key is made."""
    if not isinstance(name, str) or not name:
        raise NebulaCertError("name is required")
    nb, na = _to_unix(not_before, "not_before"), _to_unix(not_after, "not_after")
    if na <= nb:
        raise NebulaCertError("not_after must be later than not_before")
    if seed is None:
        priv = ed25519.Ed25519PrivateKey.generate()
    else:
        if len(seed) != 32:
            raise NebulaCertError("seed must be 32 bytes")
        priv = ed25519.Ed25519PrivateKey.from_private_bytes(bytes(seed))
    pub = priv.public_key().public_bytes_raw()
    cert = NebulaCertificate(
        version=version,
        name=name,
        networks=_parse_networks(networks, "networks"),
        unsafe_networks=_parse_networks(unsafe_networks, "unsafe_networks"),
        groups=_check_groups(groups),
        not_before=nb,
        not_after=na,
        public_key=pub,
        is_ca=True,
    )
    cert.validate()
    if version == 2:
        cert.networks.sort(key=_net_sort_key)
        cert.unsafe_networks.sort(key=_net_sort_key)
    _sign(cert, priv)
    return cert, priv.private_bytes_raw() + pub


def sign_host(
    ca_cert: NebulaCertificate,
    ca_key: bytes | ed25519.Ed25519PrivateKey,
    name: str,
    networks: Iterable,
    groups: Iterable[str],
    not_before: TimeLike,
    not_after: TimeLike,
    public_key: bytes,
    unsafe_networks: Iterable = (),
    version: int | None = None,
) -> NebulaCertificate:
    """Issue a host certificate for the X25519 ``public_key``, signed by ``ca_cert`` / ``ca_key``.

    ``ca_key`` is the 64-byte CA key (or its 32-byte seed, or a cryptography ``Ed25519PrivateKey`` to skip
    re-deriving it). ``version`` defaults to the CA's. Enforces nebula's validation and CA constraints.
    """
    if not isinstance(ca_cert, NebulaCertificate) or not ca_cert.is_ca:
        raise NebulaCertError("signing certificate is not a CA")
    if ca_cert.curve != CURVE25519:
        raise NebulaCertError("only curve25519 CAs are supported")
    version = ca_cert.version if version is None else version
    if version not in (1, 2):
        raise NebulaCertError(f"unknown cert version {version}")
    if not isinstance(name, str) or not name:
        raise NebulaCertError("name is required")
    public_key = bytes(public_key)
    if len(public_key) != 32:
        raise NebulaCertError(f"host public key must be 32 bytes (X25519), got {len(public_key)}")
    nb, na = _to_unix(not_before, "not_before"), _to_unix(not_after, "not_after")
    if na <= nb:
        raise NebulaCertError("not_after must be later than not_before")
    priv = _ed25519_from_key(ca_key)
    if priv.public_key().public_bytes_raw() != bytes(ca_cert.public_key):
        raise NebulaCertError("refusing to sign, root certificate does not match private key")
    nets = _parse_networks(networks, "networks")
    unsafe = _parse_networks(unsafe_networks, "unsafe_networks")
    group_list = _check_groups(groups)
    _check_ca_constraints(ca_cert, nb, na, group_list, nets, unsafe)
    cert = NebulaCertificate(
        version=version,
        name=name,
        networks=nets,
        unsafe_networks=unsafe,
        groups=group_list,
        not_before=nb,
        not_after=na,
        public_key=public_key,
        is_ca=False,
        issuer=ca_cert.fingerprint(),
    )
    cert.validate()
    if version == 2:
        cert.networks.sort(key=_net_sort_key)
        cert.unsafe_networks.sort(key=_net_sort_key)
    return _sign(cert, priv)


# --------------------------------------------------------------------------------------------------
# Verification


class CAPool:
    """Trusted CAs indexed by fingerprint, plus a fingerprint blocklist (nebula ``CAPool``)."""

    def __init__(self, cas: Iterable[NebulaCertificate] = (), blocklist: Iterable[str] = ()) -> None:
        self.cas: dict[str, NebulaCertificate] = {}
        self.blocklist: set[str] = set()
        for ca in cas:
            self.add_ca(ca)
        for fp in blocklist:
            self.blocklist_fingerprint(fp)

    @classmethod
    def from_pem(cls, text: str | bytes, blocklist: Iterable[str] = ()) -> CAPool:
        return cls(load_certificates(text), blocklist)

    def add_ca(self, cert: NebulaCertificate) -> str:
        """Add a CA (it must be a self-signed CA; expired CAs are kept and fail at verification)."""
        if not cert.is_ca:
            raise NebulaCertError(f"{cert.name}: certificate is not a CA")
        if not cert.verify_signature(cert.public_key):
            raise NebulaCertError(f"{cert.name}: certificate is not self-signed")
        fp = cert.fingerprint()
        self.cas[fp] = cert
        return fp

    def blocklist_fingerprint(self, fingerprint: str) -> None:
        self.blocklist.add(fingerprint.strip().lower())

    def is_blocklisted(self, fingerprint: str) -> bool:
        return fingerprint.lower() in self.blocklist

    @property
    def fingerprints(self) -> list[str]:
        return list(self.cas)

    def get_ca_for_cert(self, cert: NebulaCertificate) -> NebulaCertificate:
        if not cert.issuer:
            raise NebulaCertError("no issuer in certificate")
        ca = self.cas.get(cert.issuer.lower())
        if ca is None:
            raise NebulaCertError("could not find ca for the certificate")
        return ca

    def verify(self, cert: NebulaCertificate, now: TimeLike | None = None) -> NebulaCertificate:
        """Raise NebulaCertError unless ``cert`` is trusted at ``now``; return the signing CA.

        Order as nebula: blocklist, issuer lookup, curve, CA expired, certificate expired, signature,
        CA constraints.
        """
        t = _now_float(now)
        if self.is_blocklisted(cert.fingerprint()):
            raise NebulaCertError("certificate is in the block list")
        ca = self.get_ca_for_cert(cert)
        if ca.curve != cert.curve:
            raise NebulaCertError("certificate curve does not match CA")
        if ca.expired(t):
            raise NebulaCertError("root certificate is expired")
        if cert.expired(t):
            raise NebulaCertError("certificate is expired")
        if not cert.verify_signature(ca.public_key):
            raise NebulaCertError("certificate signature did not match")
        _check_ca_constraints(
            ca, cert.not_before, cert.not_after, cert.groups, cert.networks, cert.unsafe_networks
        )
        return ca


def verify_certificate(
    cert: NebulaCertificate,
    ca_certs: Iterable[NebulaCertificate],
    blocklist: Iterable[str] = (),
    now: TimeLike | None = None,
) -> None:
    """Raise NebulaCertError with nebula's reason unless ``cert`` verifies against ``ca_certs``."""
    CAPool(ca_certs, blocklist).verify(cert, now)
