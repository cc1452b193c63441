"""Domain actions for commands to things (see `inventory.commands` for the data plane side).

The life of a command:

1. `send_command` checks it (a command operation of the thing's type, the caller's role, the payload against the
   operation's message schema, the TTL), stores it `queued` with its deadline `expires_at`, audits it and queues
   its delivery after commit (`inventory.tasks.deliver_command`).
2. The delivery claims it (`claim`: queued → sent, compare-and-set, so no two workers send it) and sends it as a
   NATS request (`inventory.dispatch`). The reply makes it `acknowledged`; no reply in time makes it
   `timed_out`; nothing subscribed (the thing is offline) makes it `failed` when the TTL is 0, and `queued` in
   the stream `commands` otherwise (`waiting`), until the thing pulls and answers it (`record_reply`) or its
   deadline passes (`expire`).
3. The beat's sweep (`inventory.tasks.sweep_commands`) collects answers of queued commands, expires commands past
   their deadline, sends commands a lost task left waiting and times out commands whose worker died while
   waiting for the reply.

Each change of status is one compare-and-set (`filter(pk=…, status__in=…).update(…)`): a command is answered,
failed or expired once, whoever comes first, and each change writes one audit event.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from audit.models import Action
from audit.services import write_event
from inventory import outbox, schemas, subjects
from inventory.models import Command, Operation, Thing
from stoneage import metrics
from tenancy.roles import MANAGERS, Role

Status = Command.Status
#: Outcomes counted in `/metrics` (`stoneage_command_outcomes_total`).
COUNTED = (Status.ACKNOWLEDGED, Status.FAILED, Status.TIMED_OUT, Status.EXPIRED)
#: Largest reply kept (bytes); a longer one is cut and kept as text.
MAX_REPLY_BYTES = 64 * 1024


def command_operations(thing_type) -> list[Operation]:
    """The type's commands: its reply operations on one subject."""
    return [op for op in thing_type.operations.select_related("thing_type", "message_schema") if op.is_command]


def may_command(role: str | None, operation: Operation) -> bool:
    return role in MANAGERS or (role == Role.MEMBER and operation.members_may_command)


def command_subject(thing: Thing, operation: Operation) -> str:
    return subjects.render(operation.subject_template, thing.subject_values())


def encode(payload) -> bytes:
    return b"" if payload is None else json.dumps(payload, separators=(",", ":")).encode()


def decode_reply(data: bytes):
    """A reply as stored: its JSON value, else its text (cut at MAX_REPLY_BYTES)."""
    if len(data) <= MAX_REPLY_BYTES:
        try:
            return json.loads(data) if data else None
        except ValueError:
            pass
    return data[:MAX_REPLY_BYTES].decode("utf-8", errors="replace")


@transaction.atomic
def send_command(
    thing: Thing, operation: Operation, payload=None, *, ttl: int | None = None, requested_by=None
) -> Command:
    """Store a command for `thing` and queue its delivery after commit. ValidationError (keyed by field:
    `operation`, `payload.<field>`, `ttl`, `thing`) when it cannot be sent; the caller checked the role."""
    errors: dict[str, str] = {}
    if operation.thing_type_id != thing.thing_type_id or not operation.is_command:
        errors["operation"] = "Not a command of this thing's type (its reply operations on one subject)."
    if not thing.active:
        errors["thing"] = "This thing is deactivated; it cannot receive commands."
    elif not thing.nats_user_id:
        errors["thing"] = "This thing has no NATS user; it cannot receive commands."
    if ttl is None:
        ttl = operation.command_ttl
    elif isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0:
        errors["ttl"] = "Enter a number of seconds, 0 or more."
    elif ttl > operation.command_ttl:
        errors["ttl"] = (
            f"At most {operation.command_ttl} seconds for this operation (its command TTL)."
            if operation.command_ttl
            else "This operation's commands never wait for an offline thing: its command TTL is 0."
        )
    if "operation" not in errors:
        schema = operation.message_schema.schema if operation.message_schema_id else None
        errors.update(schemas.document_errors(payload, schema, root="payload"))
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    command = Command.objects.create(
        organization_id=thing.organization_id,
        thing=thing,
        operation=operation,
        operation_name=operation.name,
        subject=command_subject(thing, operation),
        payload=payload,
        ttl=ttl,
        expires_at=now + timedelta(seconds=ttl or settings.COMMAND_DISPATCH_DEADLINE),
        requested_by=requested_by,
    )
    transaction.on_commit(lambda: outbox.deliver_command(command.pk))
    return command


