"""Celery tasks, one module per half; imported here so that the worker's autodiscovery registers both."""

from credentials.tasks import nats, nebula  # noqa: F401
