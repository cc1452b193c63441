"""NATS nkeys, JWT claims and ``.creds`` codec (no Django).

Writes what Go ``nats-io/jwt`` v2 writes, byte for byte, on well-kept libraries:

* nkeys (seeds, public keys, CRC-16, signing) come from ``nkeys``, which decodes a seed without checking its
  CRC and cannot verify with a public key alone: the CRC check is done here with ``nkeys.crc16_checksum`` and
  signatures are verified with PyNaCl, the library ``nkeys`` signs with.
* Tokens are PyJWT's (``PyJWS``), with an ``ed25519-nkey`` algorithm registered on an instance of our own.
  The payload is serialized here with Go ``encoding/json`` rules (struct field order, sorted map keys,
  omitempty, HTML escaping): byte equality with Go depends on it.
* ``jti``: SHA-512/256 over the JSON of the registered claims only, base32 unpadded.
* ``.creds``: the exact text of ``jwt.FormatUserConfig``.

Only the claims the platform issues are modelled. The codec encodes exactly what it is given: it never
substitutes default permissions. Nothing secret is cached: a key pair lives as long as its caller holds it.
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
from typing import Any, ClassVar, NoReturn

import jwt as pyjwt
import nacl.exceptions
import nacl.signing
import nkeys

__all__ = [
    "ACCOUNT",
    "ALGORITHM",
    "OPERATOR",
    "USER",
    "AccountClaims",
    "AccountDeleteClaims",
    "AccountLimits",
    "Claims",
    "Export",
    "Import",
    "KeyPair",
    "MintedUser",
    "NatsCodecError",
    "OperatorClaims",
    "ResponsePermission",
    "ScopedSigningKey",
    "UserClaims",
    "UserPermissionLimits",
    "account_delete_claims",
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
    "string_list",
    "system_account_claims",
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

_PREFIX_BY_KIND: dict[str, int] = {
    OPERATOR: nkeys.PREFIX_BYTE_OPERATOR,
    ACCOUNT: nkeys.PREFIX_BYTE_ACCOUNT,
    USER: nkeys.PREFIX_BYTE_USER,
}
_KIND_BY_PREFIX: dict[int, str] = {v: k for k, v in _PREFIX_BY_KIND.items()}
_KIND_NAMES = {OPERATOR: "operator", ACCOUNT: "account", USER: "user"}

_PUBLIC_KEY_LEN = 56  # base32 of 1 + 32 + 2 bytes
_SEED_LEN = 58  # base32 of 2 + 32 + 2 bytes


def _as_text(value: str | bytes, what: str) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            value = bytes(value).decode("ascii")
        except UnicodeDecodeError:
            raise NatsCodecError(f"invalid {what}: not ASCII") from None
    if not isinstance(value, str):
        raise NatsCodecError(f"invalid {what}: expected str or bytes, got {type(value).__name__}")
    return value.strip()


def _checked_body(text: str, length: int, what: str) -> bytes:
    """The bytes of an encoded nkey without its CRC-16, after checking length, base32 and the CRC."""
    if len(text) != length:
        raise NatsCodecError(f"invalid {what}: expected {length} characters, got {len(text)}")
    try:
        raw = base64.b32decode(text + "=" * (-length % 8))
    except (binascii.Error, ValueError):
        raise NatsCodecError(f"invalid {what}: not base32 (A-Z, 2-7)") from None
    if nkeys.crc16_checksum(raw[:-2]) != raw[-2:]:
        raise NatsCodecError(f"invalid {what}: checksum mismatch")
    return raw[:-2]


def _kind_error(kind: str, actual: str, what: str) -> NatsCodecError:
    return NatsCodecError(f"expected {_KIND_NAMES[kind]} {what} ({kind}...), got {_KIND_NAMES[actual]} {what}")


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind not in _PREFIX_BY_KIND:
        raise NatsCodecError(f"unknown key kind {kind!r}; expected one of O, A, U")


def _decode_public_key(key: str | bytes, kind: str | None = None) -> tuple[str, bytes]:
    """``(kind, raw 32-byte ed25519 public key)`` of an O/A/U public key, after full validation."""
    text = _as_text(key, "public key")
    body = _checked_body(text, _PUBLIC_KEY_LEN, "public key")
    actual = _KIND_BY_PREFIX.get(body[0])
    if actual is None:
        raise NatsCodecError(f"invalid public key: not an operator, account or user key ({text[0]}...)")
    if kind is not None and actual != kind:
        raise _kind_error(kind, actual, "public key")
    return actual, body[1:]


_KEY_FORM = re.compile(r"[A-Z2-7]{56}")


def _claim_key(key: Any, kind: str, what: str) -> str:
    """A public key named in claims, checked for its kind and form only: the keys the platform names are ones
    nkeys made, and checking their CRC would cost a pure-Python base32 decode per key per token."""
    if not isinstance(key, str) or not _KEY_FORM.fullmatch(key):
        raise NatsCodecError(f"{what} is not a public key ({_PUBLIC_KEY_LEN} characters A-Z, 2-7)")
    if key[0] != kind:
        raise NatsCodecError(f"{what}: expected {_KIND_NAMES[kind]} public key ({kind}...), got {key[:8]}...")
    return key


def is_valid_public_key(key: Any, kind: str | None = None) -> bool:
    """Whether ``key`` is an operator, account or user public key (of ``kind`` when given)."""
    _check_kind(kind)
    try:
        _decode_public_key(key, kind)
    except NatsCodecError:
        return False
    return True


def verify_signature(public_key: str, message: bytes, signature: bytes) -> bool:
    """Whether `signature` is the Ed25519 signature of `message` by the nkey `public_key` (e.g. a signed nonce)."""
    try:
        nacl.signing.VerifyKey(_decode_public_key(public_key)[1]).verify(message, signature)
    except (NatsCodecError, nacl.exceptions.BadSignatureError, ValueError, TypeError):
        return False
    return True


def _decode_seed(text: str) -> tuple[str, bytes]:
    """``(kind, raw 32-byte ed25519 seed)`` of an O/A/U seed, CRC checked; errors never echo the seed."""
    _checked_body(text, _SEED_LEN, "seed")
    try:
        prefix, raw = nkeys.decode_seed(text.encode("ascii"))
    except nkeys.NkeysError:
        raise NatsCodecError("invalid seed: not an nkey seed") from None
    if prefix not in _KIND_BY_PREFIX:
        raise NatsCodecError("invalid seed: not an operator, account or user seed")
    return _KIND_BY_PREFIX[prefix], raw


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An ``nkeys`` key pair with its kind and text forms. ``seed`` is secret and kept out of ``repr``."""

    kind: str
    public_key: str
    seed: str = field(repr=False)
    nkey: nkeys.KeyPair = field(repr=False, compare=False)

    def sign(self, data: bytes) -> bytes:
        """Detached 64-byte Ed25519 signature."""
        return self.nkey.sign(data)


