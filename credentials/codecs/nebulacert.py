"""Nebula certificates v1 and v2 (pure Python, no Django): encoding, decoding, PEM, keys, signing, verifying.

Nebula checks signatures over its own encoding, so the wire formats are those of slackhq/nebula's ``cert``
package, byte for byte, limited to what the platform issues: curve25519 keys, IPv4 networks, and CAs without
group or network constraints (certificates with anything else are refused with a message).

* v1 (``NEBULA CERTIFICATE``, every nebula release): protobuf ``{details = 1, signature = 2}``; details
  fields in field-number order with defaults left out, networks as packed uint32 ``address, mask`` pairs (the
  host address), the issuer as the raw CA fingerprint. Signature: Ed25519 over the details; fingerprint:
  sha256 of the whole certificate.
* v2 (``NEBULA CERTIFICATE V2``, nebula 1.10 and later): ASN.1 DER, networks sorted. Signature: Ed25519
  over ``details || curve byte || public key``; fingerprint: sha256 of the same plus the signature.

A certificate keeps the details bytes its signature covers (as encoded, or as read), so it is immutable.
A CA key is Ed25519, stored as 64 bytes ``seed || public``; a host key is X25519 (32 bytes). Times are unix
seconds or timezone-aware datetimes. Every error is a :class:`NebulaCertError` (a ``ValueError``), with
nebula's message where nebula has one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
import socket
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

CERT_BANNER = "NEBULA CERTIFICATE"
CERT_V2_BANNER = "NEBULA CERTIFICATE V2"
ED25519_PRIVATE_BANNER = "NEBULA ED25519 PRIVATE KEY"
X25519_PRIVATE_BANNER = "NEBULA X25519 PRIVATE KEY"
X25519_PUBLIC_BANNER = "NEBULA X25519 PUBLIC KEY"
MAX_NAME_LENGTH = 253  # v2

Time = int | datetime
Net = tuple[bytes, int, str]  # packed IPv4 address, prefix length, "address/prefix"


class NebulaCertError(ValueError):
    """Any failure to decode, encode, sign or verify a Nebula certificate or key."""


def _unix(value: Time) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise NebulaCertError("times must be timezone-aware datetimes")
        return math.floor(value.timestamp())
    return int(value)


def _network(text: str) -> Net:
    """``"10.128.0.100/24"`` -> the host address (kept, like nebula) and the prefix length, in canonical form."""
    address, _, bits = str(text).partition("/")
    try:
        packed = socket.inet_pton(socket.AF_INET, address)  # refuses leading zeros
    except OSError:
        packed = None
    if packed is None or not (bits.isascii() and bits.isdigit() and bits == str(int(bits)) and int(bits) <= 32):
        raise NebulaCertError(f"invalid network {text!r}: an IPv4 address/prefix is expected")
    return packed, int(bits), f"{address}/{bits}"


def _net(packed: bytes, bits: int) -> Net:
    return packed, bits, f"{socket.inet_ntoa(packed)}/{bits}"


# --- Protobuf (v1) -------------------------------------------------------------------------------------------


def _varint(value: int) -> bytes:
    if 0 <= value < 0x80:
        return _SMALL_VARINTS[value]
    value &= (1 << 64) - 1  # negative int64 values take ten bytes, as in Go
    out = []
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL_VARINTS = [bytes([i]) for i in range(0x80)]
_MASKS = [_varint(0xFFFFFFFF << (32 - bits) & 0xFFFFFFFF) for bits in range(33)]  # by prefix length


def _pb(field_number: int, data: bytes) -> bytes:
    """A length-delimited field (every field number used here is below 16: a one-byte key)."""
    if len(data) < 0x80:
        return bytes((field_number << 3 | 2, len(data))) + data
    return bytes([field_number << 3 | 2]) + _varint(len(data)) + data


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while pos < len(buf) and shift < 64:
        byte = buf[pos]
        result |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            return result, pos
        shift += 7
    raise NebulaCertError("bad wire format: invalid varint")


def _pb_fields(buf: bytes) -> Iterator[tuple[int, int | bytes]]:
    """``(field number, value)``: an int for a varint, bytes for a length-delimited field."""
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        if key & 7 == 0:
            value, pos = _read_varint(buf, pos)
            yield key >> 3, value
        elif key & 7 == 2:
            length, pos = _read_varint(buf, pos)
            if pos + length > len(buf):
                raise NebulaCertError("bad wire format: truncated field")
            yield key >> 3, buf[pos : pos + length]
            pos += length
        else:
            raise NebulaCertError(f"bad wire format: unexpected wire type {key & 7}")


def _v1_pairs(nets: list[Net]) -> bytes:
    return b"".join([_varint(int.from_bytes(packed)) + _MASKS[bits] for packed, bits, _ in nets])


def _v1_nets(packed: bytes) -> list[Net]:
    values, pos = [], 0
    while pos < len(packed):
        value, pos = _read_varint(packed, pos)
        values.append(value)
    if len(values) % 2:
        raise NebulaCertError("encoded networks should be in pairs, an odd number was found")
    nets = []
    for address, mask in zip(values[::2], values[1::2], strict=True):
        host_bits = ~mask & 0xFFFFFFFF
        if address > 0xFFFFFFFF or host_bits & (host_bits + 1):
            raise NebulaCertError("bad wire format: invalid network")
        nets.append(_net(address.to_bytes(4), 32 - host_bits.bit_length()))
    return nets


# --- DER (v2) ------------------------------------------------------------------------------------------------


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    length = n.to_bytes((n.bit_length() + 7) // 8)
    return bytes([tag, 0x80 | len(length)]) + length + content


def _der_int(value: int) -> bytes:
    """The minimal two's-complement INTEGER content."""
    return value.to_bytes((~value if value < 0 else value).bit_length() // 8 + 1, signed=True)


def _der_items(data: bytes) -> Iterator[tuple[int, bytes, bytes]]:
    """``(tag, content, whole element)`` for each element in ``data``."""
    pos = 0
    while pos < len(data):
        if len(data) - pos < 2:
            raise NebulaCertError("bad wire format: truncated ASN.1 element")
        tag, length, start = data[pos], data[pos + 1], pos + 2
        if length & 0x80:
            start += length & 0x7F
            length = int.from_bytes(data[pos + 2 : start])
        if start + length > len(data):
            raise NebulaCertError("bad wire format: truncated ASN.1 element")
        yield tag, data[start : start + length], data[pos : start + length]
        pos = start + length


# --- The certificate -----------------------------------------------------------------------------------------


class NebulaCertificate(NamedTuple):
    """A decoded or freshly signed certificate, immutable. ``networks`` are ``"address/prefix"`` strings (host
    address), ``issuer`` the hex fingerprint of the signing CA ("" on a CA), ``details`` the bytes the signature
    covers."""

    version: int
    name: str
    networks: list[str]
    unsafe_networks: list[str]
    groups: list[str]
    not_before: int
    not_after: int
    public_key: bytes
    is_ca: bool
    issuer: str
    signature: bytes
    details: bytes

    @property
    def not_before_dt(self) -> datetime:
        return datetime.fromtimestamp(self.not_before, UTC)

    @property
    def not_after_dt(self) -> datetime:
        return datetime.fromtimestamp(self.not_after, UTC)

    def signing_input(self) -> bytes:
        return self.details + b"\x00" + self.public_key if self.version == 2 else self.details

    def marshal(self) -> bytes:
        """The wire bytes (what goes inside the PEM block)."""
        if self.version == 2:
            return _der(0x30, self.details + _der(0x82, self.public_key) + _der(0x83, self.signature))
        return _pb(1, self.details) + _pb(2, self.signature)

    def to_pem(self) -> str:
        return pem_encode(CERT_V2_BANNER if self.version == 2 else CERT_BANNER, self.marshal())

    def fingerprint(self) -> str:
        data = self.signing_input() + self.signature if self.version == 2 else self.marshal()
        return hashlib.sha256(data).hexdigest()

    def verify_signature(self, public_key: bytes) -> bool:
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(public_key).verify(self.signature, self.signing_input())
        except (InvalidSignature, ValueError):
            return False
        return True

    def expired(self, at: float) -> bool:
        return self.not_before > at or self.not_after < at

    @property
    def constrained(self) -> bool:
        return self.is_ca and bool(self.groups or self.networks or self.unsafe_networks)


def _encode_details(
    version: int,
    name: bytes,
    networks: list[Net],
    unsafe_networks: list[Net],
    groups: list[bytes],
    not_before: int,
    not_after: int,
    public_key: bytes,
    is_ca: bool,
    issuer: bytes,
) -> bytes:
    if version == 1:
        out = [b"\x0a", _varint(len(name)), name]
        for key, nets in ((b"\x12", networks), (b"\x1a", unsafe_networks)):
            if nets:
                pairs = _v1_pairs(nets)
                out += (key, _varint(len(pairs)), pairs)
        for g in groups:
            out += (b"\x22", _varint(len(g)), g)
        if not_before:
            out += (b"\x28", _varint(not_before))
        if not_after:
            out += (b"\x30", _varint(not_after))
        out += (b"\x3a\x20", public_key)
        if is_ca:
            out.append(b"\x40\x01")
        if issuer:
            out += (b"\x4a\x20", issuer)
        return b"".join(out)
    out = [_der(0x80, name)]
    for tag, nets in ((0xA1, networks), (0xA2, unsafe_networks)):
        if nets:
            out.append(_der(tag, b"".join(_der(0x04, packed + bytes([bits])) for packed, bits, _ in nets)))
    if groups:
        out.append(_der(0xA3, b"".join(_der(0x0C, g) for g in groups)))
    if is_ca:
        out.append(b"\x84\x01\xff")
    out += (_der(0x85, _der_int(not_before)), _der(0x86, _der_int(not_after)))
    if issuer:
        out.append(_der(0x87, issuer))
    return _der(0xA0, b"".join(out))


def _signed(
    key: ed25519.Ed25519PrivateKey,
    version: int,
    name: str,
    networks: list[Net],
    unsafe_networks: list[Net],
    groups: list[str],
    not_before: int,
    not_after: int,
    public_key: bytes,
    is_ca: bool,
    issuer: bytes,
) -> NebulaCertificate:
    """Check nebula's rules, encode, sign."""
    if version != 1 and version != 2:
        raise NebulaCertError(f"unknown cert version {version}")
    name_bytes = name.encode() if isinstance(name, str) else b""
    if not name_bytes or version == 2 and len(name_bytes) > MAX_NAME_LENGTH:
        raise NebulaCertError(f"name is required, at most {MAX_NAME_LENGTH} bytes")
    if not_after <= not_before:
        raise NebulaCertError("not_after must be later than not_before")
    group_bytes = []
    for g in groups:
        if not isinstance(g, str) or not g:
            raise NebulaCertError("groups must be non-empty strings")
        group_bytes.append(g.encode())
    if not networks and not is_ca:
        raise NebulaCertError("non-CA certificates must contain at least one network")
    if version == 2:
        if len(set(networks)) != len(networks) or len(set(unsafe_networks)) != len(unsafe_networks):
            raise NebulaCertError("duplicate network detected")
        networks, unsafe_networks = sorted(networks), sorted(unsafe_networks)
    details = _encode_details(
        version, name_bytes, networks, unsafe_networks, group_bytes, not_before, not_after, public_key, is_ca, issuer
    )
    return NebulaCertificate(
        version,
        name,
        [text for _, _, text in networks],
        [text for _, _, text in unsafe_networks],
        groups,
        not_before,
        not_after,
        public_key,
        is_ca,
        issuer.hex(),
        key.sign(details + b"\x00" + public_key if version == 2 else details),
        details,
    )


def create_ca(
    name: str, not_before: Time, not_after: Time, version: int = 1, key: ed25519.Ed25519PrivateKey | None = None
) -> tuple[NebulaCertificate, bytes]:
    """A self-signed CA (a new Ed25519 key unless ``key`` is given). Returns the certificate and its 64-byte key."""
    key = key or ed25519.Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes_raw()
    cert = _signed(key, version, name, [], [], [], _unix(not_before), _unix(not_after), public, True, b"")
    return cert, key.private_bytes_raw() + public


class HostSigner:
    """A CA certificate with its private key, loaded once to sign any number of host certificates."""

    def __init__(self, ca: NebulaCertificate, ca_key: bytes) -> None:
        if not ca.is_ca:
            raise NebulaCertError("signing certificate is not a CA")
        if ca.constrained:
            raise NebulaCertError("CAs with group or network constraints are not supported")
        if len(ca_key) != 64:
            raise NebulaCertError("an Ed25519 CA private key is 64 bytes (seed || public)")
        self.ca = ca
        self._key = ed25519.Ed25519PrivateKey.from_private_bytes(ca_key[:32])
        if self._key.public_key().public_bytes_raw() != ca.public_key:
            raise NebulaCertError("refusing to sign, root certificate does not match private key")
        self.fingerprint = ca.fingerprint()
        self._issuer = bytes.fromhex(self.fingerprint)

    def sign(
        self,
        name: str,
        networks: Iterable[str],
        groups: Iterable[str],
        not_before: Time,
        not_after: Time,
        public_key: bytes,
        unsafe_networks: Iterable[str] = (),
    ) -> NebulaCertificate:
        """A host certificate for the X25519 ``public_key``, in the CA's version."""
        if len(public_key) != 32:
            raise NebulaCertError(f"host public key must be 32 bytes (X25519), got {len(public_key)}")
        if isinstance(networks, str) or isinstance(groups, str) or isinstance(unsafe_networks, str):
            raise NebulaCertError("networks, groups and unsafe networks are lists, not strings")
        nb, na = _unix(not_before), _unix(not_after)
        if na > self.ca.not_after:
            raise NebulaCertError("certificate expires after signing certificate")
        if nb < self.ca.not_before:
            raise NebulaCertError("certificate is valid before the signing certificate")
        nets = [_network(n) for n in networks]
        if any(packed == b"\x00\x00\x00\x00" for packed, _, _ in nets):
            raise NebulaCertError("non-CA certificates must not use the zero address as a network")
        unsafe = [_network(n) for n in unsafe_networks]
        return _signed(
            self._key, self.ca.version, name, nets, unsafe, list(groups), nb, na, public_key, False, self._issuer
        )


# --- Decoding ------------------------------------------------------------------------------------------------


def _expect(value: object, kind: type) -> object:
    if not isinstance(value, kind):
        raise NebulaCertError("bad wire format: unexpected field type")
    return value


def _text(value: object, what: str) -> str:
    try:
        return _expect(value, bytes).decode()
    except UnicodeDecodeError:
        raise NebulaCertError(f"bad wire format: {what} is not UTF-8") from None


def _checked(cert: NebulaCertificate) -> NebulaCertificate:
    if len(cert.public_key) != 32 or not cert.signature:
        raise NebulaCertError("invalid public key or signature")
    if not cert.is_ca and not cert.networks:
        raise NebulaCertError("non-CA certificates must contain at least one network")
    return cert


def _decode_v1(data: bytes) -> NebulaCertificate:
    outer = dict(_pb_fields(data))
    details = _expect(outer.get(1), bytes)
    fields: dict[int, int | bytes] = {}
    nets: dict[int, list[str]] = {2: [], 3: []}
    groups = []
    for number, value in _pb_fields(details):
        if number in nets:
            nets[number] += [text for _, _, text in _v1_nets(_expect(value, bytes))]
        elif number == 4:
            groups.append(_text(value, "group"))
        else:
            fields[number] = value
    if _expect(fields.get(100, 0), int):
        raise NebulaCertError("only curve25519 certificates are supported")
    not_before, not_after = (_expect(fields.get(n, 0), int) for n in (5, 6))
    return _checked(
        NebulaCertificate(
            version=1,
            name=_text(fields.get(1, b""), "name"),
            networks=nets[2],
            unsafe_networks=nets[3],
            groups=groups,
            not_before=not_before - (not_before >> 63 << 64),  # the varint is a uint64, the time an int64
            not_after=not_after - (not_after >> 63 << 64),
            public_key=_expect(fields.get(7, b""), bytes),
            is_ca=bool(_expect(fields.get(8, 0), int)),
            issuer=_expect(fields.get(9, b""), bytes).hex(),
            signature=_expect(outer.get(2, b""), bytes),
            details=details,
        )
    )


def _v2_networks(data: bytes) -> list[str]:
    nets = [value for _, value, _ in _der_items(data)]
    if any(len(value) != 5 or value[4] > 32 for value in nets):
        raise NebulaCertError("bad wire format: invalid network (only IPv4 is supported)")
    return [_net(value[:4], value[4])[2] for value in nets]


def _decode_v2(data: bytes) -> NebulaCertificate:
    outer = list(_der_items(data))
    if len(outer) != 1 or outer[0][0] != 0x30:
        raise NebulaCertError("bad wire format: not a v2 certificate")
    items = {tag: (content, whole) for tag, content, whole in _der_items(outer[0][1])}
    if 0x81 in items:
        raise NebulaCertError("only curve25519 certificates are supported")
    if 0xA0 not in items or 0x83 not in items:
        raise NebulaCertError("bad wire format: missing details or signature")
    d = {tag: content for tag, content, _ in _der_items(items[0xA0][0])}
    return _checked(
        NebulaCertificate(
            version=2,
            name=_text(d.get(0x80, b""), "name"),
            networks=_v2_networks(d.get(0xA1, b"")),
            unsafe_networks=_v2_networks(d.get(0xA2, b"")),
            groups=[_text(value, "group") for _, value, _ in _der_items(d.get(0xA3, b""))],
            not_before=int.from_bytes(d.get(0x85, b""), signed=True),
            not_after=int.from_bytes(d.get(0x86, b""), signed=True),
            public_key=items.get(0x82, (b"",))[0],
            is_ca=d.get(0x84) == b"\xff",
            issuer=d.get(0x87, b"").hex(),
            signature=items[0x83][0],
            details=items[0xA0][1],
        )
    )


def load_certificates(text: str) -> list[NebulaCertificate]:
    """Every certificate of a PEM bundle (v1 and v2 may be mixed, e.g. a CA rotation bundle)."""
    certs = []
    for banner, data in parse_pem(text):
        if banner == CERT_BANNER:
            certs.append(_decode_v1(data))
        elif banner == CERT_V2_BANNER:
            certs.append(_decode_v2(data))
        else:
            raise NebulaCertError(f"bytes did not contain a proper certificate banner (found {banner!r})")
    return certs


def load_certificate(text: str) -> NebulaCertificate:
    certs = load_certificates(text)
    if len(certs) != 1:
        raise NebulaCertError(f"expected exactly one certificate, found {len(certs)}")
    return certs[0]


# --- PEM and keys --------------------------------------------------------------------------------------------

_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\s]*?)-----END \1-----[ \t]*(?:\r?\n|$)")


