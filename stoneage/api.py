"""Project-wide API plumbing."""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.db.models import ProtectedError
from rest_framework import exceptions, pagination, serializers
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)

#: The answer when a value got past validation that the database cannot hold (a number beyond 64 bits, a NUL
#: character, a date the database cannot represent). Fields and filters refuse these with a message of their
#: own; this is the net under them.
UNSTORABLE_VALUE = "A value in this request is out of range or cannot be stored (e.g. a number past 64 bits)."


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "request_too_large"

    def __init__(self):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        super().__init__(f"The request body is too large (at most {limit:,} bytes).")


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
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif isinstance(exc, DataError | OverflowError):
        # PostgreSQL's data exceptions (integer out of range, NUL in text, bad time zone offset) and SQLite's
        # OverflowError for integers past 64 bits. The transaction of the change, if any, is rolled back.
        logger.warning("Unstorable value in %s: %s", _request_line(context), exc)
        exc = exceptions.ValidationError({"detail": [UNSTORABLE_VALUE]})
    return drf_exception_handler(exc, context)


def _request_line(context) -> str:
    request = context.get("request")
    return f"{request.method} {request.path}" if request is not None else "a request"


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """DRF's, with a ceiling on `limit`: a larger one gets this many rows (a number past 64 bits would be
    refused by the database)."""

    max_limit = 1000


class SlugRelatedField(serializers.SlugRelatedField):
    """DRF's, refusing NUL characters before the lookup (PostgreSQL cannot compare text holding them)."""

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            raise serializers.ValidationError("Null characters are not allowed.", code="null_characters_not_allowed")
        return super().to_internal_value(data)


def protected_message(exc: ProtectedError, shown: int = 5) -> str:
    """The message for a delete refused by `on_delete=PROTECT`, naming the first few rows still using it."""
    objs = list(exc.protected_objects)
    names = ", ".join(f"{o._meta.verbose_name} '{o}'" for o in objs[:shown])
    more = f" and {len(objs) - shown} more" if len(objs) > shown else ""
    return f"This cannot be deleted while it is still in use by {names}{more}. Reassign or delete those first."