def _keypair(kind: str, seed: bytes, raw: bytes) -> KeyPair:
    # nkeys.from_seed(seed) without decoding the seed again.
    nkey = nkeys.KeyPair(seed=seed, keys=nacl.signing.SigningKey(raw))
    return KeyPair(kind=kind, public_key=nkey.public_key.decode("ascii"), seed=seed.decode("ascii"), nkey=nkey)


def create_keypair(kind: str) -> KeyPair:
    """A new key pair of ``kind`` (``"O"``, ``"A"`` or ``"U"``)."""
    _check_kind(kind)
    raw = os.urandom(32)
    return _keypair(kind, nkeys.encode_seed(raw, _PREFIX_BY_KIND[kind]), raw)


def create_operator() -> KeyPair:
    return create_keypair(OPERATOR)


def create_account() -> KeyPair:
    return create_keypair(ACCOUNT)


def create_user() -> KeyPair:
    return create_keypair(USER)


def keypair_from_seed(seed: str | bytes, kind: str | None = None) -> KeyPair:
    """The key pair of an ``S...`` seed; ``kind`` (``"O"``/``"A"``/``"U"``) is checked when given."""
    _check_kind(kind)
    text = _as_text(seed, "seed")
    actual, raw = _decode_seed(text)
    if kind is not None and actual != kind:
        raise _kind_error(kind, actual, "seed")
    return _keypair(actual, text.encode("ascii"), raw)


