"""NATS nkeys, JWT claims and ``.creds`` codec (pure Python, no Django).

Reproduces the wire format of Go ``nats-io/jwt`` v2.8.2 and ``nats-io/nkeys`` byte for byte:

* nkeys: prefix byte(s) + raw key + CRC-16/XMODEM (little-endian), base32 without padding.
* JWT: ``b64url(header).b64url(payload).b64url(ed25519 signature)``; the payload is serialized
  with Go ``encoding/json`` rules (struct field order, sorted map keys, omitempty, HTML escaping).
* ``jti``: SHA-512/256 over the JSON of the registered claims only (without ``jti``), base32 unpadded.
* ``.creds``: the exact text of ``jwt.FormatUserConfig``; parsed with the regex nats clients use.

The codec encodes exactly what it is given: it never substitutes default permissions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, ClassVar, Literal

import nacl.bindings
import nacl.exceptions
import nkeys

__all__ = [
    "ACCOUNT",
    "OPERATOR",
    "USER",
    "HEADER_B64",
    "MAX_TOKEN_SIZE",
    "SYS_ACCOUNT_INFO_URL",
    "AccountClaims",
    "AccountLimits",
    "Claims",
    "ClaimInfo",
    "Export",
    "ExternalAuthorization",
    "GenericClaims",
    "Import",
    "JetStreamLimits",
    "KeyPair",
    "MintedUser",
    "NatsCodecError",
    "OperatorClaims",
    "Permissions",
    "ResponsePermission",
    "ServiceLatency",
    "TimeRange",
    "UserClaims",
    "account_delete_claims",
    "claim_info",
    "create_account",
    "create_keypair",
    "create_operator",
    "create_user",
    "decode",
    "encode",
    "format_user_creds",
    "go_json_dumps",
    "is_valid_public_key",
    "keypair_from_seed",
    "mint_user_credentials",
    "normalize_account_name",
    "parse_creds",
    "public_key_from_seed",
    "string_list",
    "system_account_claims",
    "validate_public_key",
    "validate_seed",
    "validate_subject",
]


class NatsCodecError(ValueError):
    """Raised for malformed keys, tokens, claims, creds files or subjects."""


# --------------------------------------------------------------------------------------------
# nkeys
# --------------------------------------------------------------------------------------------

OPERATOR = "O"
ACCOUNT = "A"
USER = "U"
SERVER = "N"
CLUSTER = "C"

KeyKind = Literal["O", "A", "U", "N", "C"]

_PREFIX_SEED: int = nkeys.PREFIX_BYTE_SEED
_PREFIX_PRIVATE: int = nkeys.PREFIX_BYTE_PRIVATE
_PREFIX_BY_KIND: dict[str, int] = {
    OPERATOR: nkeys.PREFIX_BYTE_OPERATOR,
    ACCOUNT: nkeys.PREFIX_BYTE_ACCOUNT,
    USER: nkeys.PREFIX_BYTE_USER,
    SERVER: nkeys.PREFIX_BYTE_SERVER,
    CLUSTER: nkeys.PREFIX_BYTE_CLUSTER,
}
_KIND_BY_PREFIX: dict[int, str] = {v: k for k, v in _PREFIX_BY_KIND.items()}
_KIND_NAMES = {OPERATOR: "operator", ACCOUNT: "account", USER: "user", SERVER: "server", CLUSTER: "cluster"}

_PUBLIC_KEY_LEN = 56  # base32 of 1 + 32 + 2 bytes
_SEED_LEN = 58  # base32 of 2 + 32 + 2 bytes
_B32_RE = re.compile(r"[A-Z2-7]+")


def _crc16(data: bytes) -> bytes:
    # binascii.crc_hqx is CRC-16/CCITT with the given initial value; init 0 is XMODEM.
    return binascii.crc_hqx(data, 0).to_bytes(2, "little")


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=")


def _b32_decode_checked(text: str, what: str) -> bytes:
    if not _B32_RE.fullmatch(text):
        raise NatsCodecError(f"invalid {what}: not base32 (A-Z, 2-7)")
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError) as exc:
        raise NatsCodecError(f"invalid {what}: bad base32") from exc
    if _crc16(raw[:-2]) != raw[-2:]:
        raise NatsCodecError(f"invalid {what}: checksum mismatch")
    return raw[:-2]


def _check_kind(kind: str) -> int:
    try:
        return _PREFIX_BY_KIND[kind]
    except KeyError:
        raise NatsCodecError(f"unknown key kind {kind!r}; expected one of O, A, U, N, C") from None


def _encode_public(kind: str, raw_public: bytes) -> str:
    body = bytes((_PREFIX_BY_KIND[kind],)) + raw_public
    return _b32(body + _crc16(body))


def _encode_seed(kind: str, raw_seed: bytes) -> str:
    prefix = _PREFIX_BY_KIND[kind]
    body = bytes((_PREFIX_SEED | (prefix >> 5), (prefix & 31) << 3)) + raw_seed
    return _b32(body + _crc16(body))


def _as_text(value: str | bytes, what: str) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            value = bytes(value).decode("ascii")
        except UnicodeDecodeError:
            raise NatsCodecError(f"invalid {what}: not ASCII") from None
    if not isinstance(value, str):
        raise NatsCodecError(f"invalid {what}: expected str or bytes, got {type(value).__name__}")
    return value.strip()


def _decode_public_key(key: str | bytes, kind: str | None = None) -> tuple[str, bytes]:
    """Return ``(kind, raw 32-byte ed25519 public key)`` after full validation."""
    text = _as_text(key, "public key")
    if len(text) != _PUBLIC_KEY_LEN:
        raise NatsCodecError(f"invalid public key: expected {_PUBLIC_KEY_LEN} characters, got {len(text)}")
    raw = _b32_decode_checked(text, "public key")
    actual = _KIND_BY_PREFIX.get(raw[0])
    if actual is None:
        raise NatsCodecError(f"invalid public key: unknown prefix {text[0]!r}")
    if kind is not None and actual != kind:
        raise NatsCodecError(
            f"expected {_KIND_NAMES.get(kind, kind)} public key ({kind}...), got {_KIND_NAMES[actual]} key "
            f"{text[:8]}..."
        )
    return actual, raw[1:]


def _decode_seed(seed: str | bytes, kind: str | None = None) -> tuple[str, bytes, str]:
    """Return ``(kind, raw 32-byte seed, normalized seed text)``. Errors never echo the seed."""
    text = _as_text(seed, "seed")
    if len(text) != _SEED_LEN or not text.startswith("S"):
        raise NatsCodecError(f"invalid seed: expected {_SEED_LEN} characters starting with 'S'")
    raw = _b32_decode_checked(text, "seed")
    if raw[0] & 0xF8 != _PREFIX_SEED:
        raise NatsCodecError("invalid seed: wrong seed prefix")
    prefix = ((raw[0] & 0x07) << 5) | ((raw[1] & 0xF8) >> 3)
    actual = _KIND_BY_PREFIX.get(prefix)
    if actual is None:
        raise NatsCodecError("invalid seed: unknown key type")
    if kind is not None and actual != kind:
        raise NatsCodecError(
            f"expected {_KIND_NAMES.get(kind, kind)} seed (S{kind}...), got {_KIND_NAMES[actual]} seed"
        )
    return actual, raw[2:], text


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An nkey pair. ``seed`` is secret and kept out of ``repr``."""

    kind: str
    public_key: str
    seed: str = field(repr=False)
    _secret: bytes = field(repr=False, compare=False)  # libsodium 64-byte secret key (seed || pub)

    @property
    def raw_seed(self) -> bytes:
        return self._secret[:32]

    @property
    def raw_public_key(self) -> bytes:
        return self._secret[32:]

    @property
    def private_key(self) -> str:
        """The ``P...`` encoded 64-byte ed25519 private key (as pb-nats stores it)."""
        body = bytes((_PREFIX_PRIVATE,)) + self._secret
        return _b32(body + _crc16(body))

    def sign(self, data: bytes) -> bytes:
        """Detached 64-byte Ed25519 signature."""
        return nacl.bindings.crypto_sign(data, self._secret)[:64]

    def verify(self, data: bytes, signature: bytes) -> bool:
        return _verify(self.raw_public_key, data, signature)


