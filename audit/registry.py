"""Which models are audited, and how their rows become JSON.

An app registers each of its models once, in its `AppConfig.ready()`::

    from audit.registry import register

    register(Account, redact=["seed"])
    register(Thing)

From then on every create, update and delete through `save()` / `delete()` writes one event, inside the
change's own transaction, whichever door the change came through (admin, API, management command, Celery
task, `QuerySet.delete()`). Forward many-to-many changes (`obj.tags.add(...)`) are updates of `obj`. The
receivers that write them (`audit.capture`) look models up here; registering also makes the model's saves
atomic, so that the event commits with the change or not at all.

- `redact`: fields whose values never enter the log (seeds, private keys, token hashes, passwords, `.creds`,
  Nebula configs). The log shows `"<redacted>"` (or null when empty) and still lists the field in
  `changed_fields` when it changes. Any field whose class sets `audit_redact = True` (the encrypted-secret
  field does) is redacted without being named here.
- `exclude`: fields left out of the log entirely (caches, derived data).
- `noise`: fields whose change alone does not make an event (e.g. `last_login`, which the login event
  already records). `auto_now` fields are always noise.

`QuerySet.update()` and `bulk_create()` send no signals: code that uses them records the batch with
`audit.record_bulk(...)` (see `audit.services.record_bulk`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import models

from audit.hashing import json_safe
from stoneage.db import make_saves_atomic

REDACTED = "<redacted>"


@dataclass(frozen=True)
class ModelAudit:
    model: type[models.Model]
    fields: tuple[models.Field, ...]
    m2m_fields: tuple[models.ManyToManyField, ...]
    redact: frozenset[str]
    noise: frozenset[str]

    @property
    def object_type(self) -> str:
        return self.model._meta.label_lower

    def snapshot(self, instance: models.Model) -> dict[str, Any]:
        """The row as JSON-safe values, secrets included: for comparing, never for storing."""
        return json_safe({field.name: _plain(field.value_from_object(instance)) for field in self.fields})

    def redacted(self, data: dict[str, Any] | None) -> dict[str, Any] | None:
        if data is None:
            return None
        return {
            name: (REDACTED if name in self.redact and value not in (None, "") else value)
            for name, value in data.items()
        }

    def changed(self, before: dict[str, Any], after: dict[str, Any]) -> list[str]:
        return [name for name in after if before.get(name) != after[name]]

    def is_noise(self, changed_fields: Iterable[str]) -> bool:
        return all(name in self.noise for name in changed_fields)


_registry: dict[type[models.Model], ModelAudit] = {}


def register(
    model: type[models.Model],
    *,
    redact: Iterable[str] = (),
    exclude: Iterable[str] = (),
    noise: Iterable[str] = (),
) -> ModelAudit:
    """Audit every change of `model`. Call once per model from the app's `AppConfig.ready()`."""
    if model in _registry:
        raise ValueError(f"{model._meta.label} is already registered for audit.")
    entry = build(model, redact=redact, exclude=exclude, noise=noise)
    _registry[model] = entry
    make_saves_atomic(model)
    return entry


def build(
    model: type[models.Model],
    *,
    redact: Iterable[str] = (),
    exclude: Iterable[str] = (),
    noise: Iterable[str] = (),
) -> ModelAudit:
    """How `model` is audited, without registering it."""
    redact, exclude, noise = set(redact), set(exclude), set(noise)
    opts = model._meta
    names = {field.name for field in opts.concrete_fields} | {field.name for field in opts.many_to_many}
    unknown = (redact | exclude | noise) - names
    if unknown:
        raise ValueError(f"{opts.label} has no field(s) {sorted(unknown)} to redact, exclude or ignore.")
    fields = tuple(field for field in opts.concrete_fields if field.name not in exclude)
    m2m_fields = tuple(field for field in opts.many_to_many if field.name not in exclude)
    for field in (*fields, *m2m_fields):
        if getattr(field, "audit_redact", False):
            redact.add(field.name)
        if getattr(field, "auto_now", False):
            noise.add(field.name)
    return ModelAudit(
        model=model, fields=fields, m2m_fields=m2m_fields, redact=frozenset(redact), noise=frozenset(noise)
    )


def get(model: type[models.Model]) -> ModelAudit | None:
    return _registry.get(model)


def registered() -> dict[type[models.Model], ModelAudit]:
    return dict(_registry)


def _plain(value: Any) -> Any:
    if isinstance(value, memoryview | bytes | bytearray):
        # Binary content is never copied; its digest still shows whether it changed.
        return "sha256:" + hashlib.sha256(bytes(value)).hexdigest()
    return value