# --------------------------------------------------------------------------------------------
# Go encoding/json
# --------------------------------------------------------------------------------------------

_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False, allow_nan=False)
_GO_ESCAPES = (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029"))


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
    for char, escaped in _GO_ESCAPES:
        if char in s:
            s = s.replace(char, escaped)
    return s


def _utf8(s: str) -> bytes:
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NatsCodecError("claims contain a lone surrogate (not valid UTF-8)") from exc


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


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NatsCodecError(f"{name} must be an int, got {type(value).__name__}")
    return value


def _seconds_to_ns(value: int | float, name: str) -> int:
    """Go ``time.Duration``: seconds given here, nanoseconds on the wire."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NatsCodecError(f"{name} must be a number of seconds")
    if isinstance(value, int):
        return value * 1_000_000_000
    return round(value * 1_000_000_000)


def _omitempty(*members: tuple[str, Any]) -> dict[str, Any]:
    """Go ``omitempty``: members that are "", 0, false or empty are not written."""
    return {name: value for name, value in members if value}


def _omit_zero(d: dict[str, Any], source: object, names: Iterable[str]) -> None:
    d.update(_omitempty(*((name, _int(getattr(source, name), name)) for name in names)))


def _permission(allow: Iterable[str] | None, deny: Iterable[str] | None) -> dict[str, list[str]]:
    return _omitempty(("allow", string_list(allow)), ("deny", string_list(deny)))


def _claim_keys(keys: Iterable[str], kind: str, what: str) -> list[str]:
    return [_claim_key(k, kind, what) for k in string_list(keys)]


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


@dataclass(frozen=True, kw_only=True)
class UserPermissionLimits:
    """Go ``UserPermissionLimits``: what a user JWT grants, and the ``template`` of a scoped signing key.

    ``pub`` and ``sub`` are always written (``{}`` when empty), ``resp`` only when set; ``subs``/``data``/
    ``payload`` default to -1 (unlimited) and 0 is omitted, which nats-server reads as "none allowed".
    """

    pub_allow: Sequence[str] = ()
    pub_deny: Sequence[str] = ()
    sub_allow: Sequence[str] = ()
    sub_deny: Sequence[str] = ()
    resp: ResponsePermission | None = None
    subs: int = -1
    data: int = -1
    payload: int = -1
    bearer_token: bool = False
    #: Go ``AllowedConnectionTypes`` (``STANDARD``, ``WEBSOCKET``, ``MQTT``, ``LEAFNODE``...); empty = any.
    allowed_connection_types: Sequence[str] = ()

    def to_json(self) -> dict[str, Any]:
        # Go order: pub, sub, resp, src, times, times_location, subs, data, payload, bearer_token, allowed_...
        d: dict[str, Any] = {
            "pub": _permission(self.pub_allow, self.pub_deny),
            "sub": _permission(self.sub_allow, self.sub_deny),
        }
        if self.resp is not None:
            d["resp"] = self.resp.to_json()
        _omit_zero(d, self, ("subs", "data", "payload"))
        if self.bearer_token:
            d["bearer_token"] = True
        if self.allowed_connection_types:
            d["allowed_connection_types"] = string_list(self.allowed_connection_types)
        return d


_NO_PERMISSION_LIMITS = UserPermissionLimits().to_json()


@dataclass(frozen=True, kw_only=True)
class ScopedSigningKey:
    """An account signing key with a ``user_scope``: every user it signs gets the ``template``'s permissions and
    limits, expanded at connect by nats-server (``{{name()}}``, ``{{tag(x)}}``...), and must carry none itself.

    Written as Go ``UserScope``: ``{"kind":"user_scope","key":…,"role":…,"template":{…},"description":…}``,
    ``role`` and ``description`` always present (no ``omitempty`` in Go).
    """

    key: str
    role: str = ""
    template: UserPermissionLimits = field(default_factory=UserPermissionLimits)
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "user_scope",
            "key": _claim_key(self.key, ACCOUNT, "account signing key"),
            "role": self.role,
            "template": self.template.to_json(),
            "description": self.description,
        }


@dataclass(frozen=True)
class AccountLimits:
    """Account ``limits``: -1 is unlimited, 0 is not written (for JetStream: disabled). Imports, exports and
    wildcard subscriptions are never limited."""

    subs: int = -1
    data: int = -1
    payload: int = -1
    conn: int = -1
    leaf: int = -1
    mem_storage: int = 0
    disk_storage: int = 0
    streams: int = 0
    consumer: int = 0

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        _omit_zero(d, self, ("subs", "data", "payload"))
        d.update(imports=-1, exports=-1, wildcards=True)
        _omit_zero(d, self, ("conn", "leaf", "mem_storage", "disk_storage", "streams", "consumer"))
        return d


_EXPORT_TYPES = ("stream", "service")
_RESPONSE_TYPES = ("", "Singleton", "Stream", "Chunked")


@dataclass(frozen=True)
class Export:
    """An account export. ``type`` is ``"stream"`` or ``"service"``."""

    subject: str
    type: str
    name: str = ""
    token_req: bool = False
    response_type: str = ""
    response_threshold_seconds: int | float = 0
    account_token_position: int = 0
    advertise: bool = False
    description: str = ""
    info_url: str = ""

    def to_json(self) -> dict[str, Any]:
        if self.type not in _EXPORT_TYPES:
            raise NatsCodecError(f"export type must be 'stream' or 'service', got {self.type!r}")
        if self.response_type not in _RESPONSE_TYPES:
            raise NatsCodecError(
                f"export response_type must be Singleton, Stream or Chunked, got {self.response_type!r}"
            )
        pos = _int(self.account_token_position, "account_token_position")
        if pos < 0:
            raise NatsCodecError("account_token_position must be >= 0")
        return _omitempty(
            ("name", self.name),
            ("subject", self.subject),
            ("type", self.type),
            ("token_req", self.token_req),
            ("response_type", self.response_type),
            ("response_threshold", _seconds_to_ns(self.response_threshold_seconds, "response_threshold")),
            ("account_token_position", pos),
            ("advertise", self.advertise),
            ("description", self.description),
            ("info_url", self.info_url),
        )


@dataclass(frozen=True)
class Import:
    """An account import of another account's export (``account`` is the exporter's A-key)."""

    subject: str
    account: str
    type: str
    name: str = ""
    token: str = ""
    local_subject: str = ""
    share: bool = False

    def to_json(self) -> dict[str, Any]:
        if self.type not in _EXPORT_TYPES:
            raise NatsCodecError(f"import type must be 'stream' or 'service', got {self.type!r}")
        return _omitempty(
            ("name", self.name),
            ("subject", self.subject),
            ("account", self.account),
            ("token", self.token),
            ("local_subject", self.local_subject),
            ("type", self.type),
            ("share", self.share),
        )


# --------------------------------------------------------------------------------------------
# Claims
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class _Claims:
    """Registered JWT claims shared by every claim type.

    ``expires`` is unix seconds (0 = none); ``iss``/``iat``/``jti`` are set by :func:`encode`.
    """

    subject: str = ""
    name: str = ""
    expires: int = 0

    claim_type: ClassVar[str] = ""
    signer_kinds: ClassVar[tuple[str, ...]] = ()
    subject_kind: ClassVar[str] = ""

    def nats_json(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class OperatorClaims(_Claims):
    """Operator JWT (``sub`` = operator identity key; signed by an O-key)."""

    signing_keys: Sequence[str] = ()
    system_account: str = ""

    claim_type: ClassVar[str] = "operator"
    signer_kinds: ClassVar[tuple[str, ...]] = (OPERATOR,)
    subject_kind: ClassVar[str] = OPERATOR

    def nats_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        keys = _claim_keys(self.signing_keys, OPERATOR, "operator signing key")
        if keys:
            d["signing_keys"] = keys
        if self.system_account:
            d["system_account"] = _claim_key(self.system_account, ACCOUNT, "system account")
        d.update(type="operator", version=2)
        return d


@dataclass(frozen=True, kw_only=True)
class AccountClaims(_Claims):
    """Account JWT (``sub`` = account identity A-key; signed by an operator O-key).

    Exports and imports are written sorted by subject (stable); signing keys (public keys, or
    :class:`ScopedSigningKey` written as objects) sorted by key as Go sorts its map; revocations
    (public key or ``"*"`` -> unix seconds) sorted by key. ``default_permissions`` and ``authorization``
    are written empty, as Go writes them when unset.
    """

    limits: AccountLimits = field(default_factory=AccountLimits)
    signing_keys: Sequence[str | ScopedSigningKey] = ()
    revocations: Mapping[str, int] | None = None
    exports: Sequence[Export] = ()
    imports: Sequence[Import] = ()

    claim_type: ClassVar[str] = "account"
    signer_kinds: ClassVar[tuple[str, ...]] = (OPERATOR,)
    subject_kind: ClassVar[str] = ACCOUNT

    def nats_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.imports:
            d["imports"] = [i.to_json() for i in sorted(self.imports, key=lambda i: i.subject)]
        if self.exports:
            d["exports"] = [e.to_json() for e in sorted(self.exports, key=lambda e: e.subject)]
        d["limits"] = self.limits.to_json()
        keys = _account_signing_keys(self.signing_keys)
        if keys:
            d["signing_keys"] = keys
        revs = self.revocations or {}
        if revs:
            d["revocations"] = {k: _int(revs[k], f"revocation of {k}") for k in sorted(revs)}
        d.update(default_permissions={"pub": {}, "sub": {}}, authorization={}, type="account", version=2)
        return d


def _account_signing_keys(keys: Sequence[str | ScopedSigningKey]) -> list[str | dict[str, Any]]:
    """Go ``SigningKeys`` (a map by key): one entry per key, sorted by key; a key listed twice must not be
    given two different scopes."""
    if isinstance(keys, str):
        raise NatsCodecError("expected a list of signing keys, got a single string")
    by_key: dict[str, str | ScopedSigningKey] = {}
    for entry in keys:
        if isinstance(entry, ScopedSigningKey):
            key = entry.key
        elif isinstance(entry, str):
            if not entry:
                continue
            key = entry
        else:
            raise NatsCodecError(f"account signing key must be a public key or a scoped key, got {entry!r}")
        _claim_key(key, ACCOUNT, "account signing key")
        if key in by_key and by_key[key] != entry:
            raise NatsCodecError(f"account signing key {key[:8]}... is listed twice with different scopes")
        by_key[key] = entry
    return [
        entry.to_json() if isinstance(entry, ScopedSigningKey) else entry
        for _, entry in sorted(by_key.items(), key=lambda item: item[0])
    ]


@dataclass(frozen=True, kw_only=True)
class UserClaims(_Claims):
    """User JWT (``sub`` = user U-key; signed by an account A-key, identity or signing key).

    When signed by an account signing key set ``issuer_account`` to the account identity key.
    ``subs``/``data``/``payload`` default to -1 (unlimited); 0 is omitted, which nats-server
    treats as "none allowed". ``resp`` ttl is given in seconds and written in nanoseconds.

    ``scoped``: the user is signed by a :class:`ScopedSigningKey`, whose template grants everything, so the
    JWT carries no permissions and no limits (Go ``SetScoped(true)``: ``pub``/``sub`` written empty, no
    ``resp``, ``subs``, ``data``, ``payload``, ``bearer_token``); nats-server refuses a scoped user with any.
    Leave the permission and limit fields at their defaults then. ``tags`` are written as given
    (deduplicated), e.g. ``["thing:s-01", "location:hq"]`` for ``{{tag(thing)}}`` in a scope template.
    """

    pub_allow: Sequence[str] = ()
    pub_deny: Sequence[str] = ()
    sub_allow: Sequence[str] = ()
    sub_deny: Sequence[str] = ()
    resp: ResponsePermission | None = None
    subs: int = -1
    data: int = -1
    payload: int = -1
    bearer_token: bool = False
    allowed_connection_types: Sequence[str] = ()
    issuer_account: str = ""
    scoped: bool = False
    tags: Sequence[str] = ()

    claim_type: ClassVar[str] = "user"
    signer_kinds: ClassVar[tuple[str, ...]] = (ACCOUNT,)
    subject_kind: ClassVar[str] = USER

    _PERMISSION_FIELDS: ClassVar[tuple[str, ...]] = (
        "pub_allow", "pub_deny", "sub_allow", "sub_deny", "resp", "subs", "data", "payload", "bearer_token",
        "allowed_connection_types",
    )  # fmt: skip

    def permission_limits(self) -> UserPermissionLimits:
        return UserPermissionLimits(**{name: getattr(self, name) for name in self._PERMISSION_FIELDS})

    def nats_json(self) -> dict[str, Any]:
        if self.scoped:
            if self.permission_limits().to_json() != _NO_PERMISSION_LIMITS:
                raise NatsCodecError("a user of a scoped signing key carries no permissions or limits of its own")
            d: dict[str, Any] = {"pub": {}, "sub": {}}
        else:
            d = self.permission_limits().to_json()
        if self.issuer_account:
            d["issuer_account"] = _claim_key(self.issuer_account, ACCOUNT, "issuer account")
        tags = string_list(self.tags)
        if tags:
            d["tags"] = tags
        d.update(type="user", version=2)
        return d


@dataclass(frozen=True, kw_only=True)
class AccountDeleteClaims(_Claims):
    """Generic claim for ``$SYS.REQ.CLAIMS.DELETE``: ``{"accounts": [...], "version": 2}``, no ``type``.
    Build it with :func:`account_delete_claims`."""

    accounts: Sequence[str] = ()

    claim_type: ClassVar[str] = "generic"
    signer_kinds: ClassVar[tuple[str, ...]] = (OPERATOR,)
    subject_kind: ClassVar[str] = OPERATOR

    def nats_json(self) -> dict[str, Any]:
        return {"accounts": list(self.accounts), "version": 2}


Claims = OperatorClaims | AccountClaims | UserClaims | AccountDeleteClaims


# --------------------------------------------------------------------------------------------
# JWT encode / decode (PyJWT)
# --------------------------------------------------------------------------------------------

ALGORITHM = "ed25519-nkey"


class _NkeyAlgorithm(pyjwt.algorithms.Algorithm):
    """``ed25519-nkey``: Ed25519 over ``header.payload``. Signs with the issuer's ``nkeys`` key pair and
    verifies against the issuer's public key (with PyNaCl: ``nkeys`` needs a seed to verify)."""

    def prepare_key(self, key: KeyPair | str) -> nkeys.KeyPair | nacl.signing.VerifyKey:
        if isinstance(key, KeyPair):
            return key.nkey
        return nacl.signing.VerifyKey(_decode_public_key(key)[1])

    def sign(self, msg: bytes, key: nkeys.KeyPair) -> bytes:
        return key.sign(msg)

    def verify(self, msg: bytes, key: nacl.signing.VerifyKey, sig: bytes) -> bool:
        try:
            key.verify(msg, sig)
        except (nacl.exceptions.BadSignatureError, ValueError):
            return False
        return True

    @staticmethod
    def to_jwk(key_obj: Any, as_dict: bool = False) -> NoReturn:
        raise NotImplementedError("nkeys have no JWK form")

    @staticmethod
    def from_jwk(jwk: Any) -> NoReturn:
        raise NotImplementedError("nkeys have no JWK form")


