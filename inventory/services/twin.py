"""Domain actions on a thing's desired state (`twin_desired`, written by the control plane only): the API and the
admin's Live state panel both come through here. The value is written to NATS first, as the organization's
platform service user, and the write is audited once NATS has it; NATS not answering is `TwinUnavailable` (the
caller answers 503) and leaves no event."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from audit.models import Action
from audit.services import write_event
from inventory.models import Thing
from inventory.twin import state, store

MAX_VALUE_BYTES = 64 * 1024


def desired_key(thing: Thing, prop: str) -> str:
    if not state.valid_property(prop):
        raise ValidationError(
            {"property": "Use 1-128 letters, digits or - _ = / (one NATS subject token: no dots, spaces or wildcards)."}
        )
    return f"thing.{thing.code}.{prop}"


def snapshot(thing: Thing) -> dict:
    """Reported and desired state of the thing, and the properties whose desired value is not met."""
    current = store.snapshot(thing.organization_id, "thing", thing.code)
    return {**current, "drift": state.drift(current["desired"], current["reported"])}


def set_desired(thing: Thing, prop: str, value, *, request=None) -> int:
    """Assert `value` for the thing's property; returns the KV revision."""
    key = desired_key(thing, prop)
    if len(state.encode_value(value)) > MAX_VALUE_BYTES:
        raise ValidationError({"value": f"A desired value is at most {MAX_VALUE_BYTES // 1024} KiB of JSON."})
    revision = store.set_desired(thing.organization_id, key, value)
    with transaction.atomic():
        write_event(
            Action.UPDATE,
            obj=thing,
            organization_id=thing.organization_id,
            after={f"twin_desired.{prop}": value},
            changed_fields=[f"twin_desired.{prop}"],
            extra={"twin": "desired.set", "key": key, "revision": revision},
            request=request,
        )
    return revision


def clear_desired(thing: Thing, prop: str, *, request=None) -> None:
    """Stop asserting anything for the thing's property."""
    key = desired_key(thing, prop)
    store.clear_desired(thing.organization_id, key)
    with transaction.atomic():
        write_event(
            Action.UPDATE,
            obj=thing,
            organization_id=thing.organization_id,
            after={f"twin_desired.{prop}": None},
            changed_fields=[f"twin_desired.{prop}"],
            extra={"twin": "desired.clear", "key": key},
            request=request,
        )
