"""The audit chain's keys: HMAC-SHA256 keys from `STONEAGE_AUDIT_KEYS`.

The setting is a list of urlsafe-base64 32-byte keys: the first chains new events, every key verifies, so keys
rotate by prepending a new one and keeping the old ones for as long as events chained with them remain. Each
event stores the id of the key that chained it (the first 8 hex digits of the key's SHA-256), never the key.

In DEBUG with no keys configured, one key is derived from SECRET_KEY so that `make dev` works out of the box.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from django.conf import settings

from stoneage.keys import key_id, load_key_list

SETTING = "STONEAGE_AUDIT_KEYS"


@dataclass(frozen=True)
class AuditKey:
    id: str
    secret: bytes = field(repr=False)


@lru_cache(maxsize=8)
def _load(configured: tuple[str, ...], secret_key: str, debug: bool) -> tuple[AuditKey, ...]:
    secrets = load_key_list(
        SETTING,
        configured,
        secret_key=secret_key,
        debug=debug,
        purpose="keys the audit log's hash chains",
        dev_label=b"stoneage-dev-audit:",
    )
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