_JWS = pyjwt.PyJWS(algorithms=[])
_JWS.register_algorithm(ALGORITHM, _NkeyAlgorithm())


def _compute_jti(registered: dict[str, Any]) -> str:
    digest = hashlib.new("sha512_256", _utf8(go_json_dumps(registered))).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=")


def encode(claims: Claims, signer: KeyPair | str | bytes, iat: int | None = None) -> str:
    """Sign ``claims`` and return the JWT.

    ``signer`` is a :class:`KeyPair` or an ``S...`` seed: an operator key for operator, account and
    account-delete claims, an account key for user claims. ``iat`` defaults to ``int(time.time())``.
    """
    if not isinstance(claims, _Claims):
        raise NatsCodecError(f"cannot encode {type(claims).__name__}")
    kp = signer if isinstance(signer, KeyPair) else keypair_from_seed(signer)
    if kp.kind not in claims.signer_kinds:
        want = " or ".join(f"{_KIND_NAMES[k]} ({k}...)" for k in claims.signer_kinds)
        raise NatsCodecError(
            f"{claims.claim_type} claims must be signed by an {want} key, not a {_KIND_NAMES[kp.kind]} key"
        )
    if not claims.subject:
        raise NatsCodecError("claims subject is not set")
    _claim_key(claims.subject, claims.subject_kind, "claims subject")
    iat = int(time.time()) if iat is None else _int(iat, "iat")

    # Go ClaimsData order: aud, exp, jti, iat, iss, name, nbf, sub; the jti covers the others only.
    registered: dict[str, Any] = {}
    if claims.expires:
        registered["exp"] = _int(claims.expires, "expires")
    if iat:
        registered["iat"] = iat
    registered["iss"] = kp.public_key
    if claims.name:
        registered["name"] = claims.name
    registered["sub"] = claims.subject
    payload: dict[str, Any] = {"exp": registered["exp"]} if claims.expires else {}
    payload["jti"] = _compute_jti(registered)
    payload.update(registered)  # keys already present keep their position
    payload["nats"] = claims.nats_json()
    return _JWS.encode(_utf8(go_json_dumps(payload)), kp, algorithm=ALGORITHM, sort_headers=False)


