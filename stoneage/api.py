"""Project-wide API plumbing."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import reduce
from operator import or_

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, models
from django.db.models import F, OrderBy, ProtectedError, Q, QuerySet
from rest_framework import exceptions, fields, pagination, serializers
from rest_framework.relations import PKOnlyObject
from rest_framework.utils.urls import remove_query_param, replace_query_param
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


# --- Keyset (cursor) pagination for big lists ---------------------------------------------------------------------


@dataclass(frozen=True)
class SortKey:
    """One column of a list's order. NULL sorts after every value, whichever the direction (PostgreSQL's
    default, so its indexes serve both directions)."""

    field: models.Field
    descending: bool

    @property
    def name(self) -> str:
        return self.field.attname

    @property
    def term(self) -> str:
        return ("-" if self.descending else "") + self.name

    def order_by(self, reverse: bool) -> OrderBy:
        descending = self.descending != reverse
        column = F(self.name)
        if not self.field.null:
            return column.desc() if descending else column.asc()
        return column.desc(nulls_first=True) if descending else column.asc(nulls_last=True)

    def equal(self, value) -> Q:
        return Q(**{f"{self.name}__isnull": True}) if value is None else Q(**{self.name: value})

    def past(self, value, reverse: bool) -> Q | None:
        """Rows strictly past `value` in this key's order; None when no row can be."""
        descending = self.descending != reverse
        if value is None:
            return Q(**{f"{self.name}__isnull": False}) if descending else None
        step = Q(**{f"{self.name}__{'lt' if descending else 'gt'}": value})
        if self.field.null and not descending:
            step |= Q(**{f"{self.name}__isnull": True})
        return step

    def bound(self, value, reverse: bool) -> Q | None:
        """`>=` / `<=` on a non-null column: redundant with `past`, it lets the database seek in an index
        instead of reading every row before the cursor."""
        if self.field.null or value is None:
            return None
        descending = self.descending != reverse
        return Q(**{f"{self.name}__{'lte' if descending else 'gte'}": value})


def sort_keys(queryset: QuerySet) -> list[SortKey]:
    """The queryset's order (its `order_by()`, else the model's `Meta.ordering`) as sort keys, ending with the
    primary key so that every row has its own position."""
    model = queryset.model
    ordering = queryset.query.order_by or (model._meta.ordering if queryset.query.default_ordering else ())
    keys: list[SortKey] = []
    for term in ordering:
        name = term.lstrip("-") if isinstance(term, str) else ""
        if not name or "__" in name or name == "?":
            raise ImproperlyConfigured(f"Keyset pagination orders by plain model fields; {term!r} is not one.")
        field = model._meta.pk if name == "pk" else model._meta.get_field(name)
        keys.append(SortKey(field, term.startswith("-")))
        if field.primary_key:
            return keys
    return [*keys, SortKey(model._meta.pk, keys[0].descending if keys else False)]


def encode_cursor(keys: list[SortKey], values: list, reverse: bool = False) -> str:
    """The opaque `cursor` of the position just past (or, `reverse`, just before) the row with `values`."""

    def plain(value):
        if isinstance(value, datetime | date):
            return value.isoformat()
        return value if value is None or isinstance(value, bool | int | float | str) else str(value)

    body = {"k": [key.term for key in keys], "v": [plain(v) for v in values], "r": reverse}
    return base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":")).encode()).decode().rstrip("=")


