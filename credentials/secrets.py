"""Secrets at rest: AES-256-GCM with keys from `STONEAGE_SECRET_KEYS`.

The setting is a list of urlsafe-base64 32-byte keys: the first encrypts, every key decrypts, so keys rotate
by prepending a new one and running `manage.py rotate_secrets`. A stored value reads
`v2:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`; the key id (first 8 hex digits of the key's SHA-256) picks
the key without trial decryption.

Each value is bound to its row: the associated data is `<app>.<model>.<column>#<primary key>`, so a
ciphertext copied into another column, or into the same column of another row (one device's seed into
another device's row, one organization's CA key into another's), fails authentication instead of handing
that row someone else's key. The primary key is on every row and never changes; a row's public key or
fingerprint would not do (a CA's fingerprint changes when it rotates, its next key has none yet), and a
random binding id would be one more column on every table with a secret. Restores must keep primary keys
(dumpdata/loaddata do).

A new row has no primary key until it is inserted. `seal()` on an unsaved object therefore keeps the
plaintext on that one instance (never anywhere process-wide), the INSERT writes an empty value, and a
post_save receiver seals it for the new primary key and writes it with an UPDATE. `save_base` of a model with
such a field is atomic, so the row and its secret commit together or not at all.

Values of the earlier format `v1` were bound to their column only; migration 0005 re-seals them and they are
refused afterwards, since one could be copied into any row of its column.

In DEBUG with no keys configured, one key is derived from SECRET_KEY so that `make dev` works out of the box.
"""

from __future__ import annotations

import base64
import binascii
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import models
from django.db.models.signals import post_save

from stoneage.db import make_saves_atomic
from stoneage.keys import key_id, load_key_list

VERSION = "v2"
#: The format whose values are bound to their column only (read and written by migration 0005 alone).
COLUMN_BOUND_VERSION = "v1"
#: Instance attribute holding the plaintexts sealed before the row had a primary key.
_PENDING = "_secrets_pending_insert"


class SecretError(Exception):
    pass


def generate_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@lru_cache(maxsize=8)
def _load_keys(configured: tuple[str, ...], secret_key: str, debug: bool) -> tuple[tuple[str, AESGCM], ...]:
    keys = load_key_list(
        "STONEAGE_SECRET_KEYS",
        configured,
        secret_key=secret_key,
        debug=debug,
        purpose="encrypts the seeds and private keys at rest",
        dev_label=b"stoneage-dev-secrets:",
    )
    return tuple((key_id(k), AESGCM(k)) for k in keys)


def _keys() -> tuple[tuple[str, AESGCM], ...]:
    return _load_keys(tuple(settings.STONEAGE_SECRET_KEYS), settings.SECRET_KEY, settings.DEBUG)


def primary_key_id() -> str:
    return _keys()[0][0]


def associated_data(label: str, column: str, pk: object) -> str:
    """What a value is bound to: `label` is the model's `app_label.model_name`."""
    return f"{label}.{column}#{pk}"


def encrypt(plaintext: str, associated: str, *, version: str = VERSION) -> str:
    key_id, aead = _keys()[0]
    nonce = os.urandom(12)
    sealed = aead.encrypt(nonce, plaintext.encode(), associated.encode())
    return f"{version}:{key_id}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt(token: str, associated: str, *, version: str = VERSION) -> str:
    """Open `token` sealed for `associated` (which also names the value in error messages)."""
    try:
        found, key_id, body = token.split(":", 2)
        blob = base64.b64decode(body, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise SecretError(f"{associated}: the stored secret is malformed.") from exc
    if found == COLUMN_BOUND_VERSION and version == VERSION:
        raise SecretError(
            f"{associated}: the stored secret is bound to its column only (format {found}); "
            "run `manage.py migrate` to bind it to its row."
        )
    if found != version:
        raise SecretError(f"{associated}: the stored secret has unknown format {found!r}.")
    for candidate_id, aead in _keys():
        if candidate_id == key_id:
            try:
                return aead.decrypt(blob[:12], blob[12:], associated.encode()).decode()
            except (InvalidTag, ValueError) as exc:
                raise SecretError(
                    f"{associated}: the stored secret does not open here: it was sealed for another row or "
                    "column, or altered."
                ) from exc
    raise SecretError(f"{associated}: no configured key has id {key_id}; add it back to STONEAGE_SECRET_KEYS.")


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

    def associated_data(self, pk: object) -> str:
        return associated_data(self.model._meta.label_lower, self.name, pk)

    def contribute_to_class(self, cls: type[models.Model], name: str, *args, **kwargs) -> None:
        super().contribute_to_class(cls, name, *args, **kwargs)
        if not cls._meta.abstract:
            make_saves_atomic(cls)

    def pre_save(self, model_instance: models.Model, add: bool):
        pending = model_instance.__dict__.get(_PENDING, {})
        if self.name in pending and model_instance.pk is not None:  # a primary key was given before the save
            seal(model_instance, self.name, pending[self.name])
        return super().pre_save(model_instance, add)


def _field(obj: models.Model, name: str) -> EncryptedSecretField:
    field = obj._meta.get_field(name)
    if not isinstance(field, EncryptedSecretField):
        raise TypeError(f"{obj._meta.label}.{name} is not an encrypted secret field")
    return field


def seal(obj: models.Model, name: str, plaintext: str) -> None:
    field = _field(obj, name)
    pending = obj.__dict__.get(_PENDING, {})
    pending.pop(name, None)
    if not pending:
        obj.__dict__.pop(_PENDING, None)
    if plaintext and obj.pk is None:
        obj.__dict__.setdefault(_PENDING, {})[name] = plaintext
        plaintext = ""
    setattr(obj, field.attname, encrypt(plaintext, field.associated_data(obj.pk)) if plaintext else "")


def reveal(obj: models.Model, name: str) -> str:
    field = _field(obj, name)
    pending = obj.__dict__.get(_PENDING, {})
    if name in pending:
        return pending[name]
    value = getattr(obj, field.attname)
    return decrypt(value, field.associated_data(obj.pk)) if value else ""


def _seal_after_insert(sender, instance: models.Model, created: bool, using: str, **kwargs) -> None:
    """Seal what was waiting for the new row's primary key."""
    pending = instance.__dict__.get(_PENDING)
    if not pending:
        return
    values = {}
    for name, plaintext in pending.items():
        field = _field(instance, name)
        values[field.attname] = encrypt(plaintext, field.associated_data(instance.pk))
    type(instance)._base_manager.using(using).filter(pk=instance.pk).update(**values)
    for attname, token in values.items():
        setattr(instance, attname, token)
    del instance.__dict__[_PENDING]


post_save.connect(_seal_after_insert, dispatch_uid="credentials.secrets.seal_after_insert")


def encrypted_fields() -> list[EncryptedSecretField]:
    from django.apps import apps

    return [
        field
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedSecretField)
    ]
