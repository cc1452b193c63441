"""Checking the hash chains (`verify_audit`) and retention (`prune_audit`).

Each link is an HMAC under the key its event names (`key_id`), so nobody without the key can rewrite an event
and recompute the chain. Events from before the audit log was keyed (no key id, plain SHA-256) verify as such
up to the chain's first keyed event, which chains onto the last of them and so vouches for all of them:
migration 0003 appended one (`key_start`) to every chain that existed. After it, an unkeyed event is a
break, and so is a chain with no keyed event at all, so a downgrade to plain SHA-256 does not verify.

Retention deletes the oldest events of a chain and appends a checkpoint event that records the sequence
and hash of the last deleted one, so the first remaining event still links to something the chain vouches
for. On PostgreSQL the delete runs with `SET LOCAL stoneage.audit_prune = 'on'`, which the append-only
trigger honours for that transaction only.
"""

from __future__ import annotations

import dataclasses
import hmac
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import connections, router, transaction
from django.utils import timezone

from audit import keys, services
from audit.hashing import GENESIS, keyed_hash, timestamp_text, unkeyed_hash
from audit.models import Action, AuditChainHead, AuditEvent
from tenancy.models import Organization

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ChainBreak:
    chain: str
    reason: str
    event_id: int | None = None
    sequence: int | None = None

    def __str__(self) -> str:
        where = f"event {self.event_id} (sequence {self.sequence})" if self.event_id else "the chain"
        return f"Chain {self.chain}: {where} {self.reason}."


@dataclasses.dataclass(frozen=True)
class ChainReport:
    chain: str
    events: int
    broken: ChainBreak | None = None
    #: Ids of the keys that chained the verified events, in order of first use.
    key_ids: tuple[str, ...] = ()
    #: Sequence of the last event from before the key started, when the chain still holds some.
    unkeyed_through: int | None = None


@dataclasses.dataclass(frozen=True)
class PruneReport:
    chain: str
    deleted: int
    checkpoint: AuditEvent


class PruneRefused(Exception):
    def __init__(self, broken: ChainBreak):
        super().__init__(f"Refusing to prune a broken chain. {broken}")
        self.broken = broken


def _db(using: str | None) -> str:
    return using or router.db_for_write(AuditEvent)


def chains(*, organization_slug: str | None = None, using: str | None = None) -> list[str]:
    db = _db(using)
    events = AuditEvent.objects.using(db)
    heads = AuditChainHead.objects.using(db)
    if organization_slug is not None:
        events = events.filter(organization_slug=organization_slug)
        organization = Organization.objects.using(db).filter(slug=organization_slug).first()
        heads = heads.filter(chain=f"org:{organization.pk}") if organization else heads.none()
    found = set(events.values_list("chain", flat=True).distinct()) | set(heads.values_list("chain", flat=True))
    return sorted(found)


def _anchors(chain: str, db: str) -> set[tuple[int, str]]:
    """(sequence, hash) of events that retention deleted, as vouched for by the chain's checkpoints."""
    extras = AuditEvent.objects.using(db).filter(chain=chain, action=Action.CHECKPOINT).values_list("extra", flat=True)
    return {(extra.get("last_deleted_sequence"), extra.get("last_deleted_hash")) for extra in extras}


def _link_error(event: AuditEvent, previous: AuditEvent | None, anchors: set[tuple[int, str]]) -> str | None:
    """Why `event` does not follow `previous` (None: it is the first event left in the chain)."""
    if previous is None:
        if event.sequence == 1:
            return None if event.prev_hash == GENESIS else "is first but names a predecessor"
        if (event.sequence - 1, event.prev_hash) not in anchors:
            return f"is first, but no checkpoint accounts for the {event.sequence - 1} event(s) before it"
        return None
    if event.sequence != previous.sequence + 1:
        return f"follows sequence {previous.sequence}: the events in between are missing"
    if event.prev_hash != previous.hash:
        return f"does not link to the hash of event {previous.pk} before it"
    return None


def _hash_error(event: AuditEvent, keyring: dict[str, keys.AuditKey], first_keyed: AuditEvent | None) -> str | None:
    """Why `event`'s own hash does not verify."""
    if event.key_id:
        key = keyring.get(event.key_id)
        if key is None:
            return (
                f"was chained with key id {event.key_id}, which is not configured: add that key back to "
                f"{keys.SETTING} to verify it"
            )
        expected = keyed_hash(event.prev_hash, event, key.secret)
    elif first_keyed is not None:
        return (
            f"has no key, but the chain is keyed from event {first_keyed.pk} (sequence {first_keyed.sequence}) "
            "on: an unkeyed event after that is a forgery"
        )
    else:
        expected = unkeyed_hash(event.prev_hash, event)
    if not hmac.compare_digest(expected, event.hash):
        return "was altered: its content does not match its hash"
    return None


