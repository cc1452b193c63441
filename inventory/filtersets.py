"""Filters of the inventory lists.

- Relations by plain id (`thing_type=3`): another organization's id finds nothing, like a missing one.
- A location's subtree: `location_within=<id>` on things and floorplans, `within=<id>` on locations (the location
  itself and everything under it, through the tree's materialized path).
- Metadata: `metadata=<key>:<value>` (repeatable; every pair must match) and `metadata_has=<key>`. Keys are
  1-64 letters, digits or underscores (a top-level key of the metadata object, never a path or a lookup); a
  value matches the JSON string, or the JSON number, boolean or null it spells (`floor:3` matches 3 and "3").
"""

from __future__ import annotations

import json
import math
import re

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Q

from inventory.models import (
    Command,
    Floorplan,
    Location,
    LocationType,
    MessageSchema,
    Operation,
    Placement,
    Thing,
    ThingType,
)
from stoneage.filters import FilterSet, IntegerFilter, IsoDateTimeFilter

METADATA_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")
KEY_MESSAGE = "Metadata keys are 1-64 letters, digits or underscores."
#: Pairs per request, at most.
MAX_METADATA_PAIRS = 10


def validate_metadata_key(value: str) -> None:
    if not METADATA_KEY.match(value):
        raise ValidationError(KEY_MESSAGE, code="invalid")


class RepeatedWidget(forms.TextInput):
    """Every value of a repeated query parameter (`?metadata=a:1&metadata=b:2`)."""

    def value_from_datadict(self, data, files, name):
        return data.getlist(name) if hasattr(data, "getlist") else [v for v in [data.get(name)] if v is not None]


class MetadataPairsField(forms.Field):
    widget = RepeatedWidget

    def to_python(self, value) -> list[tuple[str, str]]:
        values = [v for v in (value or []) if v != ""]
        if len(values) > MAX_METADATA_PAIRS:
            raise ValidationError(f"Filter on at most {MAX_METADATA_PAIRS} metadata keys.", code="invalid")
        pairs = []
        for item in values:
            key, colon, text = item.partition(":")
            if not colon:
                raise ValidationError(f"Write key:value ({item!r} has no colon).", code="invalid")
            validate_metadata_key(key)
            if "\x00" in text:
                raise ValidationError("Null characters are not allowed.", code="invalid")
            pairs.append((key, text))
        return pairs


def _candidates(text: str) -> list:
    """The JSON values `text` may stand for: itself as a string, and the scalar it spells, if any."""
    values: list = [text]
    try:
        parsed = json.loads(text)
    except ValueError:
        return values
    if parsed is None or isinstance(parsed, bool | int) or (isinstance(parsed, float) and math.isfinite(parsed)):
        values.append(parsed)
    return values


def _matches(metadata, key: str, text: str) -> bool:
    return isinstance(metadata, dict) and key in metadata and metadata[key] in _candidates(text)


class MetadataFilter(django_filters.CharFilter):
    """`key:value` pairs, all of which a row's metadata must hold."""

    field_class = MetadataPairsField

    def filter(self, queryset, value):
        if not value:
            return queryset
        if connection.features.supports_json_field_contains:
            # Containment (`@>`) of {key: value}: a top-level key whatever it spells (digits are not array indexes).
            for key, text in value:
                condition = Q()
                for candidate in _candidates(text):
                    condition |= Q(**{f"{self.field_name}__contains": {key: candidate}})
                queryset = queryset.filter(condition)
            return queryset
        # SQLite has no JSON containment: match in Python (small databases only).
        ids = [
            pk
            for pk, metadata in queryset.values_list("pk", self.field_name)
            if all(_matches(metadata, key, text) for key, text in value)
        ]
        return queryset.filter(pk__in=ids)


