"""HTTP tokens of things in the admin: listed and revoked here (owners and admins; auditors read), issued from a
thing's page (action "Issue an HTTP token": the token is shown once, on the page the action answers)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse

from inventory.admin.base import ThingTokenAdmin
from inventory.devices import gateway_auth
from inventory.models import DeviceToken
from tenancy.admin_mixins import error_text


@admin.register(DeviceToken)
class DeviceTokenAdmin(ThingTokenAdmin):
    revoke_token = staticmethod(gateway_auth.revoke_token)
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