def _walk(
    chain: str, events: Iterable[AuditEvent], anchors: set[tuple[int, str]]
) -> tuple[ChainReport, AuditEvent | None]:
    """Check each link in order; returns the report and the last event that verified."""
    keyring = keys.keyring()
    previous = first_keyed = last_unkeyed = None
    key_ids: dict[str, None] = {}  # in order of first use
    count = 0
    for event in events:
        reason = _link_error(event, previous, anchors) or _hash_error(event, keyring, first_keyed)
        if reason:
            broken = ChainBreak(chain, reason, event.pk, event.sequence)
            return ChainReport(chain, count, broken, tuple(key_ids)), previous
        if event.key_id:
            first_keyed = first_keyed or event
            key_ids[event.key_id] = None
        else:
            last_unkeyed = event
        previous = event
        count += 1
    if previous is not None and first_keyed is None:
        reason = (
            "ends a chain that has no keyed event: no link made with the audit key vouches for its plain SHA-256 "
            "events, so they may have been rewritten"
        )
        return ChainReport(chain, count, ChainBreak(chain, reason, previous.pk, previous.sequence)), previous
    unkeyed_through = last_unkeyed.sequence if last_unkeyed else None
    return ChainReport(chain, count, None, tuple(key_ids), unkeyed_through), previous


def verify_chain(chain: str, *, using: str | None = None) -> ChainReport:
    """Walk `chain` and report the first broken event. Raises ImproperlyConfigured when no audit key is set."""
    db = _db(using)
    head = AuditChainHead.objects.using(db).filter(chain=chain).first()
    events = AuditEvent.objects.using(db).filter(chain=chain).order_by("sequence")
    if head is not None:
        events = events.filter(sequence__lte=head.sequence)  # ignore events written while we read
    report, last = _walk(chain, events.iterator(chunk_size=2000), _anchors(chain, db))
    if report.broken is None:
        broken = None
        if head is None:
            broken = ChainBreak(chain, "has events but no head record")
        elif last is None and head.sequence:
            broken = ChainBreak(chain, f"has no events, but its head records {head.sequence}")
        elif last is not None and (last.sequence, last.hash) != (head.sequence, head.hash):
            reason = f"ends at sequence {last.sequence}, but its head records sequence {head.sequence}"
            broken = ChainBreak(chain, reason, last.pk, last.sequence)
        if broken is not None:
            report = dataclasses.replace(report, broken=broken)
    return report


def prune(older_than: timedelta, *, now: datetime | None = None, using: str | None = None) -> list[PruneReport]:
    """Delete each chain's events older than `older_than` and leave a checkpoint in their place.

    A chain is pruned only when all of it verifies: the checkpoint, keyed, vouches for what it replaces.
    """
    db = _db(using)
    cutoff = (now or timezone.now()) - older_than
    reports = []
    for chain in chains(using=db):
        with transaction.atomic(using=db):
            if services.lock_head(chain, db) is None:
                raise PruneRefused(ChainBreak(chain, "has events but no head record"))
            verified = verify_chain(chain, using=db)
            if verified.broken is not None:
                raise PruneRefused(verified.broken)
            events = AuditEvent.objects.using(db).filter(chain=chain)
            # Only a prefix of the chain goes: everything before the first event that is still young.
            keep_from = (
                events.filter(timestamp__gte=cutoff).order_by("sequence").values_list("sequence", flat=True).first()
            )
            doomed = events if keep_from is None else events.filter(sequence__lt=keep_from)
            last = doomed.order_by("-sequence").first()
            if last is None:
                continue
            count = doomed.count()
            with _deletes_allowed(db):
                AuditEvent._base_manager.using(db).filter(chain=chain, sequence__lte=last.sequence).delete()
            checkpoint = services.write_event(
                Action.CHECKPOINT,
                chain=chain,
                organization_id=last.organization_id,
                organization_slug=last.organization_slug,
                extra={
                    "deleted": count,
                    "cutoff": timestamp_text(cutoff),
                    "last_deleted_sequence": last.sequence,
                    "last_deleted_hash": last.hash,
                    "last_deleted_timestamp": timestamp_text(last.timestamp),
                },
                using=db,
            )
            logger.warning(
                "Retention deleted %d audit events of chain %s (through sequence %d)", count, chain, last.sequence
            )
            reports.append(PruneReport(chain, count, checkpoint))
    return reports


@contextmanager
def _deletes_allowed(db: str) -> Iterator[None]:
    """Lift the append-only trigger for this statement of this transaction (PostgreSQL)."""
    connection = connections[db]
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL stoneage.audit_prune = 'on'")
        yield
        # On error the transaction rolls back, and the setting with it.
        cursor.execute("SET LOCAL stoneage.audit_prune = 'off'")