class MetadataKeyFilter(django_filters.CharFilter):
    """Rows whose metadata has this top-level key."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("validators", [validate_metadata_key])
        super().__init__(*args, **kwargs)

    def filter(self, queryset, value):
        if not value:
            return queryset
        return queryset.filter(**{f"{self.field_name}__has_key": value})


def organization_of_request(request):
    view = (getattr(request, "parser_context", None) or {}).get("view")
    return getattr(view, "organization", None)


class SubtreeFilter(IntegerFilter):
    """Rows at the location with this id or anywhere under it (`field_name`: the path of the row's location)."""

    def filter(self, queryset, value):
        if value is None:
            return queryset
        organization = organization_of_request(self.parent.request)
        path = (
            Location.objects.filter(pk=value, organization=organization).values_list("path", flat=True).first()
            if organization is not None
            else None
        )
        if path is None:
            return queryset.none()
        return queryset.filter(**{f"{self.field_name}__startswith": path})


METADATA_HELP = "`key:value`, repeatable: rows whose metadata holds every pair (e.g. `floor:3`)."
METADATA_HAS_HELP = "Rows whose metadata has this key."


class MessageSchemaFilterSet(FilterSet):
    class Meta:
        model = MessageSchema
        fields = ["namespace", "name", "version"]


class ThingTypeFilterSet(FilterSet):
    class Meta:
        model = ThingType
        fields = ["code"]


class OperationFilterSet(FilterSet):
    message_schema = IntegerFilter(field_name="message_schema_id")

    class Meta:
        model = Operation
        fields = ["name", "capability", "message_schema"]


class LocationTypeFilterSet(FilterSet):
    class Meta:
        model = LocationType
        fields = ["code"]


class LocationFilterSet(FilterSet):
    location_type = IntegerFilter(field_name="location_type_id")
    parent = IntegerFilter(field_name="parent_id")
    root = django_filters.BooleanFilter(
        field_name="parent", lookup_expr="isnull", help_text="true: top-level locations only."
    )
    within = SubtreeFilter(field_name="path", help_text="This location and everything under it.")
    metadata = MetadataFilter(field_name="metadata", help_text=METADATA_HELP)
    metadata_has = MetadataKeyFilter(field_name="metadata", help_text=METADATA_HAS_HELP)

    class Meta:
        model = Location
        fields = ["code", "location_type", "parent", "root", "within"]


class FloorplanFilterSet(FilterSet):
    location = IntegerFilter(field_name="location_id")
    location_within = SubtreeFilter(
        field_name="location__path", help_text="Floorplans of this location and of everything under it."
    )

    class Meta:
        model = Floorplan
        fields = ["location", "location_within", "name", "image_format"]


class PlacementFilterSet(FilterSet):
    floorplan = IntegerFilter(field_name="floorplan_id")
    thing = IntegerFilter(field_name="thing_id")
    location = IntegerFilter(field_name="floorplan__location_id", help_text="Placements on this location's plans.")

    class Meta:
        model = Placement
        fields = ["floorplan", "thing", "location"]


class ThingFilterSet(FilterSet):
    thing_type = IntegerFilter(field_name="thing_type_id")
    location = IntegerFilter(field_name="location_id")
    has_location = django_filters.BooleanFilter(field_name="location", lookup_expr="isnull", exclude=True)
    location_within = SubtreeFilter(
        field_name="location__path", help_text="Things at this location or anywhere under it."
    )
    nats_user = IntegerFilter(field_name="nats_user_id")
    nebula_host = IntegerFilter(field_name="nebula_host_id")
    has_nats_user = django_filters.BooleanFilter(field_name="nats_user", lookup_expr="isnull", exclude=True)
    has_nebula_host = django_filters.BooleanFilter(field_name="nebula_host", lookup_expr="isnull", exclude=True)
    metadata = MetadataFilter(field_name="metadata", help_text=METADATA_HELP)
    metadata_has = MetadataKeyFilter(field_name="metadata", help_text=METADATA_HAS_HELP)

    class Meta:
        model = Thing
        fields = ["code", "thing_type", "location", "location_within", "active", "nats_user", "nebula_host"]


class CommandFilterSet(FilterSet):
    thing = IntegerFilter(field_name="thing_id")
    operation = IntegerFilter(field_name="operation_id")
    status = django_filters.MultipleChoiceFilter(choices=Command.Status.choices)
    created_after = IsoDateTimeFilter(field_name="created", lookup_expr="gte")
    created_before = IsoDateTimeFilter(field_name="created", lookup_expr="lt")

    class Meta:
        model = Command
        fields = ["thing", "operation", "status"]
