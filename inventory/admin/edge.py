"""Leaf nodes in the admin. Everyone in the organization sees them with their liveness (online when a report came
within 3 report intervals); owners and admins create, edit, deactivate, reactivate and delete them, and download a
leaf's bootstrap bundle (its creds and `nats-leaf.conf`; audited) for a first install by hand."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.utils.cache import patch_cache_control
from django.utils.http import content_disposition_header

from audit.services import record_credential_read
from inventory import leafconf
from inventory.admin.base import InventoryAdmin, InventoryForm, adopt, fresh
from inventory.models import LeafNode
from inventory.services import edge as svc
from tenancy.admin_mixins import apply_each, error_text
from tenancy.roles import MANAGERS


class LeafNodeForm(InventoryForm):
    class Meta:
        model = LeafNode
        fields = ["organization", "code", *svc.EDITABLE_FIELDS]


@admin.register(LeafNode)
class LeafNodeAdmin(InventoryAdmin):
    form = LeafNodeForm
    add_roles = change_roles = MANAGERS
    list_display = ["code", "name", "domain", "location", "organization", "active", "online", "last_seen_at"]
    list_filter = ["active", "location", "organization"]
    list_select_related = ["location", "organization"]
    search_fields = ["code", "name", "domain"]
    autocomplete_fields = ["location"]
    actions = ["download_bootstrap", "deactivate", "reactivate"]

    def get_fieldsets(self, request, obj=None):
        state = ["active", "nats_user", "system_user", "last_seen_at", "last_status"] if obj is not None else []
        return [
            (None, {"fields": ["organization", "code", "name", "description", "location"]}),
            ("Edge", {"fields": ["domain", "synced", "report_interval", "nebula_host", *state]}),
        ]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            readonly += ["code", "active", "nats_user", "system_user", "last_seen_at", "last_status"]
        return readonly

    @admin.display(boolean=True, description="Online")
    def online(self, obj) -> bool:
        return obj.online

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            changes = {name: data[name] for name in form.changed_data if name in svc.EDITABLE_FIELDS}
            saved = svc.update_leaf_node(fresh(obj), **changes) if changes else obj
        else:
            fields = {name: data[name] for name in ("code", *svc.EDITABLE_FIELDS) if name in data}
            saved = svc.create_leaf_node(organization=obj.organization, **fields)
        adopt(obj, saved)

    def delete_model(self, request, obj):
        svc.delete_leaf_node(obj)

    def delete_queryset(self, request, queryset):
        for leaf in queryset:
            svc.delete_leaf_node(leaf)

    def has_identity_permission(self, request) -> bool:
        return self.is_manager(request)

    def _managed(self, request, queryset) -> list[LeafNode]:
        return [leaf for leaf in queryset.select_related("organization") if self.is_manager(request, leaf)]

    @admin.action(description="Download the bootstrap bundle (one leaf; audited)", permissions=["identity"])
    def download_bootstrap(self, request, queryset):
        leaves = self._managed(request, queryset)
        if len(leaves) != 1:
            self.message_user(request, "Select exactly one leaf node you manage.", messages.WARNING)
            return None
        leaf = leaves[0]
        try:
            with transaction.atomic():
                bundle = svc.bootstrap(leaf)
                record_credential_read(obj=leaf, kind="leaf.bootstrap", request=request)
        except ValidationError as exc:
            self.message_user(request, f"{leaf}: {error_text(exc)}", messages.ERROR)
            return None
        body = bundle.as_dict(leafconf.Paths())
        response = HttpResponse(json.dumps(body, indent=2), content_type="application/json")
        response["Content-Disposition"] = content_disposition_header(True, f"leaf-{leaf.code}-bootstrap.json")
        patch_cache_control(response, no_store=True, private=True)
        return response

    @admin.action(description="Deactivate (revoke its credentials)", permissions=["identity"])
    def deactivate(self, request, queryset):
        apply_each(
            self,
            request,
            self._managed(request, queryset),
            svc.deactivate_leaf_node,
            "{count} leaf node(s) deactivated.",
        )

    @admin.action(description="Reactivate (new credentials)", permissions=["identity"])
    def reactivate(self, request, queryset):
        apply_each(
            self,
            request,
            self._managed(request, queryset),
            svc.reactivate_leaf_node,
            "{count} leaf node(s) reactivated.",
        )
