"""Enrollment in the admin: the tokens of things (read-only, revocable by owners and admins), and on a thing's page
the "Issue an enrollment token" action (the token is shown once, on the page the action answers) and what its
device is behind on (`inventory.services.enrollment.lag`)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse

from inventory.models import EnrollmentToken
from inventory.services import enrollment
from tenancy.admin_mixins import OrgScopedAdminMixin, apply_each, error_text
from tenancy.roles import MANAGERS, Role


@admin.register(EnrollmentToken)
class EnrollmentTokenAdmin(OrgScopedAdminMixin, admin.ModelAdmin):
    """Issued from a thing (action "Issue an enrollment token"); here they are listed and revoked."""

    view_roles = MANAGERS | {Role.AUDITOR}
    add_roles = change_roles = delete_roles = frozenset()
    list_display = ["prefix", "thing", "status", "expires_at", "used_at", "created_by", "organization"]
    list_select_related = ["thing", "created_by", "organization"]
    search_fields = ["prefix", "thing__code"]
    readonly_fields = [
        "kind",
        "thing",
        "network",
        "prefix",
        "status",
        "expires_at",
        "used_at",
        "used_by_key",
        "revoked_at",
        "created_by",
        "created",
    ]
    fields = readonly_fields
    actions = ["revoke"]

    @admin.display(description="Status")
    def status(self, obj: EnrollmentToken) -> str:
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
        apply_each(self, request, managed, enrollment.revoke_token, "{count} token(s) revoked.")


def issue_token_response(model_admin, request, things):
    """The admin action's page: the new token, shown this once."""
    if len(things) != 1:
        model_admin.message_user(request, "Select exactly one thing you manage to issue a token.", messages.WARNING)
        return None
    thing = things[0]
    try:
        token, secret = enrollment.issue_token(thing, created_by=request.user)
    except ValidationError as exc:
        model_admin.message_user(request, f"{thing}: {error_text(exc)}", messages.ERROR)
        return None
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Enrollment token for {thing}",
        "thing": thing,
        "token": token,
        "secret": secret,
        "opts": model_admin.model._meta,
    }
    response = TemplateResponse(request, "admin/inventory/thing/enrollment_token.html", context)
    response["Cache-Control"] = "no-store"
    return response
