"""Celery tasks of the inventory: sending commands to things and the sweep that follows them up (everything that
talks to NATS runs in a worker, never in a request)."""

from celery import shared_task

from inventory import dispatch, outbox


@shared_task(name=outbox.DELIVER_COMMAND, acks_late=True)
def deliver_command(command_id: int) -> str | None:
    """Send one command and record its outcome (at most once: the command is claimed first)."""
    return dispatch.deliver(command_id)


@shared_task(acks_late=True)
def sweep_commands() -> dict:
    """Every few seconds (beat): answers of queued commands, expiry, commands a lost task never sent."""
    return dispatch.sweep()
