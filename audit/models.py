"""Append-only audit events, linked per organization into a keyed hash chain (see `audit.hashing`).

Rows are written only by `audit.services.write_event`. Python refuses to update or delete them (`save()` on
an existing row, `delete()`, and the queryset's `update()` / `delete()` / bulk writes); on PostgreSQL a
trigger (migration 0002) refuses UPDATE and DELETE as well. Retention (`prune_audit`) is the one path that
deletes, and it leaves a checkpoint event so the chain still verifies.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from tenancy.scoping import OrgScopedQuerySet

PLATFORM_CHAIN = "platform"


def chain_for(organization_id: int | None) -> str:
    return f"org:{organization_id}" if organization_id else PLATFORM_CHAIN


class AppendOnlyError(Exception):
    """Raised when code tries to change or delete an audit event."""


class Action(models.TextChoices):
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    DELETE = "delete", "Delete"
    BULK_CREATE = "bulk_create", "Bulk create"
    BULK_UPDATE = "bulk_update", "Bulk update"
    BULK_DELETE = "bulk_delete", "Bulk delete"
    LOGIN = "login", "Login"
    LOGOUT = "logout", "Logout"
    LOGIN_FAILED = "login_failed", "Failed login"
    PASSWORD_RESET_REQUESTED = "password_reset_link", "Password reset link requested"
    PASSWORD_RESET = "password_reset", "Password reset"
    PASSWORD_CHANGED = "password_changed", "Password changed"
    TOKEN_REJECTED = "token_rejected", "API token rejected"
    API_REQUEST = "api_request", "API request"
    CREDENTIAL_READ = "credential_read", "Credential read"
    CHECKPOINT = "checkpoint", "Retention checkpoint"
    KEY_START = "key_start", "Audit key start"


class AuditEventQuerySet(OrgScopedQuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("Audit events are append-only; they cannot be updated.")

    def delete(self):
        raise AppendOnlyError("Audit events are append-only; use `manage.py prune_audit` for retention.")

    def bulk_create(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are written one at a time through the hash chain.")

    def bulk_update(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are append-only; they cannot be updated.")


class AuditEvent(models.Model):
    timestamp = models.DateTimeField(db_index=True)
    # Both foreign keys outlive their rows: SET_NULL detaches events when an organization or user is deleted,
    # and there is no database constraint, so events written during that same delete (its cascade) never
    # block it. The denormalized slug and name keep the record readable.
    organization = models.ForeignKey(
        "tenancy.Organization",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        related_name="+",
    )
    organization_slug = models.CharField(max_length=50, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, help_text="Username, `anonymous` or `system:<command>`.")
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    action = models.CharField(max_length=20, choices=Action.choices)
    object_type = models.CharField(max_length=100, blank=True, help_text="`app_label.model`")
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    changed_fields = models.JSONField(default=list, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    chain = models.CharField(max_length=32)
    sequence = models.PositiveBigIntegerField()
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64)
    key_id = models.CharField(
        max_length=8,
        blank=True,
        default="",
        help_text="Id of the key that chained the event; empty for events from before the log was keyed.",
    )

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-timestamp", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "sequence"], name="audit_event_unique_chain_sequence"),
        ]
        indexes = [
            # The auditor's view and exports: one organization's events by time.
            models.Index(fields=["organization", "timestamp"], name="audit_event_org_time"),
            models.Index(fields=["object_type", "object_id"], name="audit_event_object"),
            models.Index(fields=["actor", "timestamp"], name="audit_event_actor_time"),
        ]

    def __str__(self) -> str:
        target = f" {self.object_type} {self.object_repr or self.object_id}" if self.object_type else ""
        return f"{self.get_action_display()}{target} by {self.actor_name}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("Audit events are append-only; they cannot be changed.")
        if not self.hash:
            raise AppendOnlyError("Write audit events with audit.services.write_event, which links the chain.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("Audit events are append-only; they cannot be deleted.")


class AuditChainHead(models.Model):
    """The last link of each chain. Writers lock this row, so concurrent writers queue instead of forking
    the chain, and `verify_audit` notices when events were removed from the end."""

    chain = models.CharField(max_length=32, primary_key=True)
    sequence = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return f"{self.chain} @ {self.sequence}"
