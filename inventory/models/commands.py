"""Commands: requests the control plane sends to one thing on one of its type's `reply` operations, and what
became of them. The thing's reply is the acknowledgment.

A command is sent at once when the thing is online. When nothing answers and the operation has a TTL, it waits in
the organization's JetStream stream `commands` for the thing to pull it, until `expires_at`; with a TTL of 0 it
fails at once. See `inventory.services.commands` for the life of a command and `inventory.commands` for the
subjects.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from inventory.models.base import InventoryModel
from inventory.models.contracts import Operation
from inventory.models.things import Thing


class Command(InventoryModel):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        FAILED = "failed", "Failed"
        TIMED_OUT = "timed_out", "Timed out"
        EXPIRED = "expired", "Expired"

    #: Statuses a command never leaves.
    FINAL = (Status.ACKNOWLEDGED, Status.FAILED, Status.TIMED_OUT, Status.EXPIRED)

    thing = models.ForeignKey(Thing, on_delete=models.CASCADE, related_name="commands")
    # The history outlives the operation (a type's operations replaced): its name stays.
    operation = models.ForeignKey(Operation, null=True, on_delete=models.SET_NULL, related_name="commands")
    operation_name = models.CharField(max_length=64)
    subject = models.CharField(max_length=255, help_text="The thing's subject the command is sent on.")
    payload = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    reply = models.JSONField(null=True, blank=True, help_text="The thing's answer (JSON, or its text).")
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ttl = models.PositiveIntegerField(default=0, help_text="Seconds the command may wait for an offline thing.")
    expires_at = models.DateTimeField(help_text="Not delivered after this moment.")
    sent_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    #: Sequence of the command's message in the stream `commands` while it waits for its thing.
    stream_sequence = models.PositiveBigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["organization", "thing", "-created"], name="command_org_thing_created"),
            models.Index(fields=["organization", "status", "-created"], name="command_org_status_created"),
            # The beat's sweep: commands still waiting, by deadline.
            models.Index(
                fields=["expires_at"],
                name="command_waiting_expiry",
                condition=models.Q(status__in=["queued", "sent"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.operation_name} → {self.thing.code} #{self.pk}"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL
