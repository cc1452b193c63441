"""Writers in other threads and processes: the chain never forks, and tampering is reported by the command."""

import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import DatabaseError, OperationalError, connection, transaction

from audit import integrity
from audit.models import AuditEvent
from audit.services import write_event
from tenancy.models import Invitation
from tests.audit.support import shared_database_url, subprocess_env

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
WRITERS, ROUNDS = 8, 15


@pytest.fixture
def database_url():
    url = shared_database_url()
    if url is None:
        pytest.skip("the test database lives in memory; other connections cannot share it")
    return url


def _retrying(write):
    # SQLite lets one writer in at a time and answers "database is locked" to a writer it cannot queue;
    # PostgreSQL queues them all on the chain's head row.
    for attempt in range(50):
        try:
            return write()
        except OperationalError as exc:
            if connection.vendor != "sqlite" or "locked" not in str(exc):
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("gave up after 50 attempts")


def test_concurrent_writers_leave_one_verifiable_chain(world, database_url):
    chain = f"org:{world.org.pk}"
    before = AuditEvent.objects.filter(chain=chain).count()
    errors = []

    def change(writer: int, round_: int):
        with transaction.atomic():  # rows of their own: nothing but the chain makes these writers wait
            invitation = Invitation(organization=world.org, email=f"w{writer}r{round_}@example.com", role="member")
            invitation.set_new_token()
            invitation.save()
        write_event("api_request", organization_id=world.org.pk, extra={"writer": writer, "round": round_})

    def writer(number: int):
        try:
            for round_ in range(ROUNDS):
                _retrying(lambda: change(number, round_))  # noqa: B023 - called at once
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    report = integrity.verify_chain(chain)
    assert report.broken is None
    assert report.events == before + WRITERS * ROUNDS * 2
    sequences = list(AuditEvent.objects.filter(chain=chain).order_by("sequence").values_list("sequence", flat=True))
    assert sequences == list(range(1, len(sequences) + 1))


def test_verify_audit_exits_non_zero_naming_the_event(world, database_url):
    env = subprocess_env(database_url)
    command = [sys.executable, "manage.py", "verify_audit"]
    passed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert passed.returncode == 0, passed.stderr
    victim = AuditEvent.objects.filter(organization=world.org).order_by("sequence")[1]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_append_only")
        cursor.execute("UPDATE audit_auditevent SET actor_name = 'nobody' WHERE id = %s", [victim.pk])
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_auditevent_append_only")
    failed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1
    assert f"event {victim.pk} (sequence 2) was altered" in failed.stderr


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")
def test_prune_lifts_the_trigger_for_its_own_statement_only(world):
    with transaction.atomic():
        integrity.prune(timedelta(0))
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditevent")
    with pytest.raises(DatabaseError, match="append-only"), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent")
    assert AuditEvent.objects.filter(action="checkpoint").exists()
