"""Celery tasks: everything that talks to NATS runs here, never in a request. The push tasks are registered under
the names `credentials.outbox` queues them by."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from credentials import outbox, push
from credentials.models import Account
from credentials.services import nats as svc


@shared_task(
    bind=True,
    name=outbox.PUSH_ACCOUNT,
    # A dropped database connection too: Celery's Django fixup closes it after the failed attempt, and the retry
    # reconnects (instead of leaving the account to the beat's next run).
    autoretry_for=(push.PushError, OperationalError, InterfaceError),
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=8,
    acks_late=True,
)
def push_account(self, account_id: int) -> dict:
    """Push one account's current JWT (or its deletion when it is switched off). Retries with backoff; beyond
    that the beat task `push_pending` keeps trying. A task for an account deleted meanwhile does nothing: its
    deletion is the tombstone's to push."""
    account = Account.objects.filter(pk=account_id).first()
    if account is None or not account.push_pending:
        return {"skipped": True}
    report = push.push([account])
    if not report.ok:
        raise push.PushError("; ".join(f"{k}: {v}" for k, v in report.failed.items()))
    return {"pushed": report.pushed}


@shared_task(name=outbox.PUSH_PENDING, acks_late=True)
def push_pending() -> dict:
    """Push every account that is behind and every account deletion still owed to NATS."""
    accounts, tombstones = push.pending()
    report = push.push(accounts, tombstones)
    return {"pushed": report.pushed, "failed": report.failed}


@shared_task(acks_late=True)
def renew_user_jwts() -> dict:
    """Reissue the user JWTs held here that are near their expiry."""
    return {"renewed": svc.renew_user_jwts()}


@shared_task(acks_late=True)
def prune_revocations() -> dict:
    """Drop from every account the revocations whose JWTs have all expired (and push the accounts)."""
    return {"pruned": svc.prune_all_revocations()}


@shared_task(acks_late=True)
def reconcile_switched_off() -> dict:
    """Every few minutes (beat): deactivate the NATS users of people deactivated in bulk, and bring accounts in
    line with organizations (de)activated in bulk; both bypass the signals."""
    result = svc.reconcile_switched_off()
    return {"users_deactivated": result.users_deactivated, "accounts_followed": result.accounts_followed}
