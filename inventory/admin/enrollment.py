"""Enrollment in the admin: the tokens of things (read-only, revocable by owners and admins), and on a thing's page
the "Issue an enrollment token" action (the token is shown once, on the page the action answers) and what its
device is behind on (`inventory.services.enrollment.lag`)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse

from inventory.admin.base import ThingTokenAdmin
from inventory.models import EnrollmentToken
from inventory.services import enrollment
from tenancy.admin_mixins import error_text


@admin.register(EnrollmentToken)
class EnrollmentTokenAdmin(ThingTokenAdmin):
    """Issued from a thing (action "Issue an enrollment token"); here they are listed and revoked."""

    revoke_token = staticmethod(enrollment.revoke_token)
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
