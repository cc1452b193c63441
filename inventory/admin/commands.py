"""Commands on a thing's admin page: a panel under the form lists the thing's recent commands with their status
(refreshed every 2 s from `<thing>/commands/`, JSON) and, for those allowed to, a small form to send one of its
type's commands (`inventory.services.commands.send_command`, the same action as the API)."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.urls import path, reverse
from django.utils import timezone

from inventory.models import Command, Thing
from inventory.services import commands as svc
from tenancy.admin_mixins import roles_by_organization
from tenancy.roles import Role

RECENT = 20


def command_row(command: Command) -> dict:
    return {
        "id": command.pk,
        "operation": command.operation_name,
        "status": command.status,
        "status_display": command.get_status_display(),
        "payload": command.payload,
        "reply": command.reply,
        "error": command.error,
        "requested_by": command.requested_by.get_username() if command.requested_by_id else "",
        "created": timezone.localtime(command.created).isoformat(timespec="seconds"),
        "answered_at": timezone.localtime(command.answered_at).isoformat(timespec="seconds")
        if command.answered_at
        else None,
    }


class ThingCommandsMixin:
    """For the things' ModelAdmin."""

    change_form_template = "admin/inventory/thing/change_form.html"

    def get_urls(self):
        return [
            path(
                "<path:object_id>/commands/",
                self.admin_site.admin_view(self.commands_view),
                name="inventory_thing_commands",
            ),
            *super().get_urls(),
        ]

    def role_for(self, request, thing: Thing) -> str | None:
        if request.user.is_superuser:
            return Role.OWNER
        return roles_by_organization(request).get(thing.organization_id)

    def recent_commands(self, thing: Thing) -> list[dict]:
        rows = Command.objects.filter(thing=thing).select_related("requested_by")[:RECENT]
        return [command_row(command) for command in rows]

    def commands_context(self, request, thing: Thing) -> dict:
        role = self.role_for(request, thing)
        operations = [op for op in svc.command_operations(thing.thing_type) if svc.may_command(role, op)]
        return {
            "url": reverse("admin:inventory_thing_commands", args=[thing.pk]),
            "operations": operations,
            "rows": self.recent_commands(thing),
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        thing = self.get_object(request, object_id)
        if thing is not None and self.has_view_permission(request, thing):
            extra_context = {**(extra_context or {}), "commands": self.commands_context(request, thing)}
        return super().change_view(request, object_id, form_url, extra_context)

    def commands_view(self, request, object_id):
        """GET: the thing's recent commands (JSON). POST operation, payload (JSON), ttl: send one."""
        thing = self.get_object(request, object_id)
        if thing is None or not self.has_view_permission(request, thing):
            raise Http404("No such thing.")
        if request.method != "POST":
            return JsonResponse({"commands": self.recent_commands(thing)})
        change_url = reverse("admin:inventory_thing_change", args=[thing.pk])
        try:
            command = self.send(request, thing)
        except ValidationError as exc:
            details = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
            text = "; ".join(f"{k}: {' '.join(v)}" if k else " ".join(v) for k, v in details.items())
            messages.error(request, f"The command was not sent. {text}")
        else:
            messages.success(request, f"Command {command.operation_name} #{command.pk} queued for {thing.code}.")
        return HttpResponseRedirect(change_url + "#commands")

    def send(self, request, thing: Thing) -> Command:
        role = self.role_for(request, thing)
        wanted = request.POST.get("operation", "")
        operation = next((op for op in svc.command_operations(thing.thing_type) if str(op.pk) == wanted), None)
        if operation is None:
            raise ValidationError({"operation": ["Choose one of this thing's commands."]})
        if not svc.may_command(role, operation):
            raise ValidationError({"operation": ["Your role does not allow sending this command."]})
        text = request.POST.get("payload", "").strip()
        try:
            payload = json.loads(text) if text else None
        except ValueError as exc:
            raise ValidationError({"payload": [f"Not JSON: {exc}."]}) from None
        ttl_text = request.POST.get("ttl", "").strip()
        if ttl_text and not ttl_text.isdigit():
            raise ValidationError({"ttl": ["Enter a number of seconds."]})
        ttl = int(ttl_text) if ttl_text else None
        if ttl is not None and ttl > 2**31:
            raise ValidationError({"ttl": ["Too long."]})
        return svc.send_command(thing, operation, payload, ttl=ttl, requested_by=request.user)
