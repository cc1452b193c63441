"""The hash chain's canonical form: what is hashed, and how.

Each chain (one per organization, one for platform events) links its events in order:
`hash = HMAC-SHA256(key, prev_hash || canonical_json(event))`, with `prev_hash = ""` for the first event and
the key named by the event's `key_id` (see `audit.keys`), so only a holder of the key can write a link that
verifies. The canonical JSON covers an explicit list of fields, with sorted keys and compact separators, and
includes the event's chain, sequence and key id, so no event can be moved, dropped or duplicated without
breaking a link. Database ids and the organization and actor foreign keys are not hashed: the keys are set to
NULL when the organization or user is deleted (the denormalized slug and actor name are hashed instead).

Events written before the audit log was keyed have no key id and were linked with plain SHA-256 over the
same canonical form (which then has no `key_id` entry); they verify as such up to the first keyed event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

GENESIS = ""

HASHED_FIELDS = (
    "chain",
    "sequence",
    "timestamp",
    "organization_slug",
    "actor_name",
    "request_id",
    "ip",
    "user_agent",
    "action",
    "object_type",
    "object_id",
    "object_repr",
    "before",
    "after",
    "changed_fields",
    "extra",
)


class _Encoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        if isinstance(o, datetime):
            # Full precision, one spelling per instant (Django's encoder drops microseconds).
            return timestamp_text(o) if o.tzinfo else o.isoformat()
        try:
            return super().default(o)
        except TypeError:
            return str(o)


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, cls=_Encoder)


def json_safe(value: Any) -> Any:
    """`value` exactly as it reads back from a JSON column, so the hash computed when writing is the hash
    computed when verifying."""
    if value is None:
        return None
    return json.loads(dumps(value), parse_float=_number)


def _number(text: str) -> float | int:
    """A JSON number as PostgreSQL's jsonb hands it back: it keeps the digits but drops the exponent
    (`1e+20` reads back as `100000000000000000000`, an int to Python) and the sign of zero."""
    number = float(text)
    if number == 0:
        return 0.0
    if "e" in text.lower() and number.is_integer():
        return int(Decimal(text))
    return number


def timestamp_text(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def canonical(event) -> bytes:
    data = {name: getattr(event, name) for name in HASHED_FIELDS}
    data["timestamp"] = timestamp_text(event.timestamp)
    if event.key_id:
        data["key_id"] = event.key_id
    return dumps(data).encode()


def keyed_hash(prev_hash: str, event, secret: bytes) -> str:
    """The link of an event chained with a key (`event.key_id` names it)."""
    return hmac.digest(secret, prev_hash.encode() + canonical(event), "sha256").hex()


def unkeyed_hash(prev_hash: str, event) -> str:
    """The link of an event from before the audit log was keyed."""
    return hashlib.sha256(prev_hash.encode() + canonical(event)).hexdigest()