def _keypair_from_raw(kind: str, raw_seed: bytes, seed_text: str | None = None) -> KeyPair:
    pk, sk = nacl.bindings.crypto_sign_seed_keypair(raw_seed)
    return KeyPair(
        kind=kind,
        public_key=_encode_public(kind, pk),
        seed=seed_text if seed_text is not None else _encode_seed(kind, raw_seed),
        _secret=sk,
    )


def create_keypair(kind: str) -> KeyPair:
    """Generate a new key pair of ``kind`` (``"O"``, ``"A"``, ``"U"``, ``"N"``, ``"C"``) from os.urandom."""
    _check_kind(kind)
    return _keypair_from_raw(kind, os.urandom(32))


def create_operator() -> KeyPair:
    return create_keypair(OPERATOR)


def create_account() -> KeyPair:
    return create_keypair(ACCOUNT)


def create_user() -> KeyPair:
    return create_keypair(USER)


@lru_cache(maxsize=256)
def _keypair_from_seed_cached(text: str) -> KeyPair:
    kind, raw, text = _decode_seed(text)
    return _keypair_from_raw(kind, raw, text)


def keypair_from_seed(seed: str | bytes, kind: str | None = None) -> KeyPair:
    """Parse and validate an ``S...`` seed; ``kind`` (``"O"``/``"A"``/``"U"``...) is checked when given."""
    if kind is not None:
        _check_kind(kind)
    kp = _keypair_from_seed_cached(_as_text(seed, "seed"))
    if kind is not None and kp.kind != kind:
        raise NatsCodecError(
            f"expected {_KIND_NAMES.get(kind, kind)} seed (S{kind}...), got {_KIND_NAMES[kp.kind]} seed"
        )
    return kp


def public_key_from_seed(seed: str | bytes, kind: str | None = None) -> str:
    return keypair_from_seed(seed, kind).public_key


def validate_public_key(key: str | bytes, kind: str | None = None) -> str:
    """Return the normalized public key or raise :class:`NatsCodecError` (bad length/base32/CRC/kind)."""
    if kind is not None:
        _check_kind(kind)
    _decode_public_key(key, kind)
    return _as_text(key, "public key")


def validate_seed(seed: str | bytes, kind: str | None = None) -> str:
    """Return the normalized seed or raise :class:`NatsCodecError`."""
    if kind is not None:
        _check_kind(kind)
    return _decode_seed(seed, kind)[2]


def is_valid_public_key(key: Any, kind: str | None = None) -> bool:
    try:
        validate_public_key(key, kind)
    except NatsCodecError:
        return False
    return True


def _verify(raw_public: bytes, data: bytes, signature: bytes) -> bool:
    if len(signature) != 64:
        return False
    try:
        nacl.bindings.crypto_sign_open(signature + data, raw_public)
    except nacl.exceptions.BadSignatureError:
        return False
    return True


def _as_signer(signer: KeyPair | str | bytes) -> KeyPair:
    if isinstance(signer, KeyPair):
        return signer
    return keypair_from_seed(signer)


# --------------------------------------------------------------------------------------------
# Go encoding/json
# --------------------------------------------------------------------------------------------

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False, allow_nan=False)


