"""The chains are keyed: HMAC-SHA256 under `STONEAGE_AUDIT_KEYS`, so a database writer without the key cannot
forge a chain that verifies; keys rotate by prepending one."""

import base64
import hashlib
import hmac
import json
import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from django.test import override_settings

from audit import integrity, keys
from audit.hashing import canonical, keyed_hash, unkeyed_hash
from audit.models import AuditChainHead, AuditEvent
from audit.services import write_event
from tests.audit.support import chain_of, tamper, verify, verify_fails

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
NEW_KEY = base64.urlsafe_b64encode(b"n" * 32).decode()
WRONG_SECRET = b"w" * 32


def configured_secret() -> bytes:
    return base64.urlsafe_b64decode(settings.STONEAGE_AUDIT_KEYS[0])


def test_new_events_are_chained_with_the_first_key_and_name_it(world):
    secret = configured_secret()
    event = write_event("login", actor_name="x")
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.key_id == hashlib.sha256(secret).hexdigest()[:8]
    expected = hmac.new(secret, stored.prev_hash.encode() + canonical(stored), hashlib.sha256).hexdigest()
    assert stored.hash == expected
    assert stored.hash != unkeyed_hash(stored.prev_hash, stored)
    assert b'"key_id":"' + stored.key_id.encode() + b'"' in canonical(stored)  # the key id is hashed too


def rewrite_from(organization, index: int, *, link, key_id: str) -> AuditEvent:
    """What a database writer can do: alter event `index`, recompute every link after it with `link`, and move
    the chain's head to the new last hash."""
    events = chain_of(organization)
    victim = events[index]
    victim.object_repr = "forged"
    prev_hash = victim.prev_hash
    for event in events[index:]:
        event.prev_hash, event.key_id = prev_hash, key_id
        event.hash = link(prev_hash, event)
        tamper(
            "UPDATE audit_auditevent SET object_repr = %s, prev_hash = %s, key_id = %s, hash = %s WHERE id = %s",
            [event.object_repr, event.prev_hash, event.key_id, event.hash, event.pk],
        )
        prev_hash = event.hash
    tamper("UPDATE audit_auditchainhead SET hash = %s WHERE chain = %s", [prev_hash, events[-1].chain])
    return victim


def with_key(secret: bytes):
    return lambda prev_hash, event: keyed_hash(prev_hash, event, secret)


def test_a_rewrite_with_the_key_itself_verifies(world):
    # The forger's method is sound: only the key it lacks makes the attempts below fail.
    rewrite_from(world.org, 2, link=with_key(configured_secret()), key_id=keys.signing_key().id)
    assert "3 chain(s) verified." in verify()


def test_a_forgery_recomputed_with_plain_sha256_fails_at_the_forged_event(world):
    victim = rewrite_from(world.org, 2, link=unkeyed_hash, key_id=keys.signing_key().id)
    assert f"event {victim.pk} (sequence 3) was altered" in verify_fails()


def test_a_downgrade_to_unkeyed_events_after_the_key_started_fails(world):
    first = chain_of(world.org)[0]
    victim = rewrite_from(world.org, 2, link=unkeyed_hash, key_id="")
    message = verify_fails()
    assert f"event {victim.pk} (sequence 3) has no key, but the chain is keyed from event {first.pk}" in message


def test_a_whole_chain_rewritten_unkeyed_fails_and_is_not_pruned(world):
    rewrite_from(world.org, 0, link=unkeyed_hash, key_id="")
    last = chain_of(world.org)[-1]
    assert f"event {last.pk} (sequence {last.sequence}) ends a chain that has no keyed event" in verify_fails()
    # Retention would vouch for what it deletes with a keyed checkpoint: it refuses instead.
    with pytest.raises(integrity.PruneRefused, match="no keyed event"):
        integrity.prune(timedelta(0))
    assert len(chain_of(world.org)) == last.sequence


def test_a_forgery_with_a_wrong_key_fails(world):
    victim = rewrite_from(world.org, 1, link=with_key(WRONG_SECRET), key_id=keys.signing_key().id)
    assert f"event {victim.pk} (sequence 2) was altered" in verify_fails()


def test_a_forgery_naming_an_unknown_key_fails_naming_the_event_and_key_id(world):
    wrong_id = keys.key_id(WRONG_SECRET)
    victim = rewrite_from(world.org, 1, link=with_key(WRONG_SECRET), key_id=wrong_id)
    message = verify_fails()
    assert f"event {victim.pk} (sequence 2) was chained with key id {wrong_id}, which is not configured" in message
    assert "STONEAGE_AUDIT_KEYS" in message


