"""Celery tasks of the Nebula PKI: the daily renewal and CA expiry warning (scheduled in `CELERY_BEAT_SCHEDULE`)."""

from celery import shared_task

from credentials.services import nebula as svc


@shared_task(acks_late=True)
def renew_due_hosts() -> dict:
    """Renew every active host certificate with at most 20 % of its lifetime left (daily)."""
    report = svc.renew_due_hosts()
    return {"renewed": len(report.renewed), "failed": report.failed}


@shared_task(acks_late=True)
def warn_expiring_cas() -> dict:
    """Log and audit every CA that expires within 90 days, once per CA per day (daily)."""
    expiring = svc.warn_expiring_cas()
    return {"expiring": [{"ca": item.ca_id, "days_left": item.days_left} for item in expiring]}
