import json

from django.contrib import admin
from django.utils.html import format_html

from audit.models import AuditEvent
from tenancy.admin_mixins import OrgScopedAdminMixin
from tenancy.roles import AUDIT_READERS


class ObjectTypeFilter(admin.SimpleListFilter):
    title = "object type"
    parameter_name = "object_type"

    def lookups(self, request, model_admin):
        types = model_admin.get_queryset(request).exclude(object_type="").order_by("object_type")
        return [(value, value) for value in types.values_list("object_type", flat=True).distinct()]

    def queryset(self, request, queryset):
        return queryset.filter(object_type=self.value()) if self.value() else queryset


def _pretty(value) -> str:
    return "—" if value is None else json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def diff_rows(event: AuditEvent) -> list[dict]:
    """Field-by-field before/after of a change event, for the detail page."""
    before, after = event.before or {}, event.after or {}
    if not before and not after:
        return []
    rows = []
    for name in sorted(before.keys() | after.keys()):
        old, new = before.get(name), after.get(name)
        changed = name in event.changed_fields or old != new
        rows.append({"field": name, "before": _pretty(old), "after": _pretty(new), "changed": changed})
    return rows


@admin.register(AuditEvent)
class AuditEventAdmin(OrgScopedAdminMixin, admin.ModelAdmin):
    """Read-only for everyone, superusers included: the log is changed by nobody."""

    view_roles = AUDIT_READERS
    add_roles = change_roles = delete_roles = frozenset()
    actions = None
    date_hierarchy = "timestamp"
    list_display = ["timestamp", "action", "object_type", "object_repr", "actor_name", "organization_slug", "ip"]
    list_filter = [
        ("organization", admin.RelatedOnlyFieldListFilter),
        ("actor", admin.RelatedOnlyFieldListFilter),
        "action",
        ObjectTypeFilter,
        ("timestamp", admin.DateFieldListFilter),
    ]
    search_fields = ["=object_id", "actor_name", "object_repr", "=request_id", "extra__path"]
    show_full_result_count = False
    change_form_template = "admin/audit/auditevent/change_form.html"
    fieldsets = [
        (None, {"fields": ["timestamp", "action", "organization_slug", "object_type", "object_id", "object_repr"]}),
        ("Who and where", {"fields": ["actor_name", "actor", "request_id", "ip", "user_agent"]}),
        ("Details", {"fields": ["changed_fields", "extra_json"]}),
        ("Integrity", {"fields": ["chain", "sequence", "prev_hash", "hash", "key_id"], "classes": ["collapse"]}),
    ]
    readonly_fields = ["extra_json"]

    @admin.display(description="extra")
    def extra_json(self, obj: AuditEvent) -> str:
        return format_html("<pre>{}</pre>", _pretty(obj.extra)) if obj.extra else "—"

    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["audit_diff"] = diff_rows(obj)
        return super().render_change_form(request, context, add, change, form_url, obj)
