"""Events from before the audit log was keyed (plain SHA-256) keep verifying: migration 0003 starts the key on
every existing chain with a keyed event chained onto its last unkeyed hash, and nothing unkeyed may follow."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from audit import integrity, keys
from audit.hashing import unkeyed_hash
from audit.models import AuditEvent
from audit.services import write_event
from tests.audit.support import tamper, verify, verify_fails

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE_KEYS = [("audit", "0002_append_only_trigger")]
LEGACY = 3


def migrate(targets) -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)


def write_unkeyed_events(apps) -> None:
    """The platform chain as the audit log wrote it before it was keyed."""
    Event = apps.get_model("audit", "AuditEvent")
    Head = apps.get_model("audit", "AuditChainHead")
    prev_hash = ""
    start = timezone.now() - timedelta(days=3)
    for sequence in range(1, LEGACY + 1):
        event = Event(
            timestamp=start + timedelta(days=sequence - 1),
            actor_name="system",
            action="login",
            extra={"n": sequence, "big": 100000000000000000000},
            chain="platform",
            sequence=sequence,
            prev_hash=prev_hash,
        )
        event.key_id = ""  # the field does not exist yet; the canonical form of such an event has no key id
        event.hash = prev_hash = unkeyed_hash(prev_hash, event)
        event.save()
    Head.objects.create(chain="platform", sequence=LEGACY, hash=prev_hash)


@pytest.fixture
def legacy_chain():
    leaves = MigrationExecutor(connection).loader.graph.leaf_nodes()
    migrate(BEFORE_KEYS)
    try:
        write_unkeyed_events(MigrationExecutor(connection).loader.project_state(BEFORE_KEYS).apps)
        migrate(leaves)
    except BaseException:
        migrate(leaves)
        raise
    return list(AuditEvent.objects.filter(chain="platform").order_by("sequence"))


def test_the_migration_starts_the_key_after_the_unkeyed_events(legacy_chain):
    *unkeyed, start = legacy_chain
    assert [event.key_id for event in unkeyed] == [""] * LEGACY
    assert (start.action, start.sequence, start.prev_hash) == ("key_start", LEGACY + 1, unkeyed[-1].hash)
    assert start.key_id == keys.signing_key().id
    assert start.extra == {"unkeyed_through_sequence": LEGACY}
    report = integrity.verify_chain("platform")
    assert (report.broken, report.events, report.unkeyed_through) == (None, LEGACY + 1, LEGACY)
    assert report.key_ids == (keys.signing_key().id,)
    summary = f"Chain platform: {LEGACY + 1} events verified (key ids {start.key_id}; unkeyed through sequence {LEGACY}"
    assert summary in verify()
    event = write_event("login", actor_name="x")
    assert event.prev_hash == start.hash and integrity.verify_chain("platform").broken is None


def test_a_rewritten_unkeyed_event_breaks_at_the_key_start(legacy_chain):
    victim, *rest = legacy_chain[1:LEGACY]
    prev_hash = victim.prev_hash
    victim.object_repr = "forged"
    for event in [victim, *rest]:  # plain SHA-256 needs no key: the forger recomputes the unkeyed links
        event.prev_hash = prev_hash
        event.hash = prev_hash = unkeyed_hash(prev_hash, event)
        tamper(
            "UPDATE audit_auditevent SET object_repr = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [event.object_repr, event.prev_hash, event.hash, event.pk],
        )
    start = legacy_chain[LEGACY]
    assert f"event {start.pk} (sequence {LEGACY + 1}) does not link to the hash of event" in verify_fails()


def test_an_unkeyed_event_after_the_key_start_is_a_downgrade(legacy_chain):
    start = legacy_chain[LEGACY]
    event = write_event("login", actor_name="x")
    event.key_id = ""
    forged = unkeyed_hash(event.prev_hash, event)
    tamper("UPDATE audit_auditevent SET key_id = '', hash = %s WHERE id = %s", [forged, event.pk])
    tamper("UPDATE audit_auditchainhead SET hash = %s WHERE chain = 'platform'", [forged])
    expected = f"event {event.pk} (sequence {LEGACY + 2}) has no key, but the chain is keyed from event {start.pk}"
    assert expected in verify_fails()


def test_retention_keeps_working_across_the_key_start(legacy_chain):
    unkeyed = legacy_chain[:LEGACY]
    (report,) = integrity.prune(timedelta(0), now=unkeyed[1].timestamp)  # only the oldest unkeyed event goes
    assert report.deleted == 1 and report.checkpoint.key_id == keys.signing_key().id
    verified = integrity.verify_chain("platform")
    assert (verified.broken, verified.unkeyed_through) == (None, LEGACY)
    integrity.prune(timedelta(0), now=legacy_chain[LEGACY].timestamp)  # the rest of the unkeyed events go
    verified = integrity.verify_chain("platform")
    assert (verified.broken, verified.unkeyed_through) == (None, None)
