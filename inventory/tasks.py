"""Celery tasks of the inventory: config notifications to devices (`inventory.devices.notify`)."""

from celery import shared_task

from inventory.devices import notify


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
