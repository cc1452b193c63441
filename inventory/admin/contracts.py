"""Thing types with their operations, message schemas and location types: the organization's contracts, which
owners and admins define and every member reads. Every write is a domain action of `inventory.services.types`,
so that a type's contract follows its prefix and operations."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Count

from inventory.admin.base import InventoryAdmin, InventoryForm, InventoryInline, adopt, fresh
from inventory.models import LocationType, MessageSchema, Operation, ThingType
from inventory.services import types as svc
from tenancy.admin_mixins import error_text
from tenancy.roles import MANAGERS


class ContractAdmin(InventoryAdmin):
    add_roles = change_roles = delete_roles = MANAGERS

    def changed_fields(self, form) -> dict:
        return {name: form.cleaned_data[name] for name in form.changed_data if name != "organization"}

    def refuse(self, request, obj, exc: ValidationError) -> None:
        self.message_user(request, f"{obj}: {error_text(exc)}", messages.ERROR)


# --- Message schemas ---------------------------------------------------------------------------------------------


@admin.register(MessageSchema)
class MessageSchemaAdmin(ContractAdmin):
    list_display = ["__str__", "namespace", "name", "version", "organization", "operation_count", "updated"]
    list_filter = ["namespace", "organization"]
    list_select_related = ["organization"]
    search_fields = ["namespace", "name", "version", "description"]
    fields = ["organization", "namespace", "name", "version", "description", "schema"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(operation_count=Count("operations"))

    @admin.display(description="Operations", ordering="operation_count")
    def operation_count(self, obj) -> int:
        return obj.operation_count

    def save_model(self, request, obj, form, change):
        if change:
            saved = svc.save_message_schema(fresh(obj), **self.changed_fields(form))
        else:
            saved = svc.save_message_schema(obj)
        adopt(obj, saved)

    def delete_model(self, request, obj):
        try:
            svc.delete_message_schema(obj)
        except ValidationError as exc:
            self.refuse(request, obj, exc)

    def delete_queryset(self, request, queryset):
        for schema in queryset:
            self.delete_model(request, schema)


# --- Thing types and their operations ----------------------------------------------------------------------------


class OperationForm(InventoryForm):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "command_ttl" in self.fields:  # left empty: 0, commands refused when the thing is offline
            self.fields["command_ttl"].required = False

    def clean_command_ttl(self):
        return self.cleaned_data.get("command_ttl") or 0


class OperationInline(InventoryInline):
    model = Operation
    form = OperationForm
    fields = [
        "name",
        "capability",
        "subject_suffix",
        "message_schema",
        "subject",
        "description",
        "command_ttl",
        "members_may_command",
    ]
    readonly_fields = ["subject"]
    autocomplete_fields = ["message_schema"]
    verbose_name_plural = "operations (the type's contract: what its things publish, subscribe to, request, answer)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("thing_type", "message_schema")

    @admin.display(description="Subject")
    def subject(self, obj) -> str:
        return obj.subject_template if obj.pk else "—"


@admin.register(ThingType)
class ThingTypeAdmin(ContractAdmin):
    list_display = ["code", "name", "organization", "subject_prefix", "operation_count", "thing_count", "updated"]
    list_filter = ["organization"]
    list_select_related = ["organization"]
    search_fields = ["code", "name", "description"]
    fields = ["organization", "code", "name", "description", "subject_prefix", "metadata_schema", "scoped_key"]
    inlines = [OperationInline]

    def get_queryset(self, request):
        # No select_related here: the changelist applies list_select_related only to a queryset without one.
        return (
            super()
            .get_queryset(request)
            .annotate(operation_count=Count("operations", distinct=True), thing_count=Count("things", distinct=True))
        )

    def get_inlines(self, request, obj):
        # Operations are checked against the saved type (its prefix, its organization's schemas): added once it is.
        return self.inlines if obj is not None else []

    def get_fields(self, request, obj=None):
        return self.fields if obj is not None else [f for f in self.fields if f != "scoped_key"]

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        return [*readonly, "scoped_key"] if obj is not None else readonly

    @admin.display(description="Operations", ordering="operation_count")
    def operation_count(self, obj) -> int:
        return obj.operation_count

    @admin.display(description="Things", ordering="thing_count")
    def thing_count(self, obj) -> int:
        return obj.thing_count

    @admin.display(description="Scoped signing key")
    def scoped_key(self, obj) -> str:
        return obj.signing_key.public_key if obj.signing_key_id else "— none yet —"

    def save_model(self, request, obj, form, change):
        if change:
            saved = svc.update_type(fresh(obj), **self.changed_fields(form))
        else:
            fields = {name: form.cleaned_data[name] for name in form.cleaned_data if name != "organization"}
            saved = svc.create_type(organization=obj.organization, **fields)
        adopt(obj, saved)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Operation:
            return super().save_formset(request, form, formset, change)
        changed = formset.save(commit=False)  # new and changed operations, unsaved; deletions listed, not done
        for operation in formset.deleted_objects:
            svc.delete_operation(operation)
        for operation in changed:
            operation.thing_type = form.instance
            svc.save_operation(operation)
        return None

    def delete_model(self, request, obj):
        try:
            svc.delete_type(obj)
        except ValidationError as exc:
            self.refuse(request, obj, exc)

    def delete_queryset(self, request, queryset):
        for thing_type in queryset:
            self.delete_model(request, thing_type)


# --- Location types ----------------------------------------------------------------------------------------------


@admin.register(LocationType)
class LocationTypeAdmin(ContractAdmin):
    list_display = ["code", "name", "organization", "location_count", "updated"]
    list_filter = ["organization"]
    list_select_related = ["organization"]
    search_fields = ["code", "name", "description"]
    fields = ["organization", "code", "name", "description", "metadata_schema"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(location_count=Count("locations"))

    @admin.display(description="Locations", ordering="location_count")
    def location_count(self, obj) -> int:
        return obj.location_count
