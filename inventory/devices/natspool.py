"""The HTTP gateway's NATS connections: a small pool per organization per process, on one asyncio loop in a thread.

Django views are synchronous; they hand coroutines to the pool's loop (`GatewayPool.run`) and wait for the result,
bounded by `NATS_REQUEST_TIMEOUT`. Each organization has up to `DEVICE_GATEWAY_POOL_SIZE` connections (default 2),
used round-robin, opened on first use and kept: a request never opens its own connection.

A connection authenticates as a **gateway user of the organization's account**, minted on the spot (nothing is
stored, like the pusher's system user): signed by the account's newest unscoped signing key, allowed to publish
anywhere in the account and to receive on `_INBOX.>` (publish acks, KV) and `_SA.cmd.>` (long polls).
It lives `DEVICE_GATEWAY_JWT_SECONDS` (default 1 hour); a connection is replaced some minutes before its JWT ends.
Why not one connection per thing with a short-lived JWT of the thing's own scoped key: nats-server would then
enforce the contract itself, but an HTTP fleet of thousands of things would hold thousands of connections per
process, each with its own auth handshake on first use. The contract is instead enforced in the gateway from the
same scope template nats-server holds, expanded for the thing's tags as nats-server expands it
(`inventory.devices.gateway`).

Connections never reconnect on their own (`allow_reconnect=False`): a message written while NATS is away would
sit in nats-py's buffer and go out later, after the device was told 503. A dropped connection is closed, taken
out of the pool, and the next request opens a new one (or answers 503 when NATS is still down).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import threading
import time
from dataclasses import dataclass, field

import nats
from django.conf import settings

from credentials.codecs import natsjwt as nj


class NatsUnavailable(Exception):
    """NATS could not be reached or did not answer in time (the gateway answers 503)."""


def pool_size() -> int:
    return max(1, int(getattr(settings, "DEVICE_GATEWAY_POOL_SIZE", 2)))


def jwt_seconds() -> int:
    return max(120, int(getattr(settings, "DEVICE_GATEWAY_JWT_SECONDS", 3600)))


def timeout() -> float:
    return float(getattr(settings, "NATS_REQUEST_TIMEOUT", 5))


def gateway_credentials(organization_id: int, ttl: int) -> tuple[str, str, int]:
    """(jwt, seed, expires) of a short-lived gateway user of the organization's account. Nothing is stored."""
    from credentials.models import Account
    from credentials.services import nats as svc

    account = Account.objects.filter(organization_id=organization_id, is_system=False, active=True).first()
    if account is None:
        raise NatsUnavailable("The organization has no active NATS account.")
    key = svc.newest_signing_key(svc.unscoped_signing_keys(account))
    expires = svc.now() + ttl
    claims = nj.UserClaims(
        name="stoneage-http-gateway",
        expires=expires,
        pub_allow=[">"],
        # Replies (publish acks, KV), and the command messages a long poll waits for (`gateway_commands`).
        sub_allow=["_INBOX.>", "_SA.cmd.>"],
        issuer_account=account.public_key,
    )
    minted = nj.mint_user_credentials(claims, svc.keypair_of(key))
    return minted.jwt, minted.seed, expires


@dataclass
class _Slot:
    nc: nats.NATS
    expires: int
    js: object = None

    def usable(self) -> bool:
        return self.nc.is_connected and self.expires - time.time() > min(300, jwt_seconds() / 4)


