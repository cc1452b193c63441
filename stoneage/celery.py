import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stoneage.settings")

app = Celery("stoneage")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _connect_signals() -> None:
    # Task failures and retries are counted where /metrics reads them, whichever process runs the task.
    from stoneage import metrics

    metrics.connect_celery()


_connect_signals()
