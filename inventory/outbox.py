"""How command actions ask for a delivery after their transaction commits (the tasks register under these names;
see `credentials.outbox` for the pattern). Queueing never fails the user's request: the beat's sweep sends a
command a lost task left waiting."""

from __future__ import annotations

import logging

from celery import current_app

log = logging.getLogger(__name__)

DELIVER_COMMAND = "inventory.tasks.deliver_command"


def deliver_command(command_id: int) -> None:
    try:
        current_app.signature(DELIVER_COMMAND, args=(command_id,)).apply_async()
    except Exception as exc:  # broker unavailable
        log.warning("Could not queue the delivery of command %s (%s); the sweep will send it.", command_id, exc)
