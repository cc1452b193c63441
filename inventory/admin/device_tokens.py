"""HTTP tokens of things in the admin: listed and revoked here (owners and admins; auditors read), issued from a
thing's page (action "Issue an HTTP token": the token is shown once, on the page the action answers)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse

from inventory.devices import gateway_auth
from inventory.models import DeviceToken
from tenancy.admin_mixins import OrgScopedAdminMixin, apply_each, error_text
from tenancy.roles import MANAGERS, Role


@admin.register(DeviceToken)
class DeviceTokenAdmin(OrgScopedAdminMixin, admin.ModelAdmin):
    view_roles = MANAGERS | {Role.AUDITOR}
    add_roles = change_roles = delete_roles = frozenset()
    list_display = ["prefix", "thing", "name", "status", "expires_at", "last_used_at", "created_by", "organization"]
    list_select_related = ["thing", "created_by", "organization"]
    search_fields = ["prefix", "thing__code", "name"]
    readonly_fields = [
        "thing",
        "name",
        "prefix",
        "status",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "created_by",
        "created",
    ]
    fields = readonly_fields
    actions = ["revoke"]

    @admin.display(description="Status")
    def status(self, obj: DeviceToken) -> str:
        return obj.status

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_revoke_permission(self, request) -> bool:
        return self._allowed(request, MANAGERS, None)

    @admin.action(description="Revoke selected HTTP tokens", permissions=["revoke"])
    def revoke(self, request, queryset):
        managed = [token for token in queryset if self._allowed(request, MANAGERS, token)]
        apply_each(self, request, managed, gateway_auth.revoke_token, "{count} token(s) revoked.")


def issue_http_token_response(model_admin, request, things):
    """The thing admin's action page: the new HTTP token, shown this once."""
    if len(things) != 1:
        model_admin.message_user(request, "Select exactly one thing you manage to issue a token.", messages.WARNING)
        return None
    thing = things[0]
    try:
        token, secret = gateway_auth.issue_token(thing, created_by=request.user, name="issued in the admin")
    except ValidationError as exc:
        model_admin.message_user(request, f"{thing}: {error_text(exc)}", messages.ERROR)
        return None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"HTTP token for {thing}",
        "thing": thing,
        "token": token,
        "secret": secret,
        "opts": model_admin.model._meta,
    }
    response = TemplateResponse(request, "admin/inventory/thing/http_token.html", context)
    response["Cache-Control"] = "no-store"
    return response