@dataclass
class _OrgPool:
    slots: list[_Slot | None]
    turn: itertools.count = field(default_factory=itertools.count)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class GatewayPool:
    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pools: dict[tuple[str, int], _OrgPool] = {}
        self._start_lock = threading.Lock()
        self.connections_opened = 0

    # --- the loop thread ---------------------------------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._start_lock:
            if self._loop is None or not self._thread or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="nats-gateway", daemon=True)
                thread.start()
                self._loop, self._thread, self._pools = loop, thread, {}
            return self._loop

    def run(self, organization_id: int, work, deadline: float | None = None):
        """Run `await work(slot)` on a pooled connection of the organization; returns its result.
        `NatsUnavailable` when NATS cannot be reached or does not answer within the deadline."""
        deadline = deadline or timeout() * 2
        loop = self._ensure_loop()
        future = asyncio.run_coroutine_threadsafe(self._run(organization_id, work), loop)
        try:
            return future.result(deadline)
        except TimeoutError:
            future.cancel()
            raise NatsUnavailable("NATS did not answer in time.") from None

    async def run_async(self, organization_id: int, work, deadline: float | None = None):
        """`run` for a caller on another event loop (an async view): awaits without holding a thread."""
        deadline = deadline or timeout() * 2
        future = asyncio.run_coroutine_threadsafe(self._run(organization_id, work), self._ensure_loop())
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), deadline)
        except TimeoutError:
            future.cancel()
            raise NatsUnavailable("NATS did not answer in time.") from None

    async def _run(self, organization_id: int, work):
        slot = await self._slot(organization_id)
        try:
            return await work(slot)
        except (nats.errors.ConnectionClosedError, nats.errors.StaleConnectionError, OSError) as exc:
            await self._drop(slot)
            raise NatsUnavailable(f"NATS connection lost: {type(exc).__name__}") from exc

    async def _slot(self, organization_id: int) -> _Slot:
        key = (settings.NATS_URL, organization_id)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _OrgPool(slots=[None] * pool_size())
        index = next(pool.turn) % len(pool.slots)
        slot = pool.slots[index]
        if slot is not None and slot.usable():
            return slot
        async with pool.lock:
            slot = pool.slots[index]
            if slot is not None and slot.usable():
                return slot
            if slot is not None:
                await self._drop(slot)
            # Minting reads the database: in a worker thread, never on the loop.
            jwt, seed, expires = await asyncio.to_thread(_mint_in_thread, organization_id)
            nc = await _connect(jwt, seed)
            self.connections_opened += 1
            slot = pool.slots[index] = _Slot(nc, expires, nc.jetstream(timeout=timeout()))
            return slot

    async def _drop(self, slot: _Slot) -> None:
        for pool in self._pools.values():
            pool.slots = [None if s is slot else s for s in pool.slots]
        with contextlib.suppress(Exception):
            await slot.nc.close()

    def close(self) -> None:
        """Close every connection and stop the loop (tests, process shutdown)."""
        loop = self._loop
        if loop is None:
            return

        async def close_all() -> None:
            for pool in self._pools.values():
                for slot in pool.slots:
                    if slot is not None:
                        with contextlib.suppress(Exception):
                            await slot.nc.close()
            self._pools = {}

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close_all(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread:
            self._thread.join(5)
        self._loop = self._thread = None


def _mint_in_thread(organization_id: int) -> tuple[str, str, int]:
    from django.db import connection

    try:
        return gateway_credentials(organization_id, jwt_seconds())
    finally:
        connection.close()  # a thread of the loop's executor: never leave a connection behind


async def _connect(jwt: str, seed: str) -> nats.NATS:
    kp = nj.keypair_from_seed(seed)
    nc = nats.NATS()
    errors: list[Exception] = []

    async def record_error(exc: Exception) -> None:
        errors.append(exc)

    try:
        await asyncio.wait_for(
            nc.connect(
                servers=[settings.NATS_URL],
                user_jwt_cb=lambda: jwt.encode(),
                signature_cb=lambda nonce: base64.b64encode(kp.sign(nonce.encode())),
                error_cb=record_error,
                connect_timeout=timeout(),
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0,
                name="stoneage-http-gateway",
            ),
            timeout(),
        )
    except (TimeoutError, nats.errors.NoServersError, OSError) as exc:
        with contextlib.suppress(Exception):
            await nc.close()
        cause = errors[-1] if errors else exc
        raise NatsUnavailable(f"NATS is unreachable: {type(cause).__name__}") from exc
    return nc


#: The process's pool (one per process; Celery workers and ASGI workers each have theirs).
POOL = GatewayPool()
