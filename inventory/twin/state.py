"""Twin keys, values and drift (pure, no Django).

A key is `<kind>.<code>.<property>`. Values are JSON when they parse as JSON (a device may put `21.5` or
`{"mode": "auto"}`), text otherwise. Desired state is a *partial assertion* on reported state: an object
asserts only the members it names (recursively), anything else (arrays, scalars) must be equal.
"""

from __future__ import annotations

import json
import re
from datetime import datetime

KINDS = ("thing", "location", "leaf")
REPORTED, DESIRED = "twin", "twin_desired"
BUCKETS = {REPORTED: "reported", DESIRED: "desired"}
#: One NATS subject token of a KV key: what a property name may be.
PROPERTY_RE = re.compile(r"^[A-Za-z0-9_=/-]{1,128}$")
PUT, DELETE, PURGE = "put", "delete", "purge"


def object_prefix(kind: str, code: str) -> str:
    return f"{kind}.{code}."


def valid_property(name: object) -> bool:
    return isinstance(name, str) and bool(PROPERTY_RE.match(name))


def decode_value(data: bytes | None):
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", errors="replace")


def encode_value(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def split_key(key: str) -> tuple[str, str, str]:
    kind, _, rest = key.partition(".")
    code, _, prop = rest.partition(".")
    return kind, code, prop


def entry(bucket: str, key: str, data: bytes | None, revision: int, timestamp: datetime | None, op: str) -> dict:
    """What a viewer gets of one KV entry."""
    kind, code, prop = split_key(key)
    return {
        "bucket": BUCKETS[bucket],
        "key": key,
        "kind": kind,
        "code": code,
        "property": prop,
        "value": None if op != PUT else decode_value(data),
        "revision": revision,
        "timestamp": timestamp.isoformat() if timestamp else None,
        "operation": op,
    }


def matches(desired, reported) -> bool:
    """Whether `reported` satisfies the partial assertion `desired`."""
    if isinstance(desired, dict):
        return isinstance(reported, dict) and all(
            name in reported and matches(value, reported[name]) for name, value in desired.items()
        )
    if isinstance(desired, bool) or isinstance(reported, bool):
        return type(desired) is type(reported) and desired == reported
    return desired == reported


def drift(desired: dict[str, dict], reported: dict[str, dict]) -> list[str]:
    """Properties whose desired value the reported one does not satisfy (missing counts), sorted."""
    return sorted(
        name
        for name, wanted in desired.items()
        if name not in reported or not matches(wanted["value"], reported[name]["value"])
    )


def object_view(entries: dict[str, dict], prefix: str) -> dict[str, dict]:
    """`{property: entry}` of the live entries under one object's prefix."""
    return {e["property"]: e for key, e in entries.items() if key.startswith(prefix)}