class KeysetPagination(pagination.CursorPagination):
    """Cursor pagination for lists that grow to tens of thousands of rows.

    A page costs the same wherever it is in the list and needs no `COUNT(*)`: `next` and `previous` carry
    the position of the page's last (first) row in the list's order, every key of it plus the primary key,
    and the database seeks there in the index that serves the order. Works with `OrderingFilter` (on plain
    model fields, nullable ones too) and any filters. `limit` sets the page size (up to 1000); a forged or
    stale cursor is an invalid cursor, never a database error.
    """

    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 1000
    page_size_query_description = "Rows per page (at most 1000)."
    cursor_query_description = "The `next` or `previous` position of a page before; absent for the first page."
    offset_message = "This list pages with cursors: follow `next` and `previous` (`limit` sets the page size)."

    def paginate_queryset(self, queryset, request, view=None):
        if "offset" in request.query_params:
            raise exceptions.ValidationError({"offset": [self.offset_message]})
        self.request = request
        self.base_url = request.build_absolute_uri()
        self.page_size = self.get_page_size(request)
        self.keys = sort_keys(queryset)
        self.cursor = self.decode_cursor(request)
        reverse = bool(self.cursor and self.cursor.reverse)
        queryset = queryset.order_by(*(key.order_by(reverse) for key in self.keys))
        if self.cursor is not None:
            queryset = queryset.filter(self.past(self.cursor.position, reverse))
        rows = list(queryset[: self.page_size + 1])
        more = len(rows) > self.page_size
        self.page = rows[: self.page_size]
        if reverse:
            self.page.reverse()
            self.has_previous, self.has_next = more, True
        else:
            self.has_previous, self.has_next = self.cursor is not None, more
        self.display_page_controls = self.has_previous or self.has_next
        return self.page

    def past(self, values: list, reverse: bool) -> Q:
        """Rows after the position `values` in the order (before it when `reverse`)."""
        clauses = []
        for index, key in enumerate(self.keys):
            step = key.past(values[index], reverse)
            if step is not None:
                clauses.append(Q(*(k.equal(v) for k, v in zip(self.keys[:index], values, strict=False)), step))
        condition = reduce(or_, clauses) if clauses else Q(pk__in=[])
        bound = self.keys[0].bound(values[0], reverse)
        return condition & bound if bound is not None else condition

    def values_of(self, row) -> list:
        return [getattr(row, key.name) for key in self.keys]

    def decode_cursor(self, request) -> pagination.Cursor | None:
        encoded = request.query_params.get(self.cursor_query_param)
        if not encoded:
            return None
        try:
            body = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
            terms, values, reverse = body["k"], body["v"], body["r"]
        except (binascii.Error, ValueError, TypeError, KeyError):
            raise exceptions.NotFound(self.invalid_cursor_message) from None
        if terms != [key.term for key in self.keys] or not isinstance(values, list) or not isinstance(reverse, bool):
            raise exceptions.NotFound(self.invalid_cursor_message)
        position = [self._checked(key, value) for key, value in zip(self.keys, values, strict=True)]
        return pagination.Cursor(offset=0, reverse=reverse, position=position)

    def _checked(self, key: SortKey, value):
        """A value of the column, or an invalid cursor: never one the database would refuse."""
        try:
            if value is None:
                if not key.field.null:
                    raise ValueError(value)
                return None
            if not isinstance(value, bool | int | str) and not (
                isinstance(value, float) and isinstance(key.field, models.FloatField)
            ):
                raise ValueError(value)
            if isinstance(value, str) and "\x00" in value:
                raise ValueError(value)
            python = key.field.to_python(value)
            key.field.run_validators(python)
            if isinstance(python, datetime):
                if python.tzinfo is None:
                    raise ValueError(value)
                python = python.astimezone(UTC)
            return python
        except (DjangoValidationError, ValueError, TypeError, OverflowError):
            raise exceptions.NotFound(self.invalid_cursor_message) from None

    def _link(self, row, reverse: bool) -> str:
        return replace_query_param(
            self.base_url, self.cursor_query_param, encode_cursor(self.keys, self.values_of(row), reverse)
        )

    def get_next_link(self) -> str | None:
        if not self.has_next:
            return None
        if not self.page:  # only after a reverse page past the start: the list from the top
            return remove_query_param(self.base_url, self.cursor_query_param)
        return self._link(self.page[-1], reverse=False)

    def get_previous_link(self) -> str | None:
        if not self.has_previous or not self.page:
            return None
        return self._link(self.page[0], reverse=True)


class BigListMixin:
    """For viewsets whose lists grow large: keyset pagination, and `shape_list()` to lighten the list's rows
    (defer big columns, prefetch rows many share) without touching what other actions load."""

    pagination_class = KeysetPagination

    def shape_list(self, queryset: QuerySet) -> QuerySet:
        return queryset

    def get_queryset(self):
        queryset = super().get_queryset()
        return self.shape_list(queryset) if getattr(self, "action", None) == "list" else queryset


class FieldPlanMixin:
    """For serializers of big lists: a row's output exactly as DRF's `Serializer.to_representation` makes it,
    with less work per value. The readable fields are listed once per serializer instance (not walked anew for
    every row), date-times take the time zone current at that moment, and a field that reads one plain
    attribute reads it with `getattr`; anything else (relations, dotted sources, method fields, callables,
    missing attributes, mappings) takes DRF's own path. A serializer instance serves one response."""

    def _field_plan(self) -> list[tuple[str, fields.Field, str | None]]:
        plan = self.__dict__.get("_plan")
        if plan is None:
            readable = list(self._readable_fields)
            for field in readable:
                # The current time zone, read once for all the rows rather than for every date-time value.
                if isinstance(field, fields.DateTimeField) and not hasattr(field, "timezone"):
                    field.timezone = field.default_timezone()
            plan = self.__dict__["_plan"] = [(field.field_name, field, _plain_attribute(field)) for field in readable]
        return plan

    def to_representation(self, instance):
        if isinstance(instance, Mapping):
            return super().to_representation(instance)
        row = {}
        for name, field, attribute in self._field_plan():
            try:
                value = _MISSING if attribute is None else getattr(instance, attribute)
            except Exception:  # DRF's path below answers it as DRF would (a default, None, or the error)
                value = _MISSING
            if value is _MISSING or callable(value):
                try:
                    value = field.get_attribute(instance)
                except fields.SkipField:
                    continue
            if value is None or (isinstance(value, PKOnlyObject) and value.pk is None):
                row[name] = None
            else:
                row[name] = field.to_representation(value)
        return row


_MISSING = object()


def _plain_attribute(field: fields.Field) -> str | None:
    """The attribute `field` reads, when DRF's generic `Field.get_attribute` would read just that one."""
    if type(field).get_attribute is not fields.Field.get_attribute or len(field.source_attrs) != 1:
        return None
    return field.source_attrs[0]


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
