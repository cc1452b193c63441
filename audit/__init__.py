"""The audit log: an append-only, hash-chained record of every change, login, API request and credential read.

Public API for other apps:

- `audit.registry.register(Model, redact=[...], exclude=[...], noise=[...])`, in `AppConfig.ready()`.
- `audit.record_credential_read(obj=..., kind=..., request=None, detail=None)` on every credential download.
- `audit.record_bulk(action, objects, changes=...)` next to `QuerySet.update()` / `bulk_create()`.
- `audit.audit_context(...)`, `audit.set_actor(user)`, `audit.current()`: the actor and request context.
- `audit.disabled()`: turn capture off (benchmarks and data migrations only).
"""

from audit.context import audit_context, current, disabled, set_actor, set_organization

__all__ = [
    "audit_context",
    "current",
    "disabled",
    "record_bulk",
    "record_credential_read",
    "set_actor",
    "set_organization",
]


# Django imports this package while it loads the apps, before any model can be imported; `audit.services`
# imports the models, so these two load it when first called.


def record_credential_read(**kwargs):
    """See `audit.services.record_credential_read`."""
    from audit.services import record_credential_read

    return record_credential_read(**kwargs)


def record_bulk(action, objects, **kwargs):
    """See `audit.services.record_bulk`."""
    from audit.services import record_bulk

    return record_bulk(action, objects, **kwargs)
