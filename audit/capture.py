"""Model-change capture: the signal receivers behind `audit.registry.register`.

The receivers listen to every model and act on those the registry knows (proxies through their concrete
model), whenever they were registered. `pre_save` reads the row as it is in the database (the "before"),
`post_save` compares it with what was saved and writes one create or update event, `post_delete` writes one
delete event. The event commits with the change or not at all: deletes and many-to-many changes already run
in a transaction, and registering makes a model's `save_base` atomic.
"""

from __future__ import annotations

from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from audit import registry, services
from audit.context import is_enabled
from audit.models import Action

_BEFORE = "_audit_before"
_M2M_BEFORE = "_audit_m2m_before"


def connect() -> None:
    pre_save.connect(_pre_save, dispatch_uid="audit:pre-save")
    post_save.connect(_post_save, dispatch_uid="audit:post-save")
    post_delete.connect(_post_delete, dispatch_uid="audit:post-delete")
    m2m_changed.connect(_m2m_changed, dispatch_uid="audit:m2m-changed")


def _entry(sender) -> registry.ModelAudit | None:
    return registry.get(sender._meta.concrete_model)


def _pre_save(sender, instance, using, **kwargs) -> None:
    entry = _entry(sender)
    if entry is None or not is_enabled():
        return
    before = None
    pk_field = sender._meta.pk
    # A new row with a generated primary key (e.g. a UUID default) is always an insert: nothing to read.
    if instance.pk is not None and not (instance._state.adding and pk_field.has_default()):
        row = sender._base_manager.using(using).filter(pk=instance.pk).first()
        if row is not None:
            before = entry.snapshot(row)
    instance.__dict__[_BEFORE] = before


def _post_save(sender, instance, created, using, update_fields, **kwargs) -> None:
    entry = _entry(sender)
    if entry is None or not is_enabled():
        return
    before = instance.__dict__.pop(_BEFORE, None)
    after = entry.snapshot(instance)
    if created or before is None:
        services.record_change(entry, instance, Action.CREATE, before=None, after=after, using=using)
        return
    if update_fields is not None:
        # Only these columns were written; other attributes may hold unsaved values.
        saved = {f.name for f in entry.fields if f.name in update_fields or f.attname in update_fields}
        after = {name: (value if name in saved else before.get(name)) for name, value in after.items()}
    changed = entry.changed(before, after)
    if entry.is_noise(changed):
        return
    services.record_change(
        entry, instance, Action.UPDATE, before=before, after=after, changed_fields=changed, using=using
    )


def _post_delete(sender, instance, using, **kwargs) -> None:
    entry = _entry(sender)
    if entry is None or not is_enabled():
        return
    services.record_change(entry, instance, Action.DELETE, before=entry.snapshot(instance), after=None, using=using)


def _m2m_changed(sender, instance, action, reverse, using, **kwargs) -> None:
    if reverse or not is_enabled():
        return
    entry = _entry(type(instance))
    field = next((f for f in entry.m2m_fields if f.remote_field.through is sender), None) if entry else None
    if field is None:
        return
    pending = instance.__dict__.setdefault(_M2M_BEFORE, {})
    if action.startswith("pre_"):
        pending[field.name] = _related_ids(instance, field)
        return
    before = pending.pop(field.name, None)
    after = _related_ids(instance, field)
    if before is None or before == after:
        return
    services.record_change(
        entry,
        instance,
        Action.UPDATE,
        before={field.name: before},
        after={field.name: after},
        changed_fields=[field.name],
        using=using,
    )


def _related_ids(instance, field) -> list:
    return sorted(getattr(instance, field.name).values_list("pk", flat=True))
