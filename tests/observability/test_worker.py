"""A Celery worker's lines carry the request id of the request that queued the task, and its task failures show
on the web's /metrics (counted in Redis, see stoneage/metrics.py)."""

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from audit.middleware import AuditContextMiddleware
from stoneage.celery import app
from tests.audit.support import shared_database_url, subprocess_env
from tests.observability.celery_tasks import fail, say
from tests.observability.support import scrape, value

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(predicate, timeout: float = 30.0, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def worker(tmp_path, metrics_on):
    """A real `celery worker` on a queue of its own, logging JSON, counting metrics under this test's prefix."""
    database_url = shared_database_url()
    if database_url is None:
        pytest.skip("the test database lives in memory; a worker process cannot share it")
    queue = f"obs-test-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    env = subprocess_env(
        database_url,
        CELERY_BROKER_URL=app.conf.broker_url,
        CELERY_TASK_ALWAYS_EAGER="false",
        LOG_FORMAT="json",
        METRICS_REDIS_PREFIX=metrics_on.METRICS_REDIS_PREFIX,
    )
    command = [
        sys.executable, "-m", "celery", "-A", "stoneage", "worker", "-I", "tests.observability.celery_tasks",
        "-Q", queue, "--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel", "INFO", "--hostname", f"{queue}@%h",
    ]  # fmt: skip
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: " ready." in log.read_text() or process.poll() is not None, 60, "the worker")
        assert process.poll() is None, log.read_text()
        yield queue, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def json_lines(log: Path) -> list[dict]:
    lines = []
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_the_workers_lines_carry_the_id_of_the_request_that_queued_the_task(worker):
    queue, log = worker
    request = RequestFactory().post("/api/v1/orgs/acme/", HTTP_X_REQUEST_ID="incoming-req-5d41402a")

    def view(request):
        say.apply_async(args=["hello from a request"], queue=queue)
        return HttpResponse(status=202)

    assert AuditContextMiddleware(view)(request)["X-Request-ID"] == "incoming-req-5d41402a"
    scheduled = say.apply_async(args=["hello from the beat"], queue=queue)

    def said(text):
        return next((line for line in json_lines(log) if line.get("message") == f"worker says {text}"), None)

    line = wait_for(lambda: said("hello from a request"), what="the task's log line")
    assert line["request_id"] == "incoming-req-5d41402a"
    assert line["logger"] == "tests.observability"
    assert wait_for(lambda: said("hello from the beat"), what="the second line")["request_id"] == scheduled.id


def test_a_task_failure_in_the_worker_shows_on_metrics(worker, client):
    queue, _ = worker
    name = "tests.observability.fail"
    assert value(scrape(client), "stoneage_celery_task_failures_total", task=name) is None
    fail.apply_async(queue=queue)
    fail.apply_async(queue=queue)
    wait_for(
        lambda: value(scrape(client), "stoneage_celery_task_failures_total", task=name) == 2,
        what="two failures counted",
    )