# Kinds allowed to issue each claim type (Go ExpectedPrefixes).
_ISSUER_KINDS: dict[str, tuple[str, ...]] = {
    "operator": (OPERATOR,),
    "account": (ACCOUNT, OPERATOR),
    "user": (ACCOUNT,),
}


def _claim_type(payload: Mapping[str, Any]) -> str:
    nats = payload.get("nats")
    if isinstance(nats, Mapping) and isinstance(nats.get("type"), str) and nats["type"]:
        return nats["type"]
    return "generic"


def decode(token: str | bytes, verify: bool = True) -> dict[str, Any]:
    """Parse a NATS JWT and return its payload dict.

    Checks the header (``typ`` JWT, ``alg`` ``ed25519-nkey``). With ``verify`` the signature is checked
    against ``iss`` and the issuer kind against the claim type. Expiry is *not* checked.
    """
    if not isinstance(token, str | bytes):
        raise NatsCodecError(f"token must be str, got {type(token).__name__}")
    try:
        token = _as_text(token, "token")
        parts = _JWS.decode_complete(token, options={"verify_signature": False})
        payload = json.loads(parts["payload"])
    except (pyjwt.PyJWTError, NatsCodecError) as exc:
        raise NatsCodecError(f"malformed token: {exc}") from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        raise NatsCodecError("malformed token: payload is not JSON") from None
    header = parts["header"]
    typ, alg = header.get("typ"), header.get("alg")
    if not isinstance(typ, str) or typ.upper() != "JWT":
        raise NatsCodecError(f"unsupported token type {typ!r}")
    if alg != ALGORITHM:
        raise NatsCodecError(f"unexpected algorithm {alg!r}")
    if not isinstance(payload, dict):
        raise NatsCodecError("malformed token: payload is not a JSON object")
    if verify:
        issuer = payload.get("iss")
        if not isinstance(issuer, str) or not issuer:
            raise NatsCodecError("token has no issuer")
        try:
            kind, _ = _decode_public_key(issuer)
        except NatsCodecError as exc:
            raise NatsCodecError(f"token issuer is invalid: {exc}") from None
        try:
            _JWS.decode(token, key=issuer, algorithms=[ALGORITHM])
        except pyjwt.PyJWTError:
            raise NatsCodecError("token signature verification failed") from None
        ctype = _claim_type(payload)
        allowed = _ISSUER_KINDS.get(ctype)
        if allowed is not None and kind not in allowed:
            raise NatsCodecError(f"{ctype} token issued by a {_KIND_NAMES[kind]} key is not allowed")
    return payload


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


