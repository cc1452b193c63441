"""The NATS push outbox: how domain actions ask for a push after their transaction commits.

Domain actions (`credentials.services.nats`) sit below the tasks that run the push pipeline
(`credentials.tasks.nats` → `credentials.push` → the services), so they never import them. This module names the
tasks; the tasks register under these names. A task is looked up in the Celery registry by name when the
process has it (eager mode honoured), or sent by name to the workers otherwise.

Queueing never fails the user's change: when the broker is down the request still succeeds and the beat task
`push_pending` catches up (every account behind, every deletion owed to NATS).
"""

from __future__ import annotations

import logging

from celery import current_app

log = logging.getLogger(__name__)

PUSH_ACCOUNT = "credentials.tasks.nats.push_account"
PUSH_PENDING = "credentials.tasks.nats.push_pending"
#: After an organization's account is first on NATS, its platform service user creates the twin buckets.
CREATE_TWIN_BUCKETS = "inventory.tasks.create_twin_buckets"


def push_account(account_id: int) -> None:
    """Queue the push of one account's current state (its JWT, or its deletion when it is switched off)."""
    _send(PUSH_ACCOUNT, account_id, what=f"the NATS push of account {account_id}")


def push_pending() -> None:
    """Queue a run over every account behind and every account deletion still owed to NATS."""
    _send(PUSH_PENDING, what="the pending NATS pushes and account deletions")


def create_twin_buckets(account_id: int) -> None:
    """Queue the creation of the digital-twin buckets in an account that was just pushed for the first time."""
    _send(CREATE_TWIN_BUCKETS, account_id, what=f"the twin buckets of account {account_id}")


def _send(task: str, *args, what: str) -> None:
    try:
        current_app.signature(task, args=args).apply_async()
    except Exception as exc:  # broker unavailable: never fail the user's change
        log.warning("Could not queue %s (%s); the beat task will retry.", what, exc)
