"""Receivers that turn other parts of the system into audit events or carry the audit context along:
logins and logouts, password resets and changes, API token failures, Celery tasks, management commands, and
the deletion of an organization or user that events point to."""

from __future__ import annotations

import functools
import uuid

from celery import signals as celery_signals
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.core.management.base import BaseCommand
from django.db.models.signals import post_delete

from audit import services
from audit.context import AuditContext, activate, audit_context, current, deactivate
from audit.models import AuditEvent
from tenancy.models import Organization
from tenancy.signals import api_token_rejected, password_changed, password_reset_requested

#: Message header that carries the audit context from the code that queues a task to the worker.
CELERY_HEADER = "stoneage_audit"
_task_tokens: dict[str, object] = {}


def connect() -> None:
    user_model = get_user_model()
    user_logged_in.connect(_logged_in, dispatch_uid="audit:login")
    user_logged_out.connect(_logged_out, dispatch_uid="audit:logout")
    user_login_failed.connect(_login_failed, dispatch_uid="audit:login-failed")
    api_token_rejected.connect(_token_rejected, dispatch_uid="audit:token-rejected")
    password_reset_requested.connect(_password_reset_requested, dispatch_uid="audit:password-reset-requested")
    password_changed.connect(_password_changed, dispatch_uid="audit:password-changed")
    post_delete.connect(_detach_organization, sender=Organization, dispatch_uid="audit:detach-organization")
    post_delete.connect(_detach_actor, sender=user_model, dispatch_uid="audit:detach-actor")
    celery_signals.before_task_publish.connect(_task_published, dispatch_uid="audit:task-published")
    celery_signals.task_prerun.connect(_task_started, dispatch_uid="audit:task-started")
    celery_signals.task_postrun.connect(_task_finished, dispatch_uid="audit:task-finished")
    _audit_management_commands()


# --- Authentication ------------------------------------------------------------------------------------------


def _logged_in(sender, request, user, **kwargs) -> None:
    services.record_login(request=request, user=user)


def _logged_out(sender, request, user, **kwargs) -> None:
    services.record_logout(request=request, user=user)


def _login_failed(sender, credentials, request=None, **kwargs) -> None:
    # Only the username tried; Django has already masked the password, and it is not copied anyway.
    field = get_user_model().USERNAME_FIELD
    username = credentials.get(field) or credentials.get("username") or ""
    services.record_login_failed(request=request, username=str(username))


def _password_reset_requested(sender, request, email: str, users, **kwargs) -> None:
    services.record_password_reset_requested(request=request, email=email, users=users)


def _password_changed(sender, user, reset: bool, **kwargs) -> None:
    services.record_password_changed(user=user, reset=reset)


def _token_rejected(sender, request, prefix: str, reason: str, **kwargs) -> None:
    services.record_token_rejected(request=request, prefix=prefix, reason=reason)


# --- Deleted organizations and users -------------------------------------------------------------------------


def _detach_organization(sender, instance, using, **kwargs) -> None:
    # SET_NULL detached the events that existed before the delete; this detaches those written during it.
    AuditEvent._base_manager.using(using).filter(organization_id=instance.pk).update(organization=None)


def _detach_actor(sender, instance, using, **kwargs) -> None:
    AuditEvent._base_manager.using(using).filter(actor_id=instance.pk).update(actor=None)


# --- Celery: a task acts in the context of the request that queued it ----------------------------------------


def _task_published(headers=None, **kwargs) -> None:
    context = current()
    if headers is not None and context.is_open():
        headers[CELERY_HEADER] = context.as_headers()


def _task_started(task_id=None, task=None, **kwargs) -> None:
    if task is None or task.request.is_eager:
        return  # an eager task runs inline, in its caller's context already
    headers = getattr(task.request, CELERY_HEADER, None)
    if isinstance(headers, dict):
        context = AuditContext.from_headers(headers)
    else:
        context = AuditContext(request_id=task_id or "", actor_name=f"system:{task.name}")
    _task_tokens[task_id] = activate(context)


def _task_finished(task_id=None, **kwargs) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        deactivate(token)


# --- Management commands act as `system:<command>` -----------------------------------------------------------


def _audit_management_commands() -> None:
    execute = BaseCommand.execute
    if getattr(execute, "audited", False):
        return

    @functools.wraps(execute)
    def audited_execute(self, *args, **options):
        if current().is_open():  # called from a request, a task or another command
            return execute(self, *args, **options)
        name = type(self).__module__.rsplit(".", 1)[-1]
        with audit_context(actor_name=f"system:{name}", request_id=uuid.uuid4().hex):
            return execute(self, *args, **options)

    audited_execute.audited = True
    BaseCommand.execute = audited_execute
