"""Append-only, hash-chained, verifiable, prunable."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from audit import integrity, keys
from audit.hashing import keyed_hash
from audit.management.commands.prune_audit import parse_age
from audit.models import AppendOnlyError, AuditChainHead, AuditEvent
from audit.services import write_event
from tests.audit.support import chain_of, tamper, verify, verify_fails

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")


# --- Append-only ---------------------------------------------------------------------------------------------


def test_python_refuses_to_change_or_delete_events(world):
    event = AuditEvent.objects.first()
    event.object_repr = "forged"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(object_repr="forged")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.bulk_create([AuditEvent(action="login")])
    with pytest.raises(AppendOnlyError):
        AuditEvent(action="login", actor_name="mallory").save()  # not through the chain


@postgres_only
def test_postgres_refuses_update_and_delete(world):
    event = AuditEvent.objects.filter(organization=world.org).first()
    for sql in [
        "UPDATE audit_auditevent SET object_repr = 'forged' WHERE id = %s",
        "UPDATE audit_auditevent SET organization_id = NULL, object_repr = 'forged' WHERE id = %s",
        "UPDATE audit_auditevent SET key_id = '' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ]:
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])
    # Detaching a deleted organization or user (ON DELETE SET NULL) is the one update allowed.
    with connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditevent SET organization_id = NULL, actor_id = NULL WHERE id = %s", [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).organization_id is None
    assert integrity.verify_chain(event.chain).broken is None


# --- Verification ----------------------------------------------------------------------------------------------


def test_an_untouched_log_verifies(world):
    out = verify()
    key_id = keys.signing_key().id
    assert f"Chain org:{world.org.pk}: {len(chain_of(world.org))} events verified (key ids {key_id})." in out
    assert "3 chain(s) verified." in out


def test_json_numbers_are_hashed_as_the_database_hands_them_back(world):
    # PostgreSQL's jsonb keeps a number's digits but not its exponent or the sign of zero: 1e+20 reads back
    # as 100000000000000000000. Hashing anything else would report an untouched event as altered.
    from audit.hashing import json_safe

    safe = json_safe({"v": [1e20, 1.2345678901234568e17, -0.0, 1e-07, 2.5, 3.0]})
    assert json.dumps(safe) == '{"v": [100000000000000000000, 123456789012345680, 0.0, 1e-07, 2.5, 3.0]}'
    write_event("api_request", organization_id=world.org.pk, extra={"v": [1e20, -0.0]}, after={"big": 1.5e300})
    assert "3 chain(s) verified." in verify()


def test_altered_content_is_reported_at_that_event(world):
    victim = chain_of(world.org)[2]
    tamper("UPDATE audit_auditevent SET object_repr = 'nothing to see' WHERE id = %s", [victim.pk])
    message = verify_fails()
    assert f"event {victim.pk} (sequence 3) was altered" in message


def test_altered_json_is_reported_at_that_event(world):
    victim = chain_of(world.org)[3]
    after = {**victim.after, "role": "owner"}
    cast = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    tamper(f"UPDATE audit_auditevent SET after = {cast} WHERE id = %s", [json.dumps(after), victim.pk])  # noqa: S608
    assert f"event {victim.pk} (sequence 4) was altered" in verify_fails()


def test_a_rehashed_forgery_breaks_the_next_link(world):
    # Even with the key, an event cannot be rewritten without rewriting every link after it.
    victim, successor = chain_of(world.org)[1:3]
    victim.object_repr = "forged"
    forged_hash = keyed_hash(victim.prev_hash, victim, keys.signing_key().secret)
    tamper(
        "UPDATE audit_auditevent SET object_repr = 'forged', hash = %s WHERE id = %s",
        [forged_hash, victim.pk],
    )
    assert f"event {successor.pk} (sequence 3) does not link to the hash of event {victim.pk}" in verify_fails()


def test_a_deleted_event_is_reported_at_the_next_one(world):
    victim, successor = chain_of(world.org)[2:4]
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [victim.pk])
    assert f"event {successor.pk} (sequence 4) follows sequence 2" in verify_fails()


def test_a_deleted_last_event_is_reported(world):
    events = chain_of(world.org)
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [events[-1].pk])
    message = verify_fails()
    assert f"ends at sequence {len(events) - 1}, but its head records sequence {len(events)}" in message


def test_a_deleted_first_event_is_reported(world):
    first, second = chain_of(world.org)[:2]
    tamper("DELETE FROM audit_auditevent WHERE id = %s", [first.pk])
    assert f"event {second.pk} (sequence 2) is first, but no checkpoint accounts" in verify_fails()


def test_verify_one_organization(world):
    tamper("UPDATE audit_auditevent SET object_repr = 'x' WHERE id = %s", [chain_of(world.other_org)[0].pk])
    assert "1 chain(s) verified." in verify(org="acme")
    assert f"Chain org:{world.other_org.pk}" in verify_fails(org="globex")
    with pytest.raises(CommandError, match="No audit events for organization 'initech'"):
        verify(org="initech")


# --- Retention -------------------------------------------------------------------------------------------------


def test_prune_leaves_a_checkpoint_and_the_chain_still_verifies(world):
    events = chain_of(world.org)
    cutoff = events[3].timestamp
    doomed = [e for e in events if e.timestamp < cutoff]
    reports = {r.chain: r for r in integrity.prune(timedelta(0), now=cutoff)}
    report = reports[f"org:{world.org.pk}"]
    assert report.deleted == len(doomed)
    checkpoint = report.checkpoint
    assert checkpoint.action == "checkpoint"
    assert checkpoint.actor_name == "system"
    assert checkpoint.extra["last_deleted_sequence"] == doomed[-1].sequence
    assert checkpoint.extra["last_deleted_hash"] == doomed[-1].hash
    remaining = chain_of(world.org)
    assert remaining[0].sequence == doomed[-1].sequence + 1
    assert remaining[-1] == checkpoint
    verify()

    # A second pass removes everything old, the first checkpoint included; the new one still anchors the chain.
    integrity.prune(timedelta(0))
    (last_checkpoint,) = chain_of(world.org)
    assert last_checkpoint.action == "checkpoint"
    assert last_checkpoint.extra["last_deleted_hash"] == checkpoint.hash
    verify()


def test_prune_command_keeps_young_events(world):
    out = io.StringIO()
    count = AuditEvent.objects.count()
    call_command("prune_audit", "--older-than", "365d", stdout=out)
    assert "Pruned 0 chain(s)." in out.getvalue()
    assert AuditEvent.objects.count() == count


def test_prune_command_prunes_and_names_itself(world):
    out = io.StringIO()
    call_command("prune_audit", "--older-than", "1h", stdout=out)  # nothing is that old yet
    assert not AuditEvent.objects.filter(action="checkpoint").exists()
    integrity.prune(timedelta(hours=1), now=AuditEvent.objects.latest("timestamp").timestamp + timedelta(hours=2))
    assert AuditEvent.objects.filter(action="checkpoint").count() == len(AuditChainHead.objects.all())
    verify()


def test_prune_refuses_a_broken_chain(world):
    victim = chain_of(world.org)[1]
    tamper("UPDATE audit_auditevent SET object_repr = 'x' WHERE id = %s", [victim.pk])
    with pytest.raises(integrity.PruneRefused, match=f"event {victim.pk}"):
        integrity.prune(timedelta(0))
    assert AuditEvent.objects.filter(pk=victim.pk).exists()


@pytest.mark.parametrize(("text", "age"), [("365d", timedelta(days=365)), ("12h", timedelta(hours=12))])
def test_ages(text, age):
    assert parse_age(text) == age


@pytest.mark.parametrize("text", ["365", "10x", "0d", "-1d", "1w"])
def test_bad_ages_are_refused(text):
    with pytest.raises(CommandError, match="365d or 12h"):
        parse_age(text)


# --- The chain itself --------------------------------------------------------------------------------------------


def test_each_organization_has_its_own_chain_and_platform_events_theirs(world):
    acme = chain_of(world.org)
    assert [e.sequence for e in acme] == list(range(1, len(acme) + 1))
    assert acme[0].prev_hash == ""
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(acme, acme[1:], strict=False))
    platform = AuditEvent.objects.filter(chain="platform")
    assert set(platform.values_list("object_type", flat=True)) == {"auth.user"}
    assert set(platform.values_list("organization_id", flat=True)) == {None}
    event = write_event("login", actor_name="x")
    assert event.chain == "platform"
    assert AuditChainHead.objects.get(chain="platform").hash == event.hash