def pem_encode(banner: str, data: bytes) -> str:
    """Go ``pem.EncodeToMemory``: 64-character base64 lines and a trailing newline."""
    lines = b"".join([binascii.b2a_base64(data[i : i + 48]) for i in range(0, len(data), 48)]).decode()
    return f"-----BEGIN {banner}-----\n{lines}-----END {banner}-----\n"


def parse_pem(text: str) -> list[tuple[str, bytes]]:
    """Every PEM block of ``text`` as ``(banner, bytes)``; anything but whitespace around them is refused."""
    blocks, pos = [], 0
    for m in _PEM.finditer(text):
        if text[pos : m.start()].strip():
            break
        try:
            blocks.append((m[1], base64.b64decode("".join(m[2].split()), validate=True)))
        except binascii.Error:
            raise NebulaCertError(f"invalid base64 in PEM block {m[1]}") from None
        pos = m.end()
    if not blocks or text[pos:].strip():
        raise NebulaCertError("input is not a sequence of valid PEM blocks")
    return blocks


def load_ca_key(text: str) -> bytes:
    """``NEBULA ED25519 PRIVATE KEY`` -> 64 bytes (seed || public)."""
    blocks = parse_pem(text)
    if len(blocks) != 1 or blocks[0][0] != ED25519_PRIVATE_BANNER or len(blocks[0][1]) != 64:
        raise NebulaCertError(f"expected one {ED25519_PRIVATE_BANNER} block of 64 bytes")
    return blocks[0][1]


