"""Filters of the Nebula lists: networks and hosts."""

import django_filters
from django.db import connection

from credentials.models import Host, Network
from stoneage.filters import FilterSet, IntegerFilter


class NetworkFilterSet(FilterSet):
    # A plain id: a choice filter would tell an unknown id from another organization's.
    ca = IntegerFilter(field_name="ca_id")

    class Meta:
        model = Network
        fields = ["name", "cidr", "ca"]


class HostFilterSet(FilterSet):
    network = IntegerFilter(field_name="network_id")
    group = django_filters.CharFilter(method="filter_group", help_text="Hosts in this group.")

    class Meta:
        model = Host
        fields = ["network", "hostname", "overlay_ip", "active", "is_lighthouse", "is_relay", "key_source"]

    def filter_group(self, queryset, name, value):
        if connection.features.supports_json_field_contains:
            return queryset.filter(groups__contains=[value])
        # SQLite has no JSON containment: match the group lists in Python (small databases only).
        ids = [pk for pk, groups in queryset.values_list("pk", "groups") if value in (groups or [])]
        return queryset.filter(pk__in=ids)
