"""System checks: the audit key is configured before anything writes an event (`check`, `migrate`, `runserver`)."""

from __future__ import annotations

from django.core.checks import Error
from django.core.exceptions import ImproperlyConfigured

from audit import keys


def audit_keys(app_configs=None, **kwargs) -> list[Error]:
    try:
        keys.configured()
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="audit.E001")]
    return []
