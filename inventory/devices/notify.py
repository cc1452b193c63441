"""Config notifications: a device learns without polling that its config changed.

Whatever changes what `GET /api/v1/devices/config/` answers for an enrolled thing (its certificate renewed, its
host edited, a CA rotated, a certificate of the CA blocklisted, its JWT reissued, its type's operations edited)
calls `things_changed(organization_id, codes)` inside its transaction (the receivers in `inventory.signals` do).
The codes of one transaction are gathered, and after it commits one Celery task per organization
(`inventory.tasks.notify_devices`) publishes an empty message on each thing's `_SA.config.<code>`, connected as the
organization's platform service user (allowed to publish on `_SA.config.>`). Each thing's contract lets it
subscribe to its own subject (`inventory.contracts.NOTIFY`); the device then fetches its config again, with
`If-None-Match`, so a notification for nothing new costs it a 304.

A lost notification is not a lost change: the device also fetches its config periodically and when it renews.
"""

from __future__ import annotations

import logging
from collections import defaultdict

from celery import current_app
from django.conf import settings
from django.db import connection, transaction

log = logging.getLogger(__name__)

TASK = "inventory.tasks.notify_devices"
_ATTRIBUTE = "_stoneage_device_notices"


def _pending() -> dict[int, set[str]]:
    """The codes gathered in the current transaction, with one on-commit flush registered for them."""
    current = getattr(connection, _ATTRIBUTE, None)
    if current is not None:
        flush, pending = current
        # A rolled-back transaction (or savepoint) drops its callbacks: start again if ours is gone.
        if any(entry[1] is flush for entry in connection.run_on_commit):
            return pending
    pending: dict[int, set[str]] = defaultdict(set)

    def flush() -> None:
        if getattr(connection, _ATTRIBUTE, (None,))[0] is flush:
            delattr(connection, _ATTRIBUTE)
        for organization_id, codes in pending.items():
            queue(organization_id, sorted(codes))

    setattr(connection, _ATTRIBUTE, (flush, pending))
    transaction.on_commit(flush)
    return pending


def things_changed(organization_id: int, codes) -> None:
    """Tell these things of the organization, after the current transaction commits, that their config changed."""
    codes = [code for code in codes if code]
    if not codes:
        return
    if not connection.in_atomic_block:
        queue(organization_id, sorted(set(codes)))
        return
    _pending()[organization_id].update(codes)


def queue(organization_id: int, codes: list[str]) -> None:
    try:
        current_app.signature(TASK, args=(organization_id, codes)).apply_async()
    except Exception as exc:  # broker unavailable: never fail the change; devices also poll
        log.warning("Could not queue the config notifications of %d thing(s): %s", len(codes), exc)


class NotifyError(Exception):
    pass


def notifier_credentials(organization_id: int) -> tuple[str, str]:
    """The JWT and seed of the organization's platform service user, given publish rights on `_SA.config.>` if it
    was made before they existed."""
    from credentials.models import NatsUser
    from credentials.secrets import reveal
    from credentials.services import nats as nats_svc

    user = NatsUser.objects.filter(
        organization_id=organization_id,
        account__is_system=False,
        name=nats_svc.PLATFORM_SERVICE_USER,
        active=True,
    ).first()
    if user is None:
        raise NotifyError(f"organization {organization_id} has no active platform service user")
    user = nats_svc.ensure_platform_service_user(user.account)
    return user.jwt, reveal(user, "seed")


def publish(organization_id: int, codes: list[str]) -> int:
    """Publish the notifications (the Celery task's body). Returns how many were sent."""
    from credentials import push
    from inventory import contracts

    if not codes:
        return 0
    credentials = notifier_credentials(organization_id)
    timeout = settings.NATS_REQUEST_TIMEOUT

    async def send() -> None:
        nc = await push.system_connection(credentials, settings.NATS_URL, timeout)
        try:
            for code in codes:
                await nc.publish(contracts.notify_subject(code), b"")
            await nc.flush(timeout=timeout)
        finally:
            await nc.close()

    try:
        push.run_async(send)
    except (TimeoutError, push.PushError, OSError) as exc:
        raise NotifyError(str(exc) or type(exc).__name__) from exc
    return len(codes)
