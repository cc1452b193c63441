"""One NATS connection and one watch of the twin buckets per organization per process, shared by every viewer of
that organization (the admin's websockets), and closed when the last one leaves.

A hub keeps the organization's live entries in memory, by object (`<kind>.<code>.`), so that a new viewer gets
its snapshot at once and every change is relayed to the viewers of its object only. When NATS goes away the
viewers are told (`disconnected`); nats-py reconnects, the hub watches the buckets again from scratch and every
viewer gets a fresh snapshot. A first connection that fails is retried every second while anyone is watching.

Messages (JSON text frames):

- `{"type": "snapshot", "objects": {"thing.s-01": {"reported": {prop: entry}, "desired": {prop: entry}}}}`
- `{"type": "update", "bucket": "reported"|"desired", "key", "kind", "code", "property", "value", "revision",
  "timestamp", "operation": "put"|"delete"|"purge"}`
- `{"type": "disconnected", "message": "..."}`
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Protocol

from asgiref.sync import sync_to_async
from django.conf import settings

from inventory.twin import state, store

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0


class Viewer(Protocol):
    #: Object prefixes (`<kind>.<code>.`) this viewer follows.
    prefixes: frozenset[str]

    async def send_twin(self, text: str) -> None: ...


def _dumps(message: dict) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def _prefix_of(key: str) -> str:
    kind, code, _ = state.split_key(key)
    return state.object_prefix(kind, code)


class OrgHub:
    def __init__(self, organization_id: int):
        self.organization_id = organization_id
        self.loop = asyncio.get_running_loop()
        self.viewers: set[Viewer] = set()
        self.by_prefix: dict[str, set[Viewer]] = {}
        #: prefix → {"reported": {property: entry}, "desired": {...}}, once caught up with both buckets.
        self.objects: dict[str, dict[str, dict]] = {}
        self.ready = False
        self.nc = None
        self.watchers: list = []
        self.generation = 0
        self.closed = False
        self.tasks: set[asyncio.Task] = set()
        self._spawn(self._start())

    # --- viewers ---------------------------------------------------------------------------------------------

    async def add(self, viewer: Viewer) -> None:
        self.viewers.add(viewer)
        for prefix in viewer.prefixes:
            self.by_prefix.setdefault(prefix, set()).add(viewer)
        if self.ready:
            await self._send(viewer, self.snapshot_for(viewer))
        elif self.nc is not None and not self.nc.is_connected:
            await self._send(viewer, _dumps({"type": "disconnected", "message": "NATS is not reachable."}))

    def remove(self, viewer: Viewer) -> None:
        self.viewers.discard(viewer)
        for prefix in viewer.prefixes:
            followers = self.by_prefix.get(prefix)
            if followers is not None:
                followers.discard(viewer)
                if not followers:
                    del self.by_prefix[prefix]

    def snapshot_for(self, viewer: Viewer) -> str:
        empty = {"reported": {}, "desired": {}}
        objects = {prefix[:-1]: self.objects.get(prefix, empty) for prefix in sorted(viewer.prefixes)}
        return _dumps({"type": "snapshot", "objects": objects})

    async def _send(self, viewer: Viewer, text: str) -> None:
        try:
            await viewer.send_twin(text)
        except Exception:  # a viewer going away must not stop the others
            log.debug("twin: a viewer could not be sent to", exc_info=True)

    async def _broadcast(self, text: str, viewers) -> None:
        for viewer in list(viewers):
            await self._send(viewer, text)

    # --- NATS ------------------------------------------------------------------------------------------------

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _start(self) -> None:
        while not self.closed:
            try:
                credentials = await sync_to_async(store.service_credentials)(self.organization_id)
                nc = await store.connect(
                    credentials,
                    settings.NATS_URL,
                    reconnect=True,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    error_cb=self._on_error,
                )
            except Exception as exc:
                await self._broadcast(_dumps({"type": "disconnected", "message": str(exc)}), self.viewers)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            if self.closed:
                await nc.close()
                return
            self.nc = nc
            await self._watch()
            return

    async def _on_disconnected(self) -> None:
        if self.closed:
            return
        self.ready = False
        self.generation += 1  # entries of the watch in flight are dropped
        await self._broadcast(_dumps({"type": "disconnected", "message": "NATS connection lost."}), self.viewers)

    async def _on_reconnected(self) -> None:
        if not self.closed:
            self._spawn(self._watch())

    async def _on_error(self, exc: Exception) -> None:
        log.debug("twin hub %s: %s", self.organization_id, exc)

    async def _stop_watchers(self) -> None:
        watchers, self.watchers = self.watchers, []
        for watcher in watchers:
            with contextlib.suppress(Exception):
                await watcher.stop()

    async def _watch(self) -> None:
        """Watch both buckets from scratch; once both are caught up, the entries replace the old ones and every
        viewer gets its snapshot. Retried while the connection is up and the watch cannot start."""
        self.generation += 1
        generation = self.generation
        self.ready = False
        await self._stop_watchers()
        while not self.closed and generation == self.generation:
            try:
                await store.ensure_buckets(self.nc)
                fresh: dict[str, dict[str, dict]] = {}
                pending = {state.REPORTED, state.DESIRED}
                for bucket in (state.REPORTED, state.DESIRED):
                    kv = await self.nc.jetstream(timeout=store.timeout()).key_value(bucket)
                    watcher = await kv.watch(">")
                    self.watchers.append(watcher)
                    self._spawn(self._follow(watcher, bucket, generation, fresh, pending))
                return
            except Exception as exc:
                log.debug("twin hub %s: watch not started: %s", self.organization_id, exc)
                await self._stop_watchers()
                await asyncio.sleep(RETRY_SECONDS)

    async def _follow(self, watcher, bucket: str, generation: int, fresh: dict, pending: set) -> None:
        name = state.BUCKETS[bucket]
        while not self.closed and generation == self.generation:
            try:
                item = await watcher.updates(timeout=None)
            except Exception:
                return
            if generation != self.generation:
                return
            if item is None:  # caught up with this bucket
                pending.discard(bucket)
                if not pending:
                    self.objects, self.ready = fresh, True
                    for viewer in list(self.viewers):
                        await self._send(viewer, self.snapshot_for(viewer))
                continue
            record = state.entry(bucket, item.key, item.value, item.revision, item.created, store.operation(item))
            prefix = _prefix_of(item.key)
            objects = self.objects if self.ready else fresh
            values = objects.setdefault(prefix, {"reported": {}, "desired": {}})[name]
            if record["operation"] == state.PUT:
                values[record["property"]] = record
            else:
                values.pop(record["property"], None)
            if self.ready and prefix in self.by_prefix:
                await self._broadcast(_dumps({"type": "update", **record}), self.by_prefix[prefix])

    async def close(self) -> None:
        self.closed = True
        self.ready = False
        current = asyncio.current_task()
        for task in list(self.tasks):
            if task is not current:
                task.cancel()
        await self._stop_watchers()
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.close()

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected


#: organization id → its hub in this process.
_hubs: dict[int, OrgHub] = {}


async def join(organization_id: int, viewer: Viewer) -> OrgHub:
    hub = _hubs.get(organization_id)
    if hub is None or hub.closed or hub.loop is not asyncio.get_running_loop():
        hub = _hubs[organization_id] = OrgHub(organization_id)
    await hub.add(viewer)
    _publish_stats()
    return hub


async def leave(hub: OrgHub, viewer: Viewer) -> None:
    hub.remove(viewer)
    if not hub.viewers and not hub.closed:
        if _hubs.get(hub.organization_id) is hub:
            del _hubs[hub.organization_id]
        await hub.close()
    _publish_stats()


def _publish_stats() -> None:
    """The Prometheus gauges of this process (`/metrics`)."""
    from stoneage import metrics

    numbers = stats()
    metrics.TWIN_VIEWERS.set(numbers["viewers"])
    metrics.TWIN_NATS_CONNECTIONS.set(numbers["connections"])


def stats() -> dict[str, int]:
    """Viewers and NATS connections held by this process (one connection per watched organization)."""
    hubs = [hub for hub in _hubs.values() if not hub.closed]
    return {
        "organizations": len(hubs),
        "viewers": sum(len(hub.viewers) for hub in hubs),
        "connections": sum(1 for hub in hubs if hub.nc is not None and not hub.nc.is_closed),
    }
