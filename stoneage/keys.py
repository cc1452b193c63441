"""Key lists from the environment, shared by the secrets store (`STONEAGE_SECRET_KEYS`) and the audit chain
(`STONEAGE_AUDIT_KEYS`).

A key list holds urlsafe-base64 32-byte keys: the first is used for new writes and every key reads, so keys
rotate by prepending a new one. A key is named by its id (the first 8 hex digits of its SHA-256), never by its
value. In DEBUG with no keys configured, one key is derived from SECRET_KEY so that `make dev` works out of the
box.
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from django.core.exceptions import ImproperlyConfigured

GENERATE_HINT = "`python -c 'import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())'`"


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:8]


def load_key_list(
    setting: str, configured: tuple[str, ...], *, secret_key: str, debug: bool, purpose: str, dev_label: bytes
) -> list[bytes]:
    """The raw keys of `setting`, newest first. Raises ImproperlyConfigured naming the setting and the entry."""
    keys = []
    for index, text in enumerate(configured):
        text = text.strip()
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError) as exc:
            raise ImproperlyConfigured(f"{setting} entry {index + 1} is not valid base64.") from exc
        if len(raw) != 32:
            raise ImproperlyConfigured(f"{setting} entry {index + 1} must decode to 32 bytes.")
        keys.append(raw)
    if not keys:
        if not debug:
            raise ImproperlyConfigured(
                f"{setting} is required when DEBUG is off: it {purpose} (generate one with {GENERATE_HINT})."
            )
        keys.append(hashlib.sha256(dev_label + secret_key.encode()).digest())
    return keys
