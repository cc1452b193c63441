import django_filters

from audit.models import Action, AuditEvent
from stoneage.filters import FilterSet, IsoDateTimeFilter


class AuditEventFilterSet(FilterSet):
    action = django_filters.MultipleChoiceFilter(choices=Action.choices)
    object_type = django_filters.CharFilter(help_text="`app_label.model`, e.g. `tenancy.membership`.")
    object_id = django_filters.CharFilter()
    actor = django_filters.CharFilter(field_name="actor_name", help_text="Username (or `system:<command>`).")
    request_id = django_filters.CharFilter()
    since = IsoDateTimeFilter(field_name="timestamp", lookup_expr="gte", help_text="From (inclusive).")
    until = IsoDateTimeFilter(field_name="timestamp", lookup_expr="lt", help_text="Until (exclusive).")

    class Meta:
        model = AuditEvent
        fields = ["action", "object_type", "object_id", "actor", "request_id", "since", "until"]
