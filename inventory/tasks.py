"""Celery tasks of the inventory, registered under the names they are queued by: config notifications to
devices (`inventory.devices.notify`), the digital-twin buckets (`credentials.outbox`), and sending commands to
things with the sweep that follows them up (`inventory.outbox`; everything that talks to NATS runs in a worker)."""

from celery import shared_task

from credentials import outbox
from credentials.models import Account
from credentials.services import nats as svc
from inventory import dispatch
from inventory import outbox as inventory_outbox
from inventory.devices import notify
from inventory.twin import store


@shared_task(
    name=notify.TASK,
    autoretry_for=(notify.NotifyError,),
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=5,
    acks_late=True,
)
def notify_devices(organization_id: int, codes: list[str]) -> dict:
    """Publish an empty message on each thing's `_SA.config.<code>`; retried while NATS is unreachable."""
    return {"notified": notify.publish(organization_id, codes)}


@shared_task(
    name=outbox.CREATE_TWIN_BUCKETS,
    autoretry_for=(store.TwinUnavailable,),
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=8,
    acks_late=True,
)
def create_twin_buckets(account_id: int) -> dict:
    """Create the `twin` and `twin_desired` buckets in an organization's account (idempotent), as its platform
    service user, whose permissions are brought in line first. The live view creates them too when they are
    missing, so an account that exhausted these retries gets them once someone looks."""
    account = Account.objects.filter(pk=account_id, organization__isnull=False, active=True).first()
    if account is None:
        return {"skipped": True}
    svc.ensure_platform_service_user(account)
    store.create_buckets(account)
    return {"created": account.name}


@shared_task(name=inventory_outbox.DELIVER_COMMAND, acks_late=True)
def deliver_command(command_id: int) -> str | None:
    """Send one command and record its outcome (at most once: the command is claimed first)."""
    return dispatch.deliver(command_id)


@shared_task(acks_late=True)
def sweep_commands() -> dict:
    """Every few seconds (beat): answers of queued commands, expiry, commands a lost task never sent."""
    return dispatch.sweep()
