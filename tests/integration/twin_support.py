"""What the twin tests share: a fleet with a thing on NATS, session cookies, websocket viewers, a device."""

from __future__ import annotations

import asyncio
import json

import nats
from channels.testing import WebsocketCommunicator
from django.test import Client
from nats.aio.client import RawCredentials
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.errors import BucketNotFoundError

from credentials.models import NatsUser
from credentials.services import nats as nats_svc
from inventory.contracts import inbox_prefix
from inventory.models import Thing
from inventory.services import contracts as contract_svc
from inventory.services import types

OPERATIONS = [{"name": "temp", "capability": "publish", "subject_suffix": "telemetry.temp"}]
WAIT = 5.0


def make_sensor(organization):
    return types.create_type(organization=organization, code="sensor", name="Sensor", operations=OPERATIONS)


def make_device(organization, sensor, code: str) -> Thing:
    thing = Thing.objects.create(organization=organization, code=code, thing_type=sensor)
    thing.nats_user = contract_svc.provision_thing_user(thing)
    thing.save()
    return thing


def creds_of(thing: Thing) -> str:
    return nats_svc.user_creds(NatsUser.objects.get(pk=thing.nats_user_id))


def session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def viewer(path: str, cookie: str | None = None, origin: str = "http://localhost") -> WebsocketCommunicator:
    from stoneage.asgi import application

    headers = [(b"host", b"localhost"), (b"origin", origin.encode())]
    if cookie:
        headers.append((b"cookie", f"sessionid={cookie}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)


async def receive(communicator: WebsocketCommunicator, kind: str | None = None, timeout: float = WAIT) -> dict:
    """The next message (of `kind`, skipping others)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        message = json.loads(await communicator.receive_from(timeout=max(deadline - loop.time(), 0.01)))
        if kind is None or message["type"] == kind:
            return message


class Device:
    """A thing's own NATS connection (its `.creds`, its inbox prefix): puts reported state, watches desired."""

    def __init__(self, url: str, creds: str, code: str):
        self.url, self.creds, self.code = url, creds, code
        self.nc = None
        self.desired: asyncio.Queue = asyncio.Queue()
        self.errors: list[str] = []

    async def connect(self) -> Device:
        async def error(exc):
            self.errors.append(str(exc).lower())

        self.nc = await nats.connect(
            self.url,
            user_credentials=RawCredentials(self.creds),
            inbox_prefix=inbox_prefix(self.code).encode(),
            error_cb=error,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.2,
        )
        return self

    async def kv(self, bucket: str, timeout: float = 10):
        """The bucket, once the platform has created it (after the account's first push)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                return await self.nc.jetstream(timeout=2).key_value(bucket)
            except BucketNotFoundError:
                if loop.time() > deadline:
                    raise
                await asyncio.sleep(0.1)

    async def report(self, prop: str, value) -> int:
        kv = await self.kv("twin")
        return await kv.put(f"thing.{self.code}.{prop}", json.dumps(value).encode())

    async def forget(self, prop: str) -> None:
        kv = await self.kv("twin")
        await kv.delete(f"thing.{self.code}.{prop}")

    async def watch_desired(self):
        """A named ordered consumer on its own desired keys (what its permissions allow; `inventory.contracts`)."""
        await self.kv("twin_desired")

        async def on(msg):
            await self.desired.put((msg.subject.removeprefix(f"$KV.twin_desired.thing.{self.code}."), msg.data))

        return await self.nc.jetstream(timeout=2).subscribe(
            f"$KV.twin_desired.thing.{self.code}.>",
            stream="KV_twin_desired",
            cb=on,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
            config=ConsumerConfig(name=f"{self.code}-desired", inactive_threshold=60),
        )

    async def close(self) -> None:
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.close()


