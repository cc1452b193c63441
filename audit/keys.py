"""The audit chain's keys: HMAC-SHA256 keys from `STONEAGE_AUDIT_KEYS`.

The setting is a list of urlsafe-base64 32-byte keys: the first chains new events, every key verifies, so keys
rotate by prepending a new one and keeping the old ones for as long as events chained with them remain. Each
event stores the id of the key that chained it (the first 8 hex digits of the key's SHA-256), never the key.

In DEBUG with no keys configured, one key is derived from SECRET_KEY so that `make dev` works out of the box.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SETTING = "STONEAGE_AUDIT_KEYS"


@dataclass(frozen=True)
class AuditKey:
    id: str
    secret: bytes = field(repr=False)


def key_id(secret: bytes) -> str:
    return hashlib.sha256(secret).hexdigest()[:8]


@lru_cache(maxsize=8)
def _load(configured: tuple[str, ...], secret_key: str, debug: bool) -> tuple[AuditKey, ...]:
    secrets = []
    for index, text in enumerate(configured):
        text = text.strip()
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError) as exc:
            raise ImproperlyConfigured(f"{SETTING} entry {index + 1} is not valid base64.") from exc
        if len(raw) != 32:
            raise ImproperlyConfigured(f"{SETTING} entry {index + 1} must decode to 32 bytes.")
        secrets.append(raw)
    if not secrets:
        if not debug:
            raise ImproperlyConfigured(
                f"{SETTING} is required when DEBUG is off: it keys the audit log's hash chains (generate one with "
                "`python -c 'import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())'`)."
            )
        secrets.append(hashlib.sha256(b"stoneage-dev-audit:" + secret_key.encode()).digest())
    return tuple(AuditKey(key_id(secret), secret) for secret in secrets)


def configured() -> tuple[AuditKey, ...]:
    """Every configured key, the signing key first. Raises ImproperlyConfigured naming the setting."""
    return _load(tuple(settings.STONEAGE_AUDIT_KEYS), settings.SECRET_KEY, settings.DEBUG)


def signing_key() -> AuditKey:
    """The key that chains new events."""
    return configured()[0]


def keyring() -> dict[str, AuditKey]:
    """Every key that verifies, by id."""
    return {key.id: key for key in configured()}
