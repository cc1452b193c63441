"""Tasks for the observability tests' Celery worker (`celery worker -I tests.observability.celery_tasks`)."""

import logging

from celery import shared_task

log = logging.getLogger("tests.observability")


@shared_task(name="tests.observability.say")
def say(text: str) -> None:
    log.warning("worker says %s", text)


@shared_task(name="tests.observability.fail")
def fail() -> None:
    raise RuntimeError("this task fails on purpose")