def format_user_creds(jwt: str, seed: str | bytes, verify: bool = True) -> str:
    """Return the exact ``.creds`` text (Go ``FormatUserConfig``).

    With ``verify`` (for a token and seed of unknown origin) the token must be a user JWT with a valid
    signature, and the seed a user seed whose public key is the JWT ``sub``: two Ed25519 operations and a
    full parse. Without, for a token and seed that were issued and stored together, only their form is
    checked: a user (``SU``) seed and a three-part token.
    """
    if not isinstance(jwt, str):
        raise NatsCodecError("jwt must be a string")
    jwt = jwt.strip()
    text = _as_text(seed, "seed")
    if not verify:
        if len(text) != _SEED_LEN or not text.startswith("SU"):
            raise NatsCodecError("nkey seed is not a user seed (SU...)")
        if jwt.count(".") != 2:
            raise NatsCodecError("malformed token: expected 3 dot-separated parts")
        return _CREDS_TEMPLATE.format(jwt=jwt, seed=text)
    kp = keypair_from_seed(text)
    if kp.kind != USER:
        raise NatsCodecError("nkey seed is not a user seed (SU...)")
    payload = decode(jwt)
    ctype = _claim_type(payload)
    if ctype != "user":
        raise NatsCodecError(f"{ctype!r} token cannot be serialized as a user config")
    if payload.get("sub") != kp.public_key:
        raise NatsCodecError("nkey seed does not match the JWT subject")
    return _CREDS_TEMPLATE.format(jwt=jwt, seed=kp.seed)


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

    ``claims.subject`` is replaced by the user's public key. Nothing is re-verified: the token was
    just signed here.
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
        signing_keys=tuple(signing_keys),
        revocations=dict(revocations) if revocations else None,
        exports=exports,
    )


