"""Checking the hash chains (`verify_audit`) and retention (`prune_audit`).

Retention deletes the oldest events of a chain and appends a checkpoint event that records the sequence
and hash of the last deleted one, so the first remaining event still links to something the chain vouches
for. On PostgreSQL the delete runs with `SET LOCAL stoneage.audit_prune = 'on'`, which the append-only
trigger honours for that transaction only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connections, router, transaction
from django.utils import timezone

from audit import services
from audit.hashing import GENESIS, event_hash, timestamp_text
from audit.models import Action, AuditChainHead, AuditEvent

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChainBreak:
    chain: str
    reason: str
    event_id: int | None = None
    sequence: int | None = None

    def __str__(self) -> str:
        where = f"event {self.event_id} (sequence {self.sequence})" if self.event_id else "the chain"
        return f"Chain {self.chain}: {where} {self.reason}."


@dataclass(frozen=True)
class ChainReport:
    chain: str
    events: int
    broken: ChainBreak | None = None


@dataclass(frozen=True)
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
        from tenancy.models import Organization

        events = events.filter(organization_slug=organization_slug)
        organization = Organization.objects.using(db).filter(slug=organization_slug).first()
        heads = heads.filter(chain=f"org:{organization.pk}") if organization else heads.none()
    found = set(events.values_list("chain", flat=True).distinct()) | set(heads.values_list("chain", flat=True))
    return sorted(found)


def _anchors(chain: str, db: str) -> set[tuple[int, str]]:
    """(sequence, hash) of events that retention deleted, as vouched for by the chain's checkpoints."""
    extras = AuditEvent.objects.using(db).filter(chain=chain, action=Action.CHECKPOINT).values_list("extra", flat=True)
    return {(extra.get("last_deleted_sequence"), extra.get("last_deleted_hash")) for extra in extras}


def _walk(chain: str, events: Iterable[AuditEvent], anchors: set[tuple[int, str]]):
    """Check each link; returns (events checked, last event, first break)."""
    previous = None
    count = 0
    for event in events:
        if previous is None:
            if event.sequence == 1:
                if event.prev_hash != GENESIS:
                    return count, previous, ChainBreak(chain, "is first but names a predecessor", event.pk, 1)
            elif (event.sequence - 1, event.prev_hash) not in anchors:
                reason = f"is first, but no checkpoint accounts for the {event.sequence - 1} event(s) before it"
                return count, previous, ChainBreak(chain, reason, event.pk, event.sequence)
        else:
            if event.sequence != previous.sequence + 1:
                reason = f"follows sequence {previous.sequence}: the events in between are missing"
                return count, previous, ChainBreak(chain, reason, event.pk, event.sequence)
            if event.prev_hash != previous.hash:
                reason = f"does not link to the hash of event {previous.pk} before it"
                return count, previous, ChainBreak(chain, reason, event.pk, event.sequence)
        if event_hash(event.prev_hash, event) != event.hash:
            reason = "was altered: its content does not match its hash"
            return count, previous, ChainBreak(chain, reason, event.pk, event.sequence)
        previous = event
        count += 1
    return count, previous, None


def verify_chain(chain: str, *, using: str | None = None) -> ChainReport:
    db = _db(using)
    head = AuditChainHead.objects.using(db).filter(chain=chain).first()
    events = AuditEvent.objects.using(db).filter(chain=chain).order_by("sequence")
    if head is not None:
        events = events.filter(sequence__lte=head.sequence)  # ignore events written while we read
    count, last, broken = _walk(chain, events.iterator(chunk_size=2000), _anchors(chain, db))
    if broken is None:
        if head is None:
            broken = ChainBreak(chain, "has events but no head record")
        elif last is None and head.sequence:
            broken = ChainBreak(chain, f"has no events, but its head records {head.sequence}")
        elif last is not None and (last.sequence, last.hash) != (head.sequence, head.hash):
            reason = f"ends at sequence {last.sequence}, but its head records sequence {head.sequence}"
            broken = ChainBreak(chain, reason, last.pk, last.sequence)
    return ChainReport(chain, count, broken)


def prune(older_than: timedelta, *, now: datetime | None = None, using: str | None = None) -> list[PruneReport]:
    """Delete each chain's events older than `older_than` and leave a checkpoint in their place."""
    db = _db(using)
    cutoff = (now or timezone.now()) - older_than
    reports = []
    for chain in chains(using=db):
        with transaction.atomic(using=db):
            if services.lock_head(chain, db) is None:
                raise PruneRefused(ChainBreak(chain, "has events but no head record"))
            events = AuditEvent.objects.using(db).filter(chain=chain)
            # Only a prefix of the chain goes: everything before the first event that is still young.
            keep_from = (
                events.filter(timestamp__gte=cutoff).order_by("sequence").values_list("sequence", flat=True).first()
            )
            doomed = events if keep_from is None else events.filter(sequence__lt=keep_from)
            count, last, broken = _walk(chain, doomed.order_by("sequence").iterator(), _anchors(chain, db))
            if broken is not None:
                raise PruneRefused(broken)
            if last is None:
                continue
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