def ed25519_private_key_to_pem(key: bytes) -> str:
    return pem_encode(ED25519_PRIVATE_BANNER, key)


def x25519_private_key_to_pem(key: bytes) -> str:
    return pem_encode(X25519_PRIVATE_BANNER, key)


def generate_host_keypair() -> tuple[bytes, bytes]:
    """A new X25519 key pair ``(private, public)``, 32 bytes each, as ``nebula-cert keygen`` makes."""
    key = x25519.X25519PrivateKey.generate()
    return key.private_bytes_raw(), key.public_key().public_bytes_raw()


_PROBE_KEY = x25519.X25519PrivateKey.from_private_bytes(hashlib.sha256(b"stoneage x25519 probe").digest())


def parse_public_key_pem_or_raw(value: str | bytes) -> bytes:
    """A device's X25519 public key -> 32 bytes, from the ``NEBULA X25519 PUBLIC KEY`` PEM (what ``nebula-cert
    keygen`` writes), 64 hex characters or base64. Private keys, Ed25519 keys and low-order points are refused,
    each with its own message."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    text = value.strip()
    if not text:
        raise NebulaCertError("public key is empty")
    if "-----BEGIN" in text:
        blocks = parse_pem(text)
        banner, data = blocks[0]
        if "PRIVATE KEY" in banner:
            raise NebulaCertError(f"this is a private key ({banner}); send only the public key")
        if "ED25519" in banner:
            raise NebulaCertError(
                f"expected an X25519 key ({X25519_PUBLIC_BANNER}), got {banner}; Ed25519 keys are for CA signing "
                "only, host keys are X25519 (nebula-cert keygen)"
            )
        if len(blocks) != 1 or banner != X25519_PUBLIC_BANNER:
            raise NebulaCertError(f"expected one {X25519_PUBLIC_BANNER} PEM block, got {banner}")
    elif re.fullmatch(r"[0-9a-fA-F]+", text):
        if len(text) != 64:
            raise NebulaCertError(f"X25519 public key must be 32 bytes (64 hex characters), got {len(text)}")
        data = bytes.fromhex(text)
    else:
        try:
            compact = text.replace("-", "+").replace("_", "/")
            data = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
        except binascii.Error:
            raise NebulaCertError(f"public key is neither a {X25519_PUBLIC_BANNER} PEM block, hex nor base64") from None
    if len(data) != 32:
        raise NebulaCertError(f"X25519 public key must be 32 bytes, got {len(data)}")
    try:
        _PROBE_KEY.exchange(x25519.X25519PublicKey.from_public_bytes(data))
    except ValueError:
        raise NebulaCertError("invalid X25519 public key (low-order point)") from None
    return data


# --- Verification --------------------------------------------------------------------------------------------


class CAPool:
    """Trusted CAs by fingerprint, plus a blocklist of certificate fingerprints (nebula's ``CAPool``)."""

    def __init__(self, cas: Iterable[NebulaCertificate], blocklist: Iterable[str] = ()) -> None:
        self.cas: dict[str, NebulaCertificate] = {}
        for ca in cas:
            if not ca.is_ca:
                raise NebulaCertError(f"{ca.name}: certificate is not a CA")
            if ca.constrained:
                raise NebulaCertError(f"{ca.name}: CAs with group or network constraints are not supported")
            if not ca.verify_signature(ca.public_key):
                raise NebulaCertError(f"{ca.name}: certificate is not self-signed")
            self.cas[ca.fingerprint()] = ca
        self.blocklist = {fp.strip().lower() for fp in blocklist}

    def verify(self, cert: NebulaCertificate, now: float | datetime | None = None) -> NebulaCertificate:
        """Raise with nebula's reason (checked in nebula's order) unless ``cert`` is trusted; return its CA."""
        t = time.time() if now is None else now.timestamp() if isinstance(now, datetime) else now
        if cert.fingerprint() in self.blocklist:
            raise NebulaCertError("certificate is in the block list")
        if not cert.issuer:
            raise NebulaCertError("no issuer in certificate")
        ca = self.cas.get(cert.issuer)
        if ca is None:
            raise NebulaCertError("could not find ca for the certificate")
        if ca.expired(t):
            raise NebulaCertError("root certificate is expired")
        if cert.expired(t):
            raise NebulaCertError("certificate is expired")
        if not cert.verify_signature(ca.public_key):
            raise NebulaCertError("certificate signature did not match")
        if cert.not_after > ca.not_after:
            raise NebulaCertError("certificate expires after signing certificate")
        if cert.not_before < ca.not_before:
            raise NebulaCertError("certificate is valid before the signing certificate")
        return ca