def _change(
    command_id: int, to: str, *, when: Iterable[str], extra_filter: dict | None = None, event: str = "", **fields
) -> bool:
    """Compare-and-set the command's status from one of `when` to `to` (and `fields`); one audit event when it
    moved. Returns whether it did."""
    with transaction.atomic():
        rows = Command.objects.filter(pk=command_id, status__in=list(when), **(extra_filter or {}))
        before = rows.values("status").first()
        if before is None or not rows.update(status=to, **fields):
            return False
        command = Command.objects.get(pk=command_id)
        after = {"status": to, **{k: v for k, v in fields.items() if k in ("error", "reply", "stream_sequence")}}
        write_event(
            Action.UPDATE,
            obj=command,
            organization_id=command.organization_id,
            actor_name="system:commands",
            before={"status": before["status"]},
            after=after,
            changed_fields=sorted(after),
            extra={"command": event or to, "thing": command.thing_id, "operation": command.operation_id},
        )
    if to in COUNTED:
        transaction.on_commit(lambda: metrics.COMMAND_OUTCOMES.inc(status=to))
    return True


def claim(command_id: int) -> Command | None:
    """Take a queued command not yet sent, for sending it now; None when another worker has it, it was sent, or its
    deadline passed."""
    now = timezone.now()
    claimed = Command.objects.filter(
        pk=command_id, status=Status.QUEUED, sent_at__isnull=True, stream_sequence__isnull=True, expires_at__gt=now
    ).update(status=Status.SENT, sent_at=now)
    if not claimed:
        return None
    metrics.COMMAND_OUTCOMES.inc(status=Status.SENT)
    related = ("thing__organization", "thing__location", "thing__thing_type")
    return Command.objects.select_related(*related).get(pk=command_id)


def release(command_id: int) -> bool:
    """The command could not be sent (NATS unreachable): back to queued, for the sweep to send it again before its
    deadline."""
    return bool(
        Command.objects.filter(pk=command_id, status=Status.SENT, stream_sequence__isnull=True).update(
            status=Status.QUEUED, sent_at=None
        )
    )


def acknowledged(command_id: int, reply: bytes) -> bool:
    return _change(
        command_id,
        Status.ACKNOWLEDGED,
        when=[Status.SENT, Status.QUEUED],
        reply=decode_reply(reply),
        answered_at=timezone.now(),
    )


def failed(command_id: int, error: str) -> bool:
    return _change(command_id, Status.FAILED, when=[Status.SENT], error=error, answered_at=timezone.now())


def timed_out(command_id: int, error: str) -> bool:
    return _change(command_id, Status.TIMED_OUT, when=[Status.SENT], error=error, answered_at=timezone.now())


def waiting(command_id: int, sequence: int) -> bool:
    """The thing was offline: the command waits in the stream `commands` (at `sequence`) for it to come back."""
    return _change(
        command_id,
        Status.QUEUED,
        when=[Status.SENT],
        event="waiting",
        stream_sequence=sequence,
        error="The thing is offline; the command waits for it until its deadline.",
    )


def record_reply(organization_id: int, thing_code: str, command_id: int, reply: bytes) -> bool:
    """The answer a thing published for a command it pulled from the stream: recorded once, and only for a command
    of that thing still waiting."""
    return _change(
        command_id,
        Status.ACKNOWLEDGED,
        when=[Status.SENT, Status.QUEUED],
        extra_filter={"organization_id": organization_id, "thing__code": thing_code},
        reply=decode_reply(reply),
        answered_at=timezone.now(),
        error="",
    )


def expire(command_id: int) -> bool:
    return _change(
        command_id,
        Status.EXPIRED,
        when=[Status.QUEUED],
        extra_filter={"expires_at__lte": timezone.now()},
        error="Its deadline passed before the thing answered.",
    )


def due_for_expiry(now: datetime | None = None) -> QuerySet[Command]:
    return Command.objects.filter(status=Status.QUEUED, expires_at__lte=now or timezone.now())


def waiting_in_stream() -> QuerySet[Command]:
    return Command.objects.filter(status__in=[Status.QUEUED, Status.SENT], stream_sequence__isnull=False)


def unsent(older_than: float = 5.0) -> QuerySet[Command]:
    """Queued commands no task has sent yet (broker down, task lost), still within their deadline."""
    now = timezone.now()
    return Command.objects.filter(
        status=Status.QUEUED,
        sent_at__isnull=True,
        stream_sequence__isnull=True,
        expires_at__gt=now,
        created__lte=now - timedelta(seconds=older_than),
    )


def time_out_abandoned(now: datetime | None = None) -> int:
    """Commands left `sent` by a worker that died while waiting for the reply."""
    limit = (now or timezone.now()) - timedelta(seconds=settings.COMMAND_REPLY_TIMEOUT + 60)
    stale = Command.objects.filter(status=Status.SENT, stream_sequence__isnull=True, sent_at__lte=limit)
    return sum(
        timed_out(pk, "No outcome was recorded: the worker sending it stopped.")
        for pk in stale.values_list("pk", flat=True)
    )


def stats(organization=None) -> dict[str, int]:
    """Commands by status (every status, zeros included), for metrics."""
    rows = Command.objects.all()
    if organization is not None:
        rows = rows.for_organization(organization)
    counts = dict(rows.order_by().values_list("status").annotate(n=Count("id")))
    return {status: counts.get(status, 0) for status in Status.values}
