"""The org-scoping base for Django admin classes.

Members see and edit only their organizations' rows, with what each page allows their role (`view_roles`,
`add_roles`, `change_roles`, `delete_roles`: allowlists of roles, declared per admin class); superusers see
everything. Nobody needs Django's staff flag: who may enter the admin at all is the site's decision
(stoneage/admin_site.py). Rows of other organizations are filtered out of the changelist, so their change
pages answer 404 like a missing object. A changelist filters only by what its list filters and date hierarchy offer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.contrib import messages
from django.contrib.admin import RelatedOnlyFieldListFilter
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.utils import NotRelationField, get_fields_from_path
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import Model

from tenancy.models import Membership, Organization
from tenancy.roles import ALL_ROLES, MANAGERS
from tenancy.scoping import organization_id_of


def error_text(exc: Exception) -> str:
    """An error of a domain action as one line for an admin message."""
    return "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)


def apply_each(
    model_admin,
    request,
    objects: Iterable,
    change: Callable,
    success: str,
    *,
    errors: tuple[type[Exception], ...] = (ValidationError,),
    label: Callable[[object], str] = str,
) -> int:
    """Run a domain action on each selected object: one error message per object it refuses (`errors`), then one
    success message, `success` formatted with the `count` of objects changed. Returns that count."""
    count = 0
    for obj in objects:
        try:
            change(obj)
        except errors as exc:
            model_admin.message_user(request, f"{label(obj)}: {error_text(exc)}", messages.ERROR)
        else:
            count += 1
    if count:
        model_admin.message_user(request, success.format(count=count), messages.SUCCESS)
    return count


def roles_by_organization(request) -> dict[int, str]:
    """{organization id: role} for the signed-in user, cached on the request."""
    cached = getattr(request, "_stoneage_roles", None)
    if cached is None:
        user = request.user
        if not user.is_authenticated or not user.is_active:
            cached = {}
        else:
            cached = dict(
                Membership.objects.filter(user=user, organization__active=True).values_list("organization_id", "role")
            )
        request._stoneage_roles = cached
    return cached


class ListFilterLookupsChangeList(ChangeList):
    """A changelist that refuses (400) every query-string lookup its list filters and date hierarchy did not
    take. Django applies any such leftover to the queryset and vets only lookups across relations, so with
    `?jwt__startswith=…` or `?seed__regex=…` anyone who can read the list could rebuild a column of the
    model's own a character at a time."""

    def get_filters(self, request):
        filter_specs, has_filters, remaining, may_have_duplicates, has_active_filters = super().get_filters(request)
        produced = set()
        if self.date_hierarchy and f"{self.date_hierarchy}__year" in self.filter_params:
            produced = {f"{self.date_hierarchy}__gte", f"{self.date_hierarchy}__lt"}
        refused = sorted(set(remaining) - produced)
        if refused:
            raise DisallowedModelAdminLookup(f"Filtering by {', '.join(refused)} not allowed")
        return filter_specs, has_filters, remaining, may_have_duplicates, has_active_filters


class ListFilterLookupsOnlyMixin:
    """For every ModelAdmin (org-scoped or not): changelists filter only through their list filters and date
    hierarchy; search is what `search_fields` names."""

    def get_changelist(self, request, **kwargs):
        return ListFilterLookupsChangeList


class OrgScopedAdminMixin(ListFilterLookupsOnlyMixin):
    """By default every role reads, and owners and admins add, change and delete: identities (NATS users,
    Nebula hosts, memberships, tokens) keep these defaults or narrower. Inventory pages that members edit
    declare `add_roles = change_roles = delete_roles = EDITORS`; viewers and auditors are in no write set."""

    view_roles: frozenset[str] = ALL_ROLES
    add_roles: frozenset[str] = MANAGERS
    change_roles: frozenset[str] = MANAGERS
    delete_roles: frozenset[str] = MANAGERS

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.for_user(request.user, roles=self.view_roles)

    def get_list_filter(self, request):
        """A relation filter offers only the related rows the user's changelist holds: a plain one would list
        every row of the related table (every organization's name, for the `organization` filter)."""
        filters = super().get_list_filter(request)
        if request.user.is_superuser:
            return filters
        return [self._scoped_list_filter(item) for item in filters]

    def _scoped_list_filter(self, item):
        if not isinstance(item, str):
            return item
        try:
            field = get_fields_from_path(self.model, item)[-1]
        except (FieldDoesNotExist, NotRelationField):
            return item
        return (item, RelatedOnlyFieldListFilter) if field.is_relation else item

    def _allowed(self, request, roles: frozenset[str], obj: Model | None) -> bool:
        if not request.user.is_active:
            return False
        if request.user.is_superuser:
            return True
        org_roles = roles_by_organization(request)
        if obj is None:
            return any(role in roles for role in org_roles.values())
        return org_roles.get(organization_id_of(obj)) in roles

    def has_module_permission(self, request) -> bool:
        return self._allowed(request, self.view_roles, None)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._allowed(request, self.view_roles, obj) or self.has_change_permission(request, obj)

    def has_add_permission(self, request, *args) -> bool:
        return self._allowed(request, self.add_roles, None)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._allowed(request, self.change_roles, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._allowed(request, self.delete_roles, obj)

    def writable_organizations(self, request):
        if request.user.is_superuser:
            return Organization.objects.all()
        roles = roles_by_organization(request)
        ids = [org_id for org_id, role in roles.items() if role in (self.add_roles | self.change_roles)]
        return Organization.objects.filter(pk__in=ids)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "queryset" in kwargs:
            pass  # the subclass narrowed it already
        elif db_field.related_model is Organization:
            kwargs["queryset"] = self.writable_organizations(request)
        elif hasattr(db_field.related_model.objects, "for_user") and not request.user.is_superuser:
            kwargs["queryset"] = db_field.related_model.objects.for_user(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
