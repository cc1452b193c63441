"""What every inventory admin page shares: organization scoping with the inventory's roles, relation choices
narrowed to the organizations where the user may write, and model errors keyed by a metadata path
(`metadata.floor`) shown on the metadata field with the failing field named."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from tenancy.admin_mixins import OrgScopedAdminMixin, apply_each, roles_by_organization
from tenancy.models import Organization
from tenancy.roles import ALL_ROLES, EDITORS, MANAGERS, Role


def has_nul(value) -> bool:
    """Whether a JSON document holds a NUL character in a string or a key."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(key) or has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(has_nul(item) for item in value)
    return False


class InventoryForm(forms.ModelForm):
    """A model form whose model errors may name a field inside a JSON field (`metadata.floor`): such an error
    is shown on that JSON field, prefixed with the path, instead of failing the request. JSON documents with a
    NUL character are refused here (PostgreSQL cannot store one in jsonb)."""

    def clean(self):
        cleaned = super().clean()
        for name, field in self.fields.items():
            if isinstance(field, forms.JSONField) and has_nul(cleaned.get(name)):
                self.add_error(name, "Null characters are not allowed.")
        return cleaned

    def _update_errors(self, errors: ValidationError) -> None:
        if hasattr(errors, "error_dict"):
            moved: dict[str, list] = {}
            for key, messages in errors.error_dict.items():
                field = key.split(".", 1)[0]
                if key in (field, NON_FIELD_ERRORS):
                    moved.setdefault(key, []).extend(messages)
                    continue
                target = field if field in self.fields else NON_FIELD_ERRORS
                for message in messages:
                    for text in ValidationError(message).messages:
                        moved.setdefault(target, []).append(ValidationError(f"{key}: {text}"))
            errors = ValidationError(moved)
        super()._update_errors(errors)


class InventoryAdmin(OrgScopedAdminMixin, admin.ModelAdmin):
    """Every member reads; members (EDITORS) add and change; owners and admins delete. Pages of contract
    definitions (types, schemas, location types) narrow the write roles to MANAGERS."""

    form = InventoryForm
    view_roles = ALL_ROLES
    add_roles = change_roles = EDITORS
    delete_roles = MANAGERS
    show_full_result_count = False  # a second COUNT over the whole organization on every page

    def get_ordering(self, request):
        # The model's ordering, also under the counts the lists annotate (GROUP BY drops Meta.ordering).
        return self.ordering or self.model._meta.ordering

    def is_manager(self, request, obj=None) -> bool:
        """Owner or admin of `obj`'s organization (of any organization when `obj` is None)."""
        return self._allowed(request, MANAGERS, obj)

    def write_organization_ids(self, request) -> list[int]:
        roles = roles_by_organization(request)
        return [org_id for org_id, role in roles.items() if role in (self.add_roles | self.change_roles)]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly = ["organization", *readonly, "created", "updated"]
        return readonly

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        scoped = related is not Organization and hasattr(related.objects, "for_user")
        if "queryset" not in kwargs and scoped and not request.user.is_superuser:
            # Only rows of organizations where the user may write here: another's never offered nor accepted.
            kwargs["queryset"] = related.objects.for_user(request.user, roles=self.add_roles | self.change_roles)
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        widget = getattr(field, "widget", None)
        inner = getattr(widget, "widget", widget)
        if isinstance(inner, AutocompleteSelect):
            inner.__class__ = StorableAutocompleteSelect
        return field


class StorableAutocompleteSelect(AutocompleteSelect):
    """Re-renders a refused form without looking up a posted id the database cannot hold (past 64 bits)."""

    def optgroups(self, name, value, attr=None):
        return super().optgroups(name, [v for v in value if _storable_id(v)], attr)


def _storable_id(value) -> bool:
    try:
        return -(2**63) <= int(value) < 2**63
    except (TypeError, ValueError):
        return False


def fresh(obj):
    """`obj` as stored: the admin form has already set the new values on its instance, while a domain action
    compares what changes against what was."""
    return type(obj)._default_manager.get(pk=obj.pk)


def adopt(obj, saved) -> None:
    """Make the admin's instance the saved row (the admin builds its messages and redirects from it)."""
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False


class InventoryInline(admin.TabularInline):
    """Rows edited on their parent's page, with the parent page's rights: whoever may change the parent adds,
    changes and removes its rows; whoever may view it sees them."""

    extra = 0
    form = InventoryForm

    def parent_admin(self) -> InventoryAdmin:
        return self.admin_site._registry[self.parent_model]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.for_user(request.user, roles=self.parent_admin().view_roles)

    def has_view_permission(self, request, obj=None) -> bool:
        return self.parent_admin().has_view_permission(request, obj)

    def has_add_permission(self, request, obj=None) -> bool:
        return obj is not None and self.parent_admin().has_change_permission(request, obj)

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is not None and self.parent_admin().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return obj is not None and self.parent_admin().has_change_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if "queryset" not in kwargs and not request.user.is_superuser and hasattr(related.objects, "for_user"):
            parent = self.parent_admin()
            kwargs["queryset"] = related.objects.for_user(request.user, roles=parent.add_roles | parent.change_roles)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ThingTokenAdmin(OrgScopedAdminMixin, admin.ModelAdmin):
    """Tokens issued from a thing's page (enrollment, HTTP): read-only here, revocable by owners and admins,
    auditors read them. `revoke_token` is the domain action that revokes one."""

    view_roles = MANAGERS | {Role.AUDITOR}
    add_roles = change_roles = delete_roles = frozenset()
    actions = ["revoke"]

    @staticmethod
    def revoke_token(token):
        raise NotImplementedError

    def get_fields(self, request, obj=None):
        return self.readonly_fields

    @admin.display(description="Status")
    def status(self, obj) -> str:
        return obj.status

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_revoke_permission(self, request) -> bool:
        return self._allowed(request, MANAGERS, None)

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke(self, request, queryset):
        managed = [token for token in queryset if self._allowed(request, MANAGERS, token)]
        apply_each(self, request, managed, type(self).revoke_token, "{count} token(s) revoked.")
