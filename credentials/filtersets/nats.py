"""Filters of the NATS lists: roles, users, exports and imports."""

import django_filters

from credentials.models import AccountExport, AccountImport, NatsRole, NatsUser
from stoneage.filters import FilterSet, IntegerFilter


class NatsRoleFilterSet(FilterSet):
    class Meta:
        model = NatsRole
        fields = ["name", "allow_responses"]


class NatsUserFilterSet(FilterSet):
    owner_kind = django_filters.MultipleChoiceFilter(choices=NatsUser.OwnerKind.choices)
    # Plain ids: a choice filter would tell an unknown id from another organization's.
    role = IntegerFilter(field_name="role_id")
    membership = IntegerFilter(field_name="membership_id")
    has_membership = django_filters.BooleanFilter(field_name="membership", lookup_expr="isnull", exclude=True)

    class Meta:
        model = NatsUser
        fields = ["name", "owner_kind", "role", "membership", "active", "bearer"]


class AccountExportFilterSet(FilterSet):
    class Meta:
        model = AccountExport
        fields = ["kind", "subject", "token_required", "advertise"]


class AccountImportFilterSet(FilterSet):
    exporter = django_filters.CharFilter(field_name="exporter__public_key")

    class Meta:
        model = AccountImport
        fields = ["kind", "subject", "exporter", "share"]