def go_json_dumps(obj: Any) -> str:
    """Compact JSON with Go ``encoding/json`` string escaping.

    Dict insertion order is kept (build dicts in Go field order; sort map-typed members yourself).
    ``<``, ``>``, ``&``, U+2028 and U+2029 become ``\\u003c``, ``\\u003e``, ``\\u0026``, ``\\u2028``,
    ``\\u2029``; other non-ASCII is emitted raw; control characters match Go (``\\n``, ``\\u0001``...).
    """
    try:
        s = _JSON.encode(obj)
    except (TypeError, ValueError) as exc:
        raise NatsCodecError(f"cannot serialize claims: {exc}") from exc
    if "<" in s:
        s = s.replace("<", "\\u003c")
    if ">" in s:
        s = s.replace(">", "\\u003e")
    if "&" in s:
        s = s.replace("&", "\\u0026")
    if "\u2028" in s:
        s = s.replace("\u2028", "\\u2028")
    if "\u2029" in s:
        s = s.replace("\u2029", "\\u2029")
    return s


def _utf8(s: str) -> bytes:
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NatsCodecError("claims contain a lone surrogate (not valid UTF-8)") from exc


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*")


def _b64url_decode(text: str, what: str) -> bytes:
    if not _B64URL_RE.fullmatch(text) or len(text) % 4 == 1:
        raise NatsCodecError(f"malformed token: {what} is not unpadded base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise NatsCodecError(f"malformed token: {what} is not unpadded base64url") from exc


def string_list(values: Iterable[str] | None) -> list[str]:
    """Go ``StringList.Add`` semantics: drop ``""``, dedupe, keep first-seen order."""
    if not values:
        return []
    if isinstance(values, str):
        raise NatsCodecError("expected a list of strings, got a single string")
    out = list(dict.fromkeys(v for v in values if v))
    for v in out:
        if not isinstance(v, str):
            raise NatsCodecError(f"expected a list of strings, got item {v!r}")
    return out


def _tag_list(values: Iterable[str] | None) -> list[str]:
    """Go ``TagList.Add`` semantics (also used for ``src`` CIDRs): trim, lowercase, dedupe."""
    if not values:
        return []
    if isinstance(values, str):
        raise NatsCodecError("expected a list of strings, got a single string")
    return list(dict.fromkeys(t for t in (v.strip().lower() for v in values) if t))


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NatsCodecError(f"{name} must be an int, got {type(value).__name__}")
    return value


def _seconds_to_ns(value: int | float, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NatsCodecError(f"{name} must be a number of seconds")
    if isinstance(value, int):
        return value * 1_000_000_000
    return round(value * 1_000_000_000)


def _revocations(revs: Mapping[str, int] | None) -> dict[str, int]:
    if not revs:
        return {}
    return {k: _int(revs[k], f"revocation of {k}") for k in sorted(revs)}


def _generic_value(value: Any) -> Any:
    """Normalize free-form claim data the way Go would marshal ``map[string]interface{}``."""
    if isinstance(value, Mapping):
        return {str(k): _generic_value(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list | tuple):
        return [_generic_value(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


# --------------------------------------------------------------------------------------------
# Claim building blocks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResponsePermission:
    """``resp``: allow replies to requests. ``ttl_seconds`` is written as Go nanoseconds."""

    max_msgs: int = 1
    ttl_seconds: int | float = 0

    def to_json(self) -> dict[str, int]:
        return {"max": _int(self.max_msgs, "resp.max"), "ttl": _seconds_to_ns(self.ttl_seconds, "resp.ttl")}


def _permission(allow: Iterable[str] | None, deny: Iterable[str] | None) -> dict[str, list[str]]:
    d: dict[str, list[str]] = {}
    a = string_list(allow)
    if a:
        d["allow"] = a
    n = string_list(deny)
    if n:
        d["deny"] = n
    return d


@dataclass(frozen=True)
class Permissions:
    """Publish/subscribe permissions (used for account ``default_permissions``)."""

    pub_allow: Sequence[str] = ()
    pub_deny: Sequence[str] = ()
    sub_allow: Sequence[str] = ()
    sub_deny: Sequence[str] = ()
    resp: ResponsePermission | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "pub": _permission(self.pub_allow, self.pub_deny),
            "sub": _permission(self.sub_allow, self.sub_deny),
        }
        if self.resp is not None:
            d["resp"] = self.resp.to_json()
        return d


@dataclass(frozen=True)
class TimeRange:
    """A user connect window, ``"HH:MM:SS"`` strings."""

    start: str = ""
    end: str = ""

    def to_json(self) -> dict[str, str]:
        d = {}
        if self.start:
            d["start"] = self.start
        if self.end:
            d["end"] = self.end
        return d


_JS_FIELDS = (
    "mem_storage",
    "disk_storage",
    "streams",
    "consumer",
    "max_ack_pending",
    "mem_max_stream_bytes",
    "disk_max_stream_bytes",
)


@dataclass(frozen=True)
class JetStreamLimits:
    """One JetStream tier (for ``AccountLimits.tiered_limits``). 0 means omitted/disabled."""

    mem_storage: int = 0
    disk_storage: int = 0
    streams: int = 0
    consumer: int = 0
    max_ack_pending: int = 0
    mem_max_stream_bytes: int = 0
    disk_max_stream_bytes: int = 0
    max_bytes_required: bool = False

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for name in _JS_FIELDS:
            v = _int(getattr(self, name), name)
            if v:
                d[name] = v
        if self.max_bytes_required:
            d["max_bytes_required"] = True
        return d


@dataclass(frozen=True)
class AccountLimits:
    """Account ``limits``; defaults are Go ``NewAccountClaims`` (unlimited, JetStream disabled).

    Every member is omitempty: 0/False are not written.
    """

    subs: int = -1
    data: int = -1
    payload: int = -1
    imports: int = -1
    exports: int = -1
    wildcards: bool = True
    disallow_bearer: bool = False
    conn: int = -1
    leaf: int = -1
    mem_storage: int = 0
    disk_storage: int = 0
    streams: int = 0
    consumer: int = 0
    max_ack_pending: int = 0
    mem_max_stream_bytes: int = 0
    disk_max_stream_bytes: int = 0
    max_bytes_required: bool = False
    tiered_limits: Mapping[str, JetStreamLimits] | None = None

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for name in ("subs", "data", "payload", "imports", "exports"):
            v = _int(getattr(self, name), name)
            if v:
                d[name] = v
        if self.wildcards:
            d["wildcards"] = True
        if self.disallow_bearer:
            d["disallow_bearer"] = True
        for name in ("conn", "leaf", *_JS_FIELDS):
            v = _int(getattr(self, name), name)
            if v:
                d[name] = v
        if self.max_bytes_required:
            d["max_bytes_required"] = True
        if self.tiered_limits:
            d["tiered_limits"] = {k: self.tiered_limits[k].to_json() for k in sorted(self.tiered_limits)}
        return d


@dataclass(frozen=True)
class ServiceLatency:
    """Export ``service_latency``; ``sampling`` 0 is written as ``"headers"``, else 1..100."""

    sampling: int
    results: str

    def to_json(self) -> dict[str, Any]:
        s = _int(self.sampling, "service_latency.sampling")
        if s == 0:
            sampling: int | str = "headers"
        elif 1 <= s <= 100:
            sampling = s
        else:
            raise NatsCodecError("service_latency.sampling must be 0 (headers) or 1..100")
        return {"sampling": sampling, "results": self.results}


_EXPORT_TYPES = ("stream", "service")
_RESPONSE_TYPES = ("", "Singleton", "Stream", "Chunked")


@dataclass(frozen=True)
class Export:
    """An account export. ``type`` is ``"stream"`` or ``"service"``."""

    subject: str
    type: str
    name: str = ""
    token_req: bool = False
    revocations: Mapping[str, int] | None = None
    response_type: str = ""
    response_threshold_seconds: int | float = 0
    service_latency: ServiceLatency | None = None
    account_token_position: int = 0
    advertise: bool = False
    allow_trace: bool = False
    description: str = ""
    info_url: str = ""

    def to_json(self) -> dict[str, Any]:
        if self.type not in _EXPORT_TYPES:
            raise NatsCodecError(f"export type must be 'stream' or 'service', got {self.type!r}")
        if self.response_type not in _RESPONSE_TYPES:
            raise NatsCodecError(
                f"export response_type must be Singleton, Stream or Chunked, got {self.response_type!r}"
            )
        d: dict[str, Any] = {}
        if self.name:
            d["name"] = self.name
        if self.subject:
            d["subject"] = self.subject
        d["type"] = self.type
        if self.token_req:
            d["token_req"] = True
        revs = _revocations(self.revocations)
        if revs:
            d["revocations"] = revs
        if self.response_type:
            d["response_type"] = self.response_type
        threshold = _seconds_to_ns(self.response_threshold_seconds, "response_threshold")
        if threshold:
            d["response_threshold"] = threshold
        if self.service_latency is not None:
            d["service_latency"] = self.service_latency.to_json()
        pos = _int(self.account_token_position, "account_token_position")
        if pos < 0:
            raise NatsCodecError("account_token_position must be >= 0")
        if pos:
            d["account_token_position"] = pos
        if self.advertise:
            d["advertise"] = True
        if self.allow_trace:
            d["allow_trace"] = True
        if self.description:
            d["description"] = self.description
        if self.info_url:
            d["info_url"] = self.info_url
        return d


@dataclass(frozen=True)
class Import:
    """An account import of another account's export (``account`` is the exporter's A-key)."""

    subject: str
    account: str
    type: str
    name: str = ""
    token: str = ""
    to: str = ""
    local_subject: str = ""
    share: bool = False
    allow_trace: bool = False

    def to_json(self) -> dict[str, Any]:
        if self.type not in _EXPORT_TYPES:
            raise NatsCodecError(f"import type must be 'stream' or 'service', got {self.type!r}")
        d: dict[str, Any] = {}
        if self.name:
            d["name"] = self.name
        if self.subject:
            d["subject"] = self.subject
        if self.account:
            d["account"] = self.account
        if self.token:
            d["token"] = self.token
        if self.to:
            d["to"] = self.to
        if self.local_subject:
            d["local_subject"] = self.local_subject
        d["type"] = self.type
        if self.share:
            d["share"] = True
        if self.allow_trace:
            d["allow_trace"] = True
        return d


@dataclass(frozen=True)
class ExternalAuthorization:
    """Account ``authorization`` (auth callout). Always written, ``{}`` when empty."""

    auth_users: Sequence[str] = ()
    allowed_accounts: Sequence[str] = ()
    xkey: str = ""

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        users = string_list(self.auth_users)
        if users:
            d["auth_users"] = users
        accounts = string_list(self.allowed_accounts)
        if accounts:
            d["allowed_accounts"] = accounts
        if self.xkey:
            d["xkey"] = self.xkey
        return d


# --------------------------------------------------------------------------------------------
# Claims
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Claims:
    """Registered JWT claims shared by every claim type.

    ``expires``/``not_before`` are unix seconds (0 = absent); ``iss``/``iat``/``jti`` are set by
    :func:`encode`.
    """

    subject: str = ""
    name: str = ""
    expires: int = 0
    not_before: int = 0
    audience: str = ""

    claim_type: ClassVar[str] = ""
    signer_kinds: ClassVar[tuple[str, ...] | None] = None
    subject_kind: ClassVar[str | None] = None

    def nats_json(self) -> dict[str, Any]:
        raise NotImplementedError


def _generic_fields(d: dict[str, Any], tags: Iterable[str] | None, claim_type: str) -> dict[str, Any]:
    t = _tag_list(tags)
    if t:
        d["tags"] = t
    d["type"] = claim_type
    d["version"] = 2
    return d


def _check_keys(keys: Iterable[str], kind: str, what: str) -> list[str]:
    out = string_list(keys)
    for k in out:
        try:
            _decode_public_key(k, kind)
        except NatsCodecError as exc:
            raise NatsCodecError(f"{what}: {exc}") from None
    return out


@dataclass(frozen=True, kw_only=True)
class OperatorClaims(_Claims):
    """Operator JWT (``sub`` = operator identity key; signed by an O-key)."""

    signing_keys: Sequence[str] = ()
    account_server_url: str = ""
    operator_service_urls: Sequence[str] = ()
    system_account: str = ""
    assert_server_version: str = ""
    strict_signing_key_usage: bool = False
    tags: Sequence[str] = ()

    claim_type: ClassVar[str] = "operator"
    signer_kinds: ClassVar[tuple[str, ...] | None] = (OPERATOR,)
    subject_kind: ClassVar[str | None] = OPERATOR

    def nats_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        keys = _check_keys(self.signing_keys, OPERATOR, "operator signing key")
        if keys:
            d["signing_keys"] = keys
        if self.account_server_url:
            d["account_server_url"] = self.account_server_url
        urls = string_list(self.operator_service_urls)
        if urls:
            d["operator_service_urls"] = urls
        if self.system_account:
            _decode_public_key(self.system_account, ACCOUNT)
            d["system_account"] = self.system_account
        if self.assert_server_version:
            d["assert_server_version"] = self.assert_server_version
        if self.strict_signing_key_usage:
            d["strict_signing_key_usage"] = True
        return _generic_fields(d, self.tags, "operator")


@dataclass(frozen=True, kw_only=True)
class AccountClaims(_Claims):
    """Account JWT (``sub`` = account identity A-key; signed by an operator O-key).

    Exports and imports are written sorted by subject (stable); signing keys sorted; revocations
    (public key or ``"*"`` -> unix seconds) sorted by key.
    """

    limits: AccountLimits = field(default_factory=AccountLimits)
    signing_keys: Sequence[str] = ()
    revocations: Mapping[str, int] | None = None
    exports: Sequence[Export] = ()
    imports: Sequence[Import] = ()
    default_permissions: Permissions = field(default_factory=Permissions)
    authorization: ExternalAuthorization = field(default_factory=ExternalAuthorization)
    cluster_traffic: str = ""
    description: str = ""
    info_url: str = ""
    tags: Sequence[str] = ()

    claim_type: ClassVar[str] = "account"
    signer_kinds: ClassVar[tuple[str, ...] | None] = (OPERATOR,)
    subject_kind: ClassVar[str | None] = ACCOUNT

    def with_revocation(self, public_key: str, at: int) -> AccountClaims:
        """Copy with ``public_key`` (or ``"*"``) revoked at ``at``; keeps the later timestamp (``RevokeAt``)."""
        revs = dict(self.revocations or {})
        revs[public_key] = max(revs.get(public_key, at), _int(at, "revocation time"))
        return replace(self, revocations=revs)

    def nats_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.imports:
            d["imports"] = [i.to_json() for i in sorted(self.imports, key=lambda i: i.subject)]
        if self.exports:
            d["exports"] = [e.to_json() for e in sorted(self.exports, key=lambda e: e.subject)]
        d["limits"] = self.limits.to_json()
        keys = sorted(_check_keys(self.signing_keys, ACCOUNT, "account signing key"))
        if keys:
            d["signing_keys"] = keys
        revs = _revocations(self.revocations)
        if revs:
            d["revocations"] = revs
        d["default_permissions"] = self.default_permissions.to_json()
        d["authorization"] = self.authorization.to_json()
        if self.cluster_traffic:
            if self.cluster_traffic not in ("system", "owner"):
                raise NatsCodecError("cluster_traffic must be 'system' or 'owner'")
            d["cluster_traffic"] = self.cluster_traffic
        if self.description:
            d["description"] = self.description
        if self.info_url:
            d["info_url"] = self.info_url
        return _generic_fields(d, self.tags, "account")


@dataclass(frozen=True, kw_only=True)
class UserClaims(_Claims):
    """User JWT (``sub`` = user U-key; signed by an account A-key, identity or signing key).

    When signed by an account signing key set ``issuer_account`` to the account identity key.
    ``subs``/``data``/``payload`` default to -1 (unlimited); 0 is omitted, which nats-server
    treats as "none allowed". ``resp`` ttl is given in seconds and written in nanoseconds.
    """

    pub_allow: Sequence[str] = ()
    pub_deny: Sequence[str] = ()
    sub_allow: Sequence[str] = ()
    sub_deny: Sequence[str] = ()
    resp: ResponsePermission | None = None
    src: Sequence[str] = ()
    times: Sequence[TimeRange] = ()
    times_location: str = ""
    subs: int = -1
    data: int = -1
    payload: int = -1
    bearer_token: bool = False
    proxy_required: bool = False
    allowed_connection_types: Sequence[str] = ()
    issuer_account: str = ""
    tags: Sequence[str] = ()

    claim_type: ClassVar[str] = "user"
    signer_kinds: ClassVar[tuple[str, ...] | None] = (ACCOUNT,)
    subject_kind: ClassVar[str | None] = USER

    def nats_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "pub": _permission(self.pub_allow, self.pub_deny),
            "sub": _permission(self.sub_allow, self.sub_deny),
        }
        if self.resp is not None:
            d["resp"] = self.resp.to_json()
        src = _tag_list(self.src)
        if src:
            d["src"] = src
        if self.times:
            d["times"] = [t.to_json() for t in self.times]
        if self.times_location:
            d["times_location"] = self.times_location
        if self.subs:
            d["subs"] = _int(self.subs, "subs")
        if self.data:
            d["data"] = _int(self.data, "data")
        if self.payload:
            d["payload"] = _int(self.payload, "payload")
        if self.bearer_token:
            d["bearer_token"] = True
        if self.proxy_required:
            d["proxy_required"] = True
        types = string_list(self.allowed_connection_types)
        if types:
            d["allowed_connection_types"] = types
        if self.issuer_account:
            _decode_public_key(self.issuer_account, ACCOUNT)
            d["issuer_account"] = self.issuer_account
        return _generic_fields(d, self.tags, "user")


@dataclass(frozen=True, kw_only=True)
class GenericClaims(_Claims):
    """Generic claim: free-form ``nats`` map (keys sorted, ``version: 2`` added, no ``type``).

    Used for ``$SYS.REQ.CLAIMS.DELETE`` (``{"accounts": [...]}``, ``sub`` == ``iss`` == operator key).
    Values must be JSON-compatible; integral floats are written as integers like Go does.
    """

    data: Mapping[str, Any] = field(default_factory=dict)

    claim_type: ClassVar[str] = "generic"

    def nats_json(self) -> dict[str, Any]:
        merged = dict(self.data)
        merged["version"] = 2
        return _generic_value(merged)


Claims = OperatorClaims | AccountClaims | UserClaims | GenericClaims


# --------------------------------------------------------------------------------------------
# JWT encode / decode
# --------------------------------------------------------------------------------------------

HEADER_B64 = "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ"  # {"typ":"JWT","alg":"ed25519-nkey"}
_HEADER_PREFIX = HEADER_B64 + "."
MAX_TOKEN_SIZE = 1024 * 1024


def _compute_jti(claims_data: dict[str, Any]) -> str:
    digest = hashlib.new("sha512_256", _utf8(go_json_dumps(claims_data))).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=")


def encode(claims: Claims, signer: KeyPair | str | bytes, iat: int | None = None) -> str:
    """Sign ``claims`` and return the JWT.

    ``signer`` is a :class:`KeyPair` or an ``S...`` seed. Allowed signer kinds: operator claims
    O, account claims O, user claims A, generic any. ``iat`` defaults to ``int(time.time())``.
    """
    if not isinstance(claims, _Claims):
        raise NatsCodecError(f"cannot encode {type(claims).__name__}")
    kp = _as_signer(signer)
    allowed = claims.signer_kinds
    if allowed is not None and kp.kind not in allowed:
        want = " or ".join(f"{_KIND_NAMES[k]} ({k}...)" for k in allowed)
        raise NatsCodecError(
            f"{claims.claim_type} claims must be signed by an {want} key, not a {_KIND_NAMES[kp.kind]} key"
        )
    subject = claims.subject
    if not subject:
        raise NatsCodecError("claims subject is not set")
    if claims.subject_kind is not None:
        _decode_public_key(subject, claims.subject_kind)
    elif not isinstance(subject, str):
        raise NatsCodecError("claims subject must be a string")
    if iat is None:
        iat = int(time.time())
    else:
        _int(iat, "iat")

    cd: dict[str, Any] = {}
    if claims.audience:
        cd["aud"] = claims.audience
    if claims.expires:
        cd["exp"] = _int(claims.expires, "expires")
    if iat:
        cd["iat"] = iat
    cd["iss"] = kp.public_key
    if claims.name:
        cd["name"] = claims.name
    if claims.not_before:
        cd["nbf"] = _int(claims.not_before, "not_before")
    cd["sub"] = subject
    jti = _compute_jti(cd)

    payload: dict[str, Any] = {}
    if claims.audience:
        payload["aud"] = claims.audience
    if claims.expires:
        payload["exp"] = claims.expires
    payload["jti"] = jti
    payload.update(cd)  # keys already present keep their position
    payload["nats"] = claims.nats_json()

    signing_input = _HEADER_PREFIX + _b64url(_utf8(go_json_dumps(payload)))
    signature = kp.sign(signing_input.encode("ascii"))
    return signing_input + "." + _b64url(signature)


# Kinds allowed to issue each claim type when decoding (Go ExpectedPrefixes).
_DECODE_ISSUER_KINDS: dict[str, tuple[str, ...]] = {
    "operator": (OPERATOR,),
    "account": (ACCOUNT, OPERATOR),
    "user": (ACCOUNT,),
    "activation": (ACCOUNT, OPERATOR),
}


def _json_part(text: str, what: str) -> dict[str, Any]:
    raw = _b64url_decode(text, what)
    try:
        obj = json.loads(raw)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise NatsCodecError(f"malformed token: {what} is not JSON") from exc
    if not isinstance(obj, dict):
        raise NatsCodecError(f"malformed token: {what} is not a JSON object")
    return obj


def _payload_claim_type(payload: Mapping[str, Any]) -> str:
    nats = payload.get("nats")
    if isinstance(payload.get("type"), str) and payload["type"]:  # jwt v1 layout
        return payload["type"]
    if isinstance(nats, Mapping) and isinstance(nats.get("type"), str) and nats["type"]:
        return nats["type"]
    return "generic"


def decode(token: str | bytes, verify: bool = True) -> dict[str, Any]:
    """Parse a NATS JWT and return its payload dict.

    Checks the header (``typ`` JWT in any case, ``alg`` ``ed25519-nkey``, or ``ed25519`` whose
    signature covers the payload part only). With ``verify`` the Ed25519 signature is checked
    against ``iss`` and the issuer kind against the claim type. Expiry is *not* checked; use
    :func:`claim_info`.
    """
    if isinstance(token, bytes | bytearray):
        try:
            token = bytes(token).decode("ascii")
        except UnicodeDecodeError:
            raise NatsCodecError("malformed token: not ASCII") from None
    if not isinstance(token, str):
        raise NatsCodecError(f"token must be str, got {type(token).__name__}")
    token = token.strip()
    if len(token) > MAX_TOKEN_SIZE:
        raise NatsCodecError(f"token size {len(token)} exceeds maximum of {MAX_TOKEN_SIZE} bytes")
    chunks = token.split(".")
    if len(chunks) != 3:
        raise NatsCodecError("malformed token: expected 3 dot-separated parts")
    h64, p64, s64 = chunks

    header = _json_part(h64, "header")
    typ, alg = header.get("typ"), header.get("alg")
    if not isinstance(typ, str) or typ.upper() != "JWT":
        raise NatsCodecError(f"unsupported token type {typ!r}")
    if not isinstance(alg, str) or alg.lower() not in ("ed25519", "ed25519-nkey"):
        raise NatsCodecError(f"unexpected algorithm {alg!r}")

    payload = _json_part(p64, "payload")
    nats = payload.get("nats")
    if isinstance(nats, dict):
        version = nats.get("version", 0)
        if isinstance(version, int | float) and version > 2:
            raise NatsCodecError("token was generated by a newer version of the JWT library")
    signature = _b64url_decode(s64, "signature")

    if verify:
        issuer = payload.get("iss")
        if not isinstance(issuer, str) or not issuer:
            raise NatsCodecError("token has no issuer")
        try:
            kind, raw_pub = _decode_public_key(issuer)
        except NatsCodecError as exc:
            raise NatsCodecError(f"token issuer is invalid: {exc}") from None
        signed = p64 if alg.lower() == "ed25519" else token[: len(h64) + len(p64) + 1]
        if not _verify(raw_pub, signed.encode("ascii"), signature):
            raise NatsCodecError("token signature verification failed")
        ctype = _payload_claim_type(payload)
        allowed = _DECODE_ISSUER_KINDS.get(ctype)
        if allowed is not None and kind not in allowed:
            raise NatsCodecError(f"{ctype} token issued by a {_KIND_NAMES[kind]} key is not allowed")
    return payload


@dataclass(frozen=True)
class ClaimInfo:
    """Summary of a decoded token. ``expires``/``not_before`` are 0 when absent."""

    claim_type: str
    subject: str
    issuer: str
    issued_at: int
    expires: int
    not_before: int
    name: str
    jti: str
    issuer_account: str

    def is_expired(self, now: int | None = None) -> bool:
        now = int(time.time()) if now is None else now
        return bool(self.expires) and now > self.expires


def claim_info(token_or_payload: str | bytes | Mapping[str, Any], verify: bool = True) -> ClaimInfo:
    """Type, subject, issuer, iat, exp... of a token (decoded and verified) or an already-decoded payload."""
    is_payload = isinstance(token_or_payload, Mapping)
    payload = token_or_payload if is_payload else decode(token_or_payload, verify=verify)
    nats = payload.get("nats")
    nats = nats if isinstance(nats, Mapping) else {}
    issuer_account = nats.get("issuer_account") or payload.get("issuer_account") or ""

    def num(key: str) -> int:
        v = payload.get(key) or 0
        return int(v) if isinstance(v, int | float) and not isinstance(v, bool) else 0

    def text(key: str) -> str:
        v = payload.get(key)
        return v if isinstance(v, str) else ""

    return ClaimInfo(
        claim_type=_payload_claim_type(payload),
        subject=text("sub"),
        issuer=text("iss"),
        issued_at=num("iat"),
        expires=num("exp"),
        not_before=num("nbf"),
        name=text("name"),
        jti=text("jti"),
        issuer_account=issuer_account if isinstance(issuer_account, str) else "",
    )


# --------------------------------------------------------------------------------------------
# .creds
# --------------------------------------------------------------------------------------------

_CREDS_TEMPLATE = (
    "-----BEGIN NATS USER JWT-----\n"
    "{jwt}\n"
    "------END NATS USER JWT------\n"
    "\n"
    "************************* IMPORTANT *************************\n"
    "NKEY Seed printed below can be used to sign and prove identity.\n"
    "NKEYs are sensitive and should be treated as secrets.\n"
    "\n"
    "-----BEGIN USER NKEY SEED-----\n"
    "{seed}\n"
    "------END USER NKEY SEED------\n"
    "\n"
    "*************************************************************\n"
)

# jwt.userConfigRE; Go's \s is [\t\n\f\r ], \w is ASCII, \z is Python's \Z.
_CREDS_RE = re.compile(
    r"[\t\n\f\r ]*(?:(?:-{3,}.*-{3,}\r?\n)([\w\-.=]+)(?:\r?\n-{3,}.*-{3,}(\r?\n|\Z)))",
    re.ASCII,
)


def format_user_creds(jwt: str, seed: str | bytes | KeyPair, verify: bool = True) -> str:
    """Return the exact ``.creds`` text (Go ``FormatUserConfig``).

    Refuses a token that is not a user JWT, a seed that is not a user (``SU``) seed, and a seed
    whose public key differs from the JWT ``sub``. ``verify`` also checks the token signature.
    """
    kp = seed if isinstance(seed, KeyPair) else keypair_from_seed(seed)
    if kp.kind != USER:
        raise NatsCodecError("nkey seed is not a user seed (SU...)")
    if not isinstance(jwt, str):
        raise NatsCodecError("jwt must be a string")
    jwt = jwt.strip()
    payload = decode(jwt, verify=verify)
    ctype = _payload_claim_type(payload)
    if ctype != "user":
        raise NatsCodecError(f"{ctype!r} token cannot be serialized as a user config")
    if payload.get("sub") != kp.public_key:
        raise NatsCodecError("nkey seed does not match the JWT subject")
    return _CREDS_TEMPLATE.format(jwt=jwt, seed=kp.seed)


def parse_creds(text: str | bytes) -> tuple[str, str]:
    """Extract ``(jwt, seed)`` from a ``.creds`` file: the first and second decorated blocks.

    The seed must be a valid user seed; the JWT is returned as-is (use :func:`decode`).
    """
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        raise NatsCodecError("creds must be str or bytes")
    matches = [m.group(1) for m in _CREDS_RE.finditer(text)]
    if len(matches) < 2:
        raise NatsCodecError("creds file must contain a decorated JWT and a decorated user seed")
    jwt, seed = matches[0], matches[1]
    if jwt.count(".") != 2:
        raise NatsCodecError("creds file: first block is not a JWT")
    validate_seed(seed, USER)
    return jwt, seed


@dataclass(frozen=True)
class MintedUser:
    keypair: KeyPair
    jwt: str
    creds: str = field(repr=False)  # holds the seed

    @property
    def public_key(self) -> str:
        return self.keypair.public_key

    @property
    def seed(self) -> str:
        return self.keypair.seed


def mint_user_credentials(
    claims: UserClaims,
    signer: KeyPair | str | bytes,
    *,
    user_key: KeyPair | None = None,
    iat: int | None = None,
) -> MintedUser:
    """Generate (or use ``user_key``) a user key, issue its JWT and ``.creds`` in one pass.

    ``claims.subject`` is replaced by the user's public key. No re-verification is done since the
    token was just signed here.
    """
    if user_key is None:
        user_key = create_user()
    elif user_key.kind != USER:
        raise NatsCodecError("user_key must be a user (U) key pair")
    if claims.subject != user_key.public_key:
        claims = replace(claims, subject=user_key.public_key)
    token = encode(claims, signer, iat)
    return MintedUser(user_key, token, _CREDS_TEMPLATE.format(jwt=token, seed=user_key.seed))


# --------------------------------------------------------------------------------------------
# Helpers for the product
# --------------------------------------------------------------------------------------------

SYS_ACCOUNT_INFO_URL = "https://docs.nats.io/nats-server/configuration/sys_accounts"


def system_account_claims(
    subject: str,
    signing_keys: Sequence[str] = (),
    revocations: Mapping[str, int] | None = None,
    name: str = "SYS",
) -> AccountClaims:
    """SYS account claims as pb-nats ``GenerateSystemAccountJWT`` builds them.

    Two monitoring exports, NATS limits -1, JetStream disabled (a server refuses a JetStream-enabled
    system account).
    """
    exports = (
        Export(
            name="account-monitoring-services",
            subject="$SYS.REQ.ACCOUNT.*.*",
            type="service",
            response_type="Stream",
            account_token_position=4,
            description="Request account specific monitoring services for: SUBSZ, CONNZ, LEAFZ, JSZ and INFO",
            info_url=SYS_ACCOUNT_INFO_URL,
        ),
        Export(
            name="account-monitoring-streams",
            subject="$SYS.ACCOUNT.*.>",
            type="stream",
            account_token_position=3,
            description="Account specific monitoring stream",
            info_url=SYS_ACCOUNT_INFO_URL,
        ),
    )
    return AccountClaims(
        subject=subject,
        name=name,
        limits=AccountLimits(),
        signing_keys=tuple(signing_keys),
        revocations=dict(revocations) if revocations else None,
        exports=exports,
    )


def account_delete_claims(operator_public_key: str, accounts: Iterable[str]) -> GenericClaims:
    """Generic claim for ``$SYS.REQ.CLAIMS.DELETE``; sign it with the operator key whose public key is
    ``operator_public_key`` (the server requires ``sub == iss``)."""
    _decode_public_key(operator_public_key, OPERATOR)
    accs = string_list(accounts)
    if not accs:
        raise NatsCodecError("at least one account is required")
    for a in accs:
        _decode_public_key(a, ACCOUNT)
    return GenericClaims(subject=operator_public_key, data={"accounts": accs})


_NAME_DROP_RE = re.compile(r"[^a-z0-9_]")


def normalize_account_name(name: str) -> str:
    """pb-nats ``NormalizeName``: lowercase, space/'-' -> '_', drop chars outside [a-z0-9_]."""
    out = _NAME_DROP_RE.sub("", (name or "").lower().replace(" ", "_").replace("-", "_"))
    return out or "unnamed_account"


def validate_subject(subject: str, allow_wildcards: bool = True) -> str:
    """Validate NATS subject syntax and return it unchanged.

    Non-empty dot-separated tokens; no empty token; no whitespace or control characters; ``*`` only
    as a whole token; ``>`` only as the whole last token. With ``allow_wildcards=False`` neither
    wildcard is accepted.
    """
    if not isinstance(subject, str):
        raise NatsCodecError("subject must be a string")
    if not subject:
        raise NatsCodecError("subject cannot be empty")
    for ch in subject:
        if ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise NatsCodecError(f"subject {subject!r} cannot contain whitespace or control characters")
    tokens = subject.split(".")
    last = len(tokens) - 1
    for i, tok in enumerate(tokens):
        if not tok:
            raise NatsCodecError(f"subject {subject!r} has an empty token (leading, trailing or double '.')")
        if tok == "*" or tok == ">":
            if not allow_wildcards:
                raise NatsCodecError(f"subject {subject!r} cannot contain wildcards")
            if tok == ">" and i != last:
                raise NatsCodecError(f"subject {subject!r}: '>' is only allowed as the last token")
        elif "*" in tok or ">" in tok:
            raise NatsCodecError(f"subject {subject!r}: wildcards '*' and '>' must be whole tokens")
    return subject
