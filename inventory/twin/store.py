"""The NATS side of the twin, as the organization's platform service user
(`credentials.services.nats.PLATFORM_SERVICE_USER`, whose permissions name exactly what this module does):
create the buckets, read one object's entries, write and clear desired state.

The async functions take a connection; the synchronous ones (the API's, the bucket task's) open one for the
call, bounded by `TWIN_NATS_TIMEOUT`, and raise `TwinUnavailable` with a sentence when NATS does not answer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import Awaitable, Callable

import nats
from django.conf import settings
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError

from credentials.codecs import natsjwt as nj
from credentials.models import Account, NatsUser
from credentials.push import run_async
from credentials.secrets import reveal
from credentials.services import nats as svc
from inventory.twin import state

HISTORY = 10


class TwinUnavailable(Exception):
    pass


def timeout() -> float:
    return float(getattr(settings, "TWIN_NATS_TIMEOUT", 2.0))


def service_credentials(organization_id: int) -> tuple[str, str]:
    """(jwt, seed) of the organization's platform service user; its JWT is renewed first when it is due."""
    user = NatsUser.objects.filter(
        account__organization_id=organization_id, name=svc.PLATFORM_SERVICE_USER, active=True
    ).first()
    if user is None:
        raise TwinUnavailable("This organization has no platform service user on NATS.")
    svc.renew_user_jwt(user)
    user.refresh_from_db(fields=["jwt", "seed"])
    return user.jwt, reveal(user, "seed")


async def connect(credentials: tuple[str, str], url: str, *, reconnect: bool = False, **callbacks) -> nats.NATS:
    """One connection as the service user. Without `reconnect` a single attempt bounded by `timeout()`; with it,
    nats-py reconnects forever after the first connection (its callbacks tell the caller)."""
    jwt, seed = credentials
    kp = nj.keypair_from_seed(seed)
    nc = nats.NATS()
    errors: list[Exception] = []

    async def record_error(exc: Exception) -> None:
        errors.append(exc)

    try:
        await asyncio.wait_for(
            nc.connect(
                servers=[url],
                user_jwt_cb=lambda: jwt.encode(),
                signature_cb=lambda nonce: base64.b64encode(kp.sign(nonce.encode())),
                error_cb=callbacks.pop("error_cb", record_error),
                connect_timeout=timeout(),
                allow_reconnect=reconnect,
                max_reconnect_attempts=-1 if reconnect else 1,
                reconnect_time_wait=0.5 if reconnect else 0,
                name="stoneage-twin",
                **callbacks,
            ),
            timeout() * 2,
        )
    except (TimeoutError, nats.errors.NoServersError, OSError) as exc:
        with contextlib.suppress(Exception):
            await nc.close()
        cause = errors[-1] if errors else exc
        raise TwinUnavailable(f"NATS at {url} is not reachable ({type(cause).__name__}: {cause}).") from exc
    return nc


def bucket_config(bucket: str) -> KeyValueConfig:
    # Direct gets let a device's get of its own key be scoped to the key by the permissions (`inventory.contracts`).
    return KeyValueConfig(bucket=bucket, history=HISTORY, storage=StorageType.FILE, direct=True)


async def ensure_buckets(nc: nats.NATS) -> None:
    js = nc.jetstream(timeout=timeout())
    for bucket in (state.REPORTED, state.DESIRED):
        try:
            await js.key_value(bucket)
        except BucketNotFoundError:
            await js.create_key_value(bucket_config(bucket))


async def read_entries(nc: nats.NATS, bucket: str, keys: str = ">") -> dict[str, dict]:
    """The live entries of `bucket` matching `keys` (a watch of the last value per key, stopped when caught up)."""
    kv = await nc.jetstream(timeout=timeout()).key_value(bucket)
    watcher = await kv.watch(keys, include_history=False)
    entries: dict[str, dict] = {}
    try:
        while True:
            item = await watcher.updates(timeout=timeout())
            if item is None:
                break
            record = state.entry(bucket, item.key, item.value, item.revision, item.created, operation(item))
            if record["operation"] == state.PUT:
                entries[item.key] = record
            else:
                entries.pop(item.key, None)
            if item.delta == 0:
                break
    finally:
        with contextlib.suppress(Exception):
            await watcher.stop()
    return entries


def operation(item) -> str:
    op = (item.operation or "").upper()
    return {"DEL": state.DELETE, "PURGE": state.PURGE}.get(op, state.PUT)


async def object_snapshot(nc: nats.NATS, kind: str, code: str) -> dict[str, dict[str, dict]]:
    prefix = state.object_prefix(kind, code)
    reported = await read_entries(nc, state.REPORTED, prefix + ">")
    desired = await read_entries(nc, state.DESIRED, prefix + ">")
    return {"reported": state.object_view(reported, prefix), "desired": state.object_view(desired, prefix)}


async def put_desired(nc: nats.NATS, key: str, value) -> int:
    kv = await nc.jetstream(timeout=timeout()).key_value(state.DESIRED)
    return await kv.put(key, state.encode_value(value))


async def delete_desired(nc: nats.NATS, key: str) -> None:
    kv = await nc.jetstream(timeout=timeout()).key_value(state.DESIRED)
    await kv.delete(key)


# --- Synchronous callers ---------------------------------------------------------------------------------------


def with_connection(organization_id: int, work: Callable[[nats.NATS], Awaitable]):
    """Run `work(nc)` on a connection of the organization's service user, within `timeout()` for each step."""
    credentials = service_credentials(organization_id)
    url = settings.NATS_URL

    async def run():
        nc = await connect(credentials, url)
        try:
            return await asyncio.wait_for(work(nc), timeout() * 3)
        finally:
            with contextlib.suppress(Exception):
                await nc.close()

    try:
        return run_async(run)
    except TwinUnavailable:
        raise
    except BucketNotFoundError as exc:
        raise TwinUnavailable(
            "The twin buckets do not exist yet on NATS; they are created after the first push."
        ) from exc
    except Exception as exc:  # timeouts, permissions, a server going away mid-call
        raise TwinUnavailable(f"NATS did not complete the request ({type(exc).__name__}: {exc}).") from exc


def create_buckets(account: Account) -> None:
    with_connection(account.organization_id, ensure_buckets)


def snapshot(organization_id: int, kind: str, code: str) -> dict:
    return with_connection(organization_id, lambda nc: object_snapshot(nc, kind, code))


def set_desired(organization_id: int, key: str, value) -> int:
    return with_connection(organization_id, lambda nc: put_desired(nc, key, value))


def clear_desired(organization_id: int, key: str) -> None:
    with_connection(organization_id, lambda nc: delete_desired(nc, key))
