"""Secrets at rest: AES-256-GCM with keys from `STONEAGE_SECRET_KEYS`.

The setting is a list of urlsafe-base64 32-byte keys: the first encrypts, every key decrypts, so keys rotate
by prepending a new one and running `manage.py rotate_secrets`. A stored value reads
`v1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`; the key id (first 8 hex digits of the key's SHA-256) picks
the key without trial decryption. The column name is bound as associated data, so a ciphertext copied into
another column does not decrypt.

In DEBUG with no keys configured, one key is derived from SECRET_KEY so that `make dev` works out of the box.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

VERSION = "v1"


class SecretError(Exception):
    pass


def generate_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


@lru_cache(maxsize=8)
def _load_keys(configured: tuple[str, ...], secret_key: str, debug: bool) -> tuple[tuple[str, AESGCM], ...]:
    keys = []
    for index, text in enumerate(configured):
        try:
            raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
        except (binascii.Error, ValueError) as exc:
            raise ImproperlyConfigured(f"STONEAGE_SECRET_KEYS entry {index + 1} is not valid base64.") from exc
        if len(raw) != 32:
            raise ImproperlyConfigured(f"STONEAGE_SECRET_KEYS entry {index + 1} must decode to 32 bytes.")
        keys.append(raw)
    if not keys:
        if not debug:
            raise ImproperlyConfigured(
                "STONEAGE_SECRET_KEYS is required when DEBUG is off (generate one with "
                "`python -c 'import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())'`)."
            )
        keys.append(hashlib.sha256(b"stoneage-dev-secrets:" + secret_key.encode()).digest())
    return tuple((_key_id(k), AESGCM(k)) for k in keys)


def _keys() -> tuple[tuple[str, AESGCM], ...]:
    return _load_keys(tuple(settings.STONEAGE_SECRET_KEYS), settings.SECRET_KEY, settings.DEBUG)


def primary_key_id() -> str:
    return _keys()[0][0]


def encrypt(plaintext: str, purpose: str) -> str:
    key_id, aead = _keys()[0]
    nonce = os.urandom(12)
    sealed = aead.encrypt(nonce, plaintext.encode(), purpose.encode())
    return f"{VERSION}:{key_id}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt(token: str, purpose: str) -> str:
    try:
        version, key_id, body = token.split(":", 2)
        blob = base64.b64decode(body, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise SecretError("Stored secret is malformed.") from exc
    if version != VERSION:
        raise SecretError(f"Stored secret has unknown format {version!r}.")
    for candidate_id, aead in _keys():
        if candidate_id == key_id:
            try:
                return aead.decrypt(blob[:12], blob[12:], purpose.encode()).decode()
            except Exception as exc:
                raise SecretError("Stored secret failed authentication (wrong key or tampered).") from exc
    raise SecretError(f"No configured key with id {key_id}; add it back to STONEAGE_SECRET_KEYS.")


def key_id_of(token: str) -> str | None:
    parts = token.split(":", 2)
    return parts[1] if len(parts) == 3 else None


class EncryptedSecretField(models.TextField):
    """Holds ciphertext only. Read with `reveal(obj, "field")`, write with `seal(obj, "field", value)`.

    The audit log redacts every field of this class; admin and API never render it.
    """

    audit_redact = True

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def purpose(self) -> str:
        return f"{self.model._meta.label_lower}.{self.name}"


def _field(obj: models.Model, name: str) -> EncryptedSecretField:
    field = obj._meta.get_field(name)
    if not isinstance(field, EncryptedSecretField):
        raise TypeError(f"{obj._meta.label}.{name} is not an encrypted secret field")
    return field


def seal(obj: models.Model, name: str, plaintext: str) -> None:
    setattr(obj, name, encrypt(plaintext, _field(obj, name).purpose()) if plaintext else "")


def reveal(obj: models.Model, name: str) -> str:
    value = getattr(obj, name)
    return decrypt(value, _field(obj, name).purpose()) if value else ""


def encrypted_fields() -> list[EncryptedSecretField]:
    from django.apps import apps

    return [
        field
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedSecretField)
    ]