def account_delete_claims(operator_public_key: str, accounts: Iterable[str]) -> AccountDeleteClaims:
    """Claim for ``$SYS.REQ.CLAIMS.DELETE``; sign it with the operator key whose public key is
    ``operator_public_key`` (the server requires ``sub == iss``)."""
    _decode_public_key(operator_public_key, OPERATOR)
    accs = string_list(accounts)
    if not accs:
        raise NatsCodecError("at least one account is required")
    for a in accs:
        _decode_public_key(a, ACCOUNT)
    return AccountDeleteClaims(subject=operator_public_key, accounts=accs)


_NAME_DROP_RE = re.compile(r"[^a-z0-9_]")


def normalize_account_name(name: str) -> str:
    """pb-nats ``NormalizeName``: lowercase, space/'-' -> '_', drop chars outside [a-z0-9_]."""
    out = _NAME_DROP_RE.sub("", (name or "").lower().replace(" ", "_").replace("-", "_"))
    return out or "unnamed_account"


def validate_subject(subject: str) -> str:
    """Validate NATS subject syntax and return it unchanged.

    Non-empty dot-separated tokens; no empty token; no whitespace or control characters; ``*`` only
    as a whole token; ``>`` only as the whole last token.
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
        if tok == ">":
            if i != last:
                raise NatsCodecError(f"subject {subject!r}: '>' is only allowed as the last token")
        elif tok != "*" and ("*" in tok or ">" in tok):
            raise NatsCodecError(f"subject {subject!r}: wildcards '*' and '>' must be whole tokens")
    return subject
