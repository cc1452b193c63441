"""A Celery task's changes carry the actor and request id of the request that queued it."""

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from audit import integrity
from audit.context import audit_context
from audit.middleware import AuditContextMiddleware
from audit.models import AuditEvent
from stoneage.celery import app
from tests.audit.celery_tasks import describe_organization
from tests.audit.support import shared_database_url, subprocess_env

ROOT = Path(__file__).resolve().parents[2]


def wait_for(query, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = query.first()
        if found is not None:
            return found
        time.sleep(0.2)
    raise AssertionError(f"nothing matched within {timeout}s: {query.query}")


@pytest.fixture
def worker(tmp_path):
    """A real `celery worker` on a queue of its own, sharing the test database."""
    database_url = shared_database_url()
    if database_url is None:
        pytest.skip("the test database lives in memory; a worker process cannot share it")
    queue = f"audit-test-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    env = subprocess_env(database_url, CELERY_BROKER_URL=app.conf.broker_url, CELERY_TASK_ALWAYS_EAGER="false")
    command = [
        sys.executable, "-m", "celery", "-A", "stoneage", "worker", "-I", "tests.audit.celery_tasks",
        "-Q", queue, "--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--loglevel", "INFO", "--hostname", f"{queue}@%h",
    ]  # fmt: skip
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while " ready." not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield queue
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.django_db(transaction=True)
def test_a_worker_acts_for_the_request_that_queued_the_task(world, worker):
    assert not app.conf.task_always_eager  # the worker runs the task, not this process
    admin_user = world.user("admin")
    request = RequestFactory().post("/api/v1/orgs/acme/", REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="fleet-cli/1.0")
    request.user = admin_user

    def view(request):
        describe_organization.apply_async(args=[world.org.pk, "from a request"], queue=worker)
        return HttpResponse(status=202)

    response = AuditContextMiddleware(view)(request)
    event = wait_for(AuditEvent.objects.filter(object_type="tenancy.organization", action="update"))
    assert event.after["description"] == "from a request"
    assert (event.actor_id, event.actor_name) == (admin_user.pk, "adam")
    assert event.request_id == response["X-Request-ID"]
    assert (event.ip, event.user_agent) == ("203.0.113.7", "fleet-cli/1.0")

    # Queued with no request behind it (beat, a shell): the task acts as itself.
    result = describe_organization.apply_async(args=[world.org.pk, "on schedule"], queue=worker)
    event = wait_for(AuditEvent.objects.filter(object_type="tenancy.organization", after__description="on schedule"))
    assert (event.actor_id, event.actor_name) == (None, "system:tests.audit.describe_organization")
    assert event.request_id == result.id
    assert integrity.verify_chain(event.chain).broken is None


@pytest.mark.django_db
def test_an_eager_task_runs_in_its_callers_context(world, monkeypatch):
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    with audit_context(request_id="req-eager-0001", actor_id=world.user("owner").pk, actor_name="olivia"):
        describe_organization.delay(world.org.pk, "eagerly")
    event = AuditEvent.objects.get(object_type="tenancy.organization", action="update")
    assert (event.actor_name, event.request_id) == ("olivia", "req-eager-0001")
