"""Project-wide API plumbing."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    """DRF's handler, plus domain errors raised by services mapped to clear 4xx answers."""
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "message_dict"):
            exc = exceptions.ValidationError(exc.message_dict)
        else:
            exc = exceptions.ValidationError({"detail": exc.messages})
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, ProtectedError):
        exc = exceptions.ValidationError({"detail": [protected_message(exc)]})
    elif isinstance(exc, IntegrityError):
        exc = exceptions.ValidationError({"detail": ["This change conflicts with an existing record."]})
    return drf_exception_handler(exc, context)


def protected_message(exc: ProtectedError, shown: int = 5) -> str:
    """The message for a delete refused by `on_delete=PROTECT`, naming the first few rows still using it."""
    objs = list(exc.protected_objects)
    names = ", ".join(f"{o._meta.verbose_name} '{o}'" for o in objs[:shown])
    more = f" and {len(objs) - shown} more" if len(objs) > shown else ""
    return f"This cannot be deleted while it is still in use by {names}{more}. Reassign or delete those first."
