"""Query filters of every API list: a filter value is checked into one the database can take, or the request
is a 400 naming the parameter, never a database error.

- Whole numbers (ids, counts) stay within 64 bits; django-filter's `NumberFilter` takes any decimal up to 1e50,
  which SQLite cannot bind and PostgreSQL compares as a numeric.
- Relations are filtered by plain id: a choice filter would tell an unknown id from another organization's.
- IP addresses are parsed (PostgreSQL's `inet` refuses anything else).
- Date-times are moved to UTC: PostgreSQL refuses time zone offsets past ±15:59, and a date that leaves the
  calendar on the way is refused here.

Every filter set subclasses `FilterSet`; `FilterBackend` gives the ones built from `filterset_fields` the same
defaults.
"""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django_filters import fields as filter_fields
from django_filters import rest_framework as drf_filters

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class IntegerFilter(django_filters.NumberFilter):
    """A whole number within 64 bits."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", INT64_MIN)
        kwargs.setdefault("max_value", INT64_MAX)
        super().__init__(*args, **kwargs)

    def get_max_validator(self):
        return None  # the field's own max_value


class IPAddressFilter(django_filters.CharFilter):
    """An IPv4 or IPv6 address."""

    field_class = forms.GenericIPAddressField


class UTCDateTimeField(filter_fields.IsoDateTimeField):
    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValidationError("This date and time is out of range.", code="overflow") from None


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time, in UTC."""

    field_class = UTCDateTimeField


_INTEGER_FIELDS = (
    models.AutoField,
    models.BigAutoField,
    models.SmallAutoField,
    models.IntegerField,
    models.BigIntegerField,
    models.SmallIntegerField,
    models.PositiveIntegerField,
    models.PositiveBigIntegerField,
    models.PositiveSmallIntegerField,
)

SAFE_FILTER_DEFAULTS = {
    **{field: {"filter_class": IntegerFilter} for field in _INTEGER_FIELDS},
    models.ForeignKey: {"filter_class": IntegerFilter},
    models.OneToOneField: {"filter_class": IntegerFilter},
    models.GenericIPAddressField: {"filter_class": IPAddressFilter},
    models.DateTimeField: {"filter_class": IsoDateTimeFilter},
}


class FilterSet(drf_filters.FilterSet):
    FILTER_DEFAULTS = {**drf_filters.FilterSet.FILTER_DEFAULTS, **SAFE_FILTER_DEFAULTS}


class FilterBackend(drf_filters.DjangoFilterBackend):
    """django-filter's backend; filter sets built from a view's `filterset_fields` get the defaults above."""

    filterset_base = FilterSet
