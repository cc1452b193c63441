import django_filters
from django.contrib.auth import get_user_model

from stoneage.filters import FilterSet
from tenancy.models import ApiToken, Invitation, Membership, Organization
from tenancy.roles import Role


class OrganizationFilterSet(FilterSet):
    class Meta:
        model = Organization
        fields = ["active", "slug"]


class MembershipFilterSet(FilterSet):
    role = django_filters.MultipleChoiceFilter(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["role", "user"]


class InvitationFilterSet(FilterSet):
    pending = django_filters.BooleanFilter(method="filter_pending")

    class Meta:
        model = Invitation
        fields = ["role", "email"]

    def filter_pending(self, queryset, name, value):
        pending = Invitation.objects.pending().values("pk")
        return queryset.filter(pk__in=pending) if value else queryset.exclude(pk__in=pending)


class ApiTokenFilterSet(FilterSet):
    organization = django_filters.CharFilter(field_name="organization__slug")
    usable = django_filters.BooleanFilter(method="filter_usable")

    class Meta:
        model = ApiToken
        fields = ["organization", "platform"]

    def filter_usable(self, queryset, name, value):
        usable = ApiToken.objects.usable().values("pk")
        return queryset.filter(pk__in=usable) if value else queryset.exclude(pk__in=usable)


class PersonFilterSet(FilterSet):
    email = django_filters.CharFilter(field_name="email", lookup_expr="iexact")
    organization = django_filters.CharFilter(field_name="memberships__organization__slug", distinct=True)

    class Meta:
        model = get_user_model()
        fields = ["is_active", "is_superuser", "email", "organization"]