def test_rotation_keeps_old_events_verifying(world):
    old = keys.signing_key()
    before = chain_of(world.org)
    with override_settings(STONEAGE_AUDIT_KEYS=[NEW_KEY, *settings.STONEAGE_AUDIT_KEYS]):
        new = keys.signing_key()
        assert new.id == keys.key_id(b"n" * 32) != old.id
        event = write_event("api_request", organization_id=world.org.pk, extra={"status": 200})
        assert (event.key_id, event.prev_hash) == (new.id, before[-1].hash)
        out = verify()
        assert f"Chain org:{world.org.pk}: {len(before) + 1} events verified (key ids {old.id}, {new.id})." in out
        assert "3 chain(s) verified." in out
    with override_settings(STONEAGE_AUDIT_KEYS=[NEW_KEY]):
        message = verify_fails()
        assert f"event {before[0].pk} (sequence 1) was chained with key id {old.id}, which is not configured" in message


def test_the_old_key_can_go_once_retention_removed_its_events(world):
    with override_settings(STONEAGE_AUDIT_KEYS=[NEW_KEY, *settings.STONEAGE_AUDIT_KEYS]):
        event = write_event("api_request", organization_id=world.org.pk)
        checkpoints = [report.checkpoint for report in integrity.prune(timedelta(0), now=event.timestamp)]
        assert {checkpoint.key_id for checkpoint in checkpoints} == {keys.signing_key().id}
    with override_settings(STONEAGE_AUDIT_KEYS=[NEW_KEY]):
        assert "3 chain(s) verified." in verify()


# --- Configuration ---------------------------------------------------------------------------------------------


def test_without_a_key_in_production_verify_audit_fails_with_a_sentence(world):
    with override_settings(DEBUG=False, STONEAGE_AUDIT_KEYS=[]):
        with pytest.raises(CommandError, match="Cannot verify the audit log: STONEAGE_AUDIT_KEYS is required"):
            verify()
        with pytest.raises(ImproperlyConfigured, match="STONEAGE_AUDIT_KEYS is required when DEBUG is off"):
            write_event("login", actor_name="x")
        errors = [error for error in checks.run_checks() if error.id == "audit.E001"]
        assert len(errors) == 1 and "STONEAGE_AUDIT_KEYS is required" in errors[0].msg


def test_manage_verify_audit_without_a_key_in_production_exits_non_zero():
    env = {k: v for k, v in os.environ.items() if k not in {"STONEAGE_AUDIT_KEYS", "DJANGO_ALLOW_ASYNC_UNSAFE"}}
    env.update(DEBUG="false", SECRET_KEY="s" * 50, ALLOWED_HOSTS="x", DJANGO_SETTINGS_MODULE="stoneage.settings")
    result = subprocess.run(
        [sys.executable, "manage.py", "verify_audit"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "STONEAGE_AUDIT_KEYS is required when DEBUG is off" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("configured", "message"),
    [(["not base64!"], "entry 1 is not valid base64"), ([NEW_KEY, "c2hvcnQ="], "entry 2 must decode to 32 bytes")],
)
def test_a_malformed_key_is_refused_naming_the_entry(configured, message):
    with override_settings(STONEAGE_AUDIT_KEYS=configured), pytest.raises(ImproperlyConfigured, match=message):
        keys.signing_key()


def test_in_debug_without_keys_one_is_derived_from_secret_key(world):
    with override_settings(DEBUG=True, STONEAGE_AUDIT_KEYS=[], SECRET_KEY="a" * 50):
        derived = keys.signing_key()
        assert write_event("login", actor_name="x").key_id == derived.id
    with override_settings(DEBUG=True, STONEAGE_AUDIT_KEYS=[], SECRET_KEY="b" * 50):
        assert keys.signing_key().id != derived.id
    with override_settings(DEBUG=True, STONEAGE_AUDIT_KEYS=[], SECRET_KEY="a" * 50):
        assert keys.signing_key() == derived  # the same key on every start
    derived_text = base64.urlsafe_b64encode(derived.secret).decode()
    with override_settings(STONEAGE_AUDIT_KEYS=[*settings.STONEAGE_AUDIT_KEYS, derived_text]):
        assert "3 chain(s) verified." in verify()


def test_the_key_is_never_stored_logged_or_shown(world, caplog):
    caplog.set_level(logging.DEBUG)
    key = keys.signing_key()
    spellings = [settings.STONEAGE_AUDIT_KEYS[0], key.secret.hex(), base64.b64encode(key.secret).decode()]
    integrity.prune(timedelta(0))
    out = verify()
    rows = json.dumps(
        [list(AuditEvent.objects.values()), list(AuditChainHead.objects.values())], default=str, ensure_ascii=False
    )
    for text in [rows, out, caplog.text, repr(key), str(keys.configured())]:
        for spelling in spellings:
            assert spelling not in text
        assert key.secret.decode("latin-1") not in text
