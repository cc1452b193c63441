"""Sending commands to things over NATS and collecting their answers (runs in Celery tasks, never in a request).

Each run connects as the organization's platform service user (`credentials.services.nats.PLATFORM_SERVICE_USER`),
whose permissions this module keeps covering the organization's command subjects and the command streams
(`ensure_platform_permissions`: it only ever adds subjects, so a connection holding an earlier JWT is never
revoked). The JetStream API is spoken with plain requests (the streams' exact configuration, and no client-side
lookups that need more permissions).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections import defaultdict
from concurrent.futures import TimeoutError as FuturesTimeout

import nats
from django.conf import settings
from django.core.exceptions import ValidationError
from nats.aio.client import RawCredentials
from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from credentials.codecs import natsjwt as nj
from credentials.models import NatsUser
from credentials.secrets import reveal
from credentials.services import nats as nats_svc
from inventory import commands, outbox, subjects
from inventory.models import Command, Operation
from inventory.services import commands as svc
from tenancy.admin_mixins import error_text
from tenancy.models import Organization

log = logging.getLogger(__name__)

JS_TIMEOUT = 2.0
CONNECT_TIMEOUT = 2.0
#: Answers collected per organization per sweep, at most.
COLLECT_BATCH = 256


class Unreachable(Exception):
    """NATS could not be reached, or JetStream did not answer: nothing was sent."""


# --- The platform service user ---------------------------------------------------------------------------------


def command_subjects(organization) -> list[str]:
    """The organization's command subjects as permissions: per-thing tokens (`{thing}`, `{location}`) as `*`."""
    values = {"org": organization.slug, "thing": "*", "location": "*"}
    found = []
    operations = Operation.objects.filter(thing_type__organization=organization, capability=Operation.Capability.REPLY)
    for op in operations.select_related("thing_type"):
        if op.is_command:
            found.append(subjects.render(op.subject_template, {**values, "thing_type": op.thing_type.code}))
    return found


def ensure_platform_permissions(organization) -> NatsUser:
    """The organization's platform service user, allowed to publish what sending commands needs."""
    account = NatsUser.objects.get(organization=organization, name=nats_svc.PLATFORM_SERVICE_USER).account
    return nats_svc.ensure_platform_service_user(
        account, also_publish=commands.platform_permissions(command_subjects(organization))
    )


def platform_creds(user: NatsUser) -> str:
    if user.jwt and not nats_svc.renewal_due(user, nats_svc.now()):
        return nj.format_user_creds(user.jwt, reveal(user, "seed"), verify=False)
    return nats_svc.user_creds(user)


class Connection:
    """One organization's connection as its platform service user, kept by the worker process between tasks (one
    per organization per process) and driven from synchronous code: its event loop runs in a thread of its own
    (so the connection answers the server's pings between tasks), the ORM stays in the caller's thread."""

    def __init__(self, creds: str, publish_allow: list[str]):
        self.publish_allow = list(publish_allow)
        self.nc = self.run(self._connect(creds), CONNECT_TIMEOUT + 1)

    @staticmethod
    def run(coro, timeout: float = 30):
        try:
            return asyncio.run_coroutine_threadsafe(coro, _loop()).result(timeout)
        except FuturesTimeout as exc:
            raise Unreachable("NATS did not answer in time.") from exc

    async def _connect(self, creds: str) -> nats.NATS:
        try:
            return await nats.connect(
                servers=[settings.NATS_URL],
                user_credentials=RawCredentials(creds),
                connect_timeout=CONNECT_TIMEOUT,
                allow_reconnect=False,
                max_reconnect_attempts=1,
            )
        except Exception as exc:
            raise Unreachable(f"NATS is unreachable ({type(exc).__name__}: {exc}).") from exc

    @property
    def usable(self) -> bool:
        return self.nc.is_connected

    def allows(self, subject: str | None) -> bool:
        return subject is None or any(subjects.matches(pattern, subject) for pattern in self.publish_allow)

    def close(self) -> None:
        try:
            self.run(self.nc.close(), 5)
        except Exception as exc:  # already dropped
            log.debug("closing: %s", exc)


_state: dict = {"pid": None, "loop": None, "connections": {}}
_lock = threading.Lock()


def _loop() -> asyncio.AbstractEventLoop:
    """This process's event loop for NATS, in a daemon thread (a forked worker starts its own)."""
    with _lock:
        if _state["pid"] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="nats-commands", daemon=True).start()
            _state.update(pid=os.getpid(), loop=loop, connections={})
        return _state["loop"]


def connection_for(organization, subject: str | None = None) -> Connection:
    """The organization's connection, opened (again) when there is none, it was dropped, or it was opened before the
    platform user was allowed `subject`."""
    _loop()
    connections: dict[int, Connection] = _state["connections"]
    conn = connections.get(organization.pk)
    if conn is not None and conn.usable and conn.allows(subject):
        return conn
    if conn is not None:
        conn.close()
        connections.pop(organization.pk, None)
    user = ensure_platform_permissions(organization)
    conn = Connection(platform_creds(user), user.publish_allow)
    connections[organization.pk] = conn
    return conn


def forget(organization_id: int) -> None:
    conn = _state["connections"].pop(organization_id, None) if _state["pid"] == os.getpid() else None
    if conn is not None:
        conn.close()


async def _js(nc: nats.NATS, subject: str, body: dict | None = None) -> dict:
    try:
        msg = await nc.request(subject, json.dumps(body or {}).encode(), timeout=JS_TIMEOUT)
    except (NoRespondersError, NatsTimeout) as exc:
        raise Unreachable(f"JetStream did not answer {subject} ({type(exc).__name__}).") from exc
    return json.loads(msg.data)


async def _ensure_streams(nc: nats.NATS) -> None:
    for name, config in commands.stream_configs(settings.COMMAND_MAX_TTL).items():
        info = await _js(nc, f"$JS.API.STREAM.INFO.{name}")
        if info.get("error", {}).get("code") == 404:
            created = await _js(nc, f"$JS.API.STREAM.CREATE.{name}", config)
            if "error" in created and created["error"].get("err_code") != 10058:  # 10058: created meanwhile
                raise Unreachable(f"JetStream refused the stream {name}: {created['error'].get('description')}")


async def _ensure_consumer(nc: nats.NATS, stream: str, config: dict) -> None:
    name = config["durable_name"]
    body = {"stream_name": stream, "config": {**config, "name": name}}
    created = await _js(nc, f"$JS.API.CONSUMER.CREATE.{stream}.{name}", body)
    if "error" in created:
        raise Unreachable(f"JetStream refused the consumer {name}: {created['error'].get('description')}")


# --- Delivery --------------------------------------------------------------------------------------------------


def deliver(command_id: int) -> str | None:
    """Send one command (claimed here, so at most once); returns its new status, None when there was nothing to
    send."""
    command = svc.claim(command_id)
    if command is None:
        return None
    organization = command.thing.organization
    try:
        conn = connection_for(organization, command.subject)
    except (NatsUser.DoesNotExist, ValidationError) as exc:
        svc.failed(command_id, f"The organization's platform service user cannot send it: {error_text(exc)}")
        return Command.Status.FAILED
    except Unreachable as exc:
        log.warning("Command %s not sent: %s", command_id, exc)
        svc.release(command_id)  # nothing was sent: the sweep sends it again before its deadline
        return Command.Status.QUEUED
    payload = svc.encode(command.payload)
    headers = {commands.COMMAND_HEADER: str(command.pk)}
    timeout = settings.COMMAND_REPLY_TIMEOUT
    try:
        reply = conn.run(conn.nc.request(command.subject, payload, timeout=timeout, headers=headers), timeout + 5)
    except NoRespondersError:
        try:
            return _offline(conn, command, payload)
        except Unreachable as exc:
            forget(organization.pk)
            svc.failed(command.pk, f"The thing is offline and the command could not be queued: {exc}")
            return Command.Status.FAILED
    except (NatsTimeout, Unreachable, ConnectionClosedError) as exc:
        # Sent, perhaps received: never sent again (at most once).
        if not isinstance(exc, NatsTimeout):
            forget(organization.pk)
        svc.timed_out(command.pk, f"The thing did not answer within {timeout:g} seconds.")
        return Command.Status.TIMED_OUT
    svc.acknowledged(command.pk, reply.data)
    return Command.Status.ACKNOWLEDGED


def _offline(conn: Connection, command: Command, payload: bytes) -> str:
    if not command.ttl:
        svc.failed(
            command.pk,
            f"The thing is offline: nothing subscribes to {command.subject}, and this command does not wait for it "
            "(its TTL is 0).",
        )
        return Command.Status.FAILED
    code = command.thing.code
    headers = {
        commands.MSG_ID_HEADER: str(command.pk),
        commands.COMMAND_HEADER: str(command.pk),
        commands.REPLY_TO_HEADER: commands.reply_subject(code, command.pk),
        commands.EXPIRES_HEADER: command.expires_at.isoformat(),
    }
    ack = conn.run(_queue(conn.nc, code, commands.queue_subject(code, command.operation_name), payload, headers))
    svc.waiting(command.pk, ack["seq"])
    return Command.Status.QUEUED


async def _queue(nc: nats.NATS, code: str, subject: str, payload: bytes, headers: dict) -> dict:
    await _ensure_streams(nc)
    await _ensure_consumer(nc, commands.COMMAND_STREAM, commands.thing_consumer_config(code))
    try:
        msg = await nc.request(subject, payload, timeout=JS_TIMEOUT, headers=headers)
    except (NoRespondersError, NatsTimeout) as exc:
        raise Unreachable(f"JetStream did not store the command ({type(exc).__name__}).") from exc
    ack = json.loads(msg.data)
    if "error" in ack or "seq" not in ack:
        raise Unreachable(f"JetStream refused the command: {ack.get('error', ack)}")
    return ack


# --- The sweep -------------------------------------------------------------------------------------------------


def sweep() -> dict[str, int]:
    """Collect answers of commands waiting in the stream, expire commands past their deadline (deleting their
    messages so that nobody pulls them later), send commands no task sent, time out commands a dead worker left."""
    result = {"answered": 0, "expired": 0, "resent": 0, "abandoned": 0}
    by_org: dict[int, list[tuple[int, int | None]]] = defaultdict(list)
    waiting_orgs = set(svc.waiting_in_stream().values_list("organization_id", flat=True).distinct())
    for command_id, org_id, sequence in svc.due_for_expiry().values_list("pk", "organization_id", "stream_sequence"):
        by_org[org_id].append((command_id, sequence))

    for organization in Organization.objects.filter(pk__in=waiting_orgs | set(by_org)):
        due = by_org.get(organization.pk, [])
        try:
            conn = connection_for(organization)
            result["answered"] += _collect(conn, organization.pk)
            for command_id, sequence in due:
                if svc.expire(command_id):
                    result["expired"] += 1
                    if sequence:
                        subject = f"$JS.API.STREAM.MSG.DELETE.{commands.COMMAND_STREAM}"
                        conn.run(_js(conn.nc, subject, {"seq": sequence, "no_erase": True}))
        except (Unreachable, NatsUser.DoesNotExist, ValidationError) as exc:
            forget(organization.pk)
            # Past their deadline all the same; a message left in the stream goes with its max age, and a thing that
            # pulls it finds its deadline in its header.
            log.warning("Commands of %s not swept: %s", organization.slug, exc)
            result["expired"] += sum(svc.expire(pk) for pk, _ in due)
    for command_id in svc.unsent().values_list("pk", flat=True):
        outbox.deliver_command(command_id)
        result["resent"] += 1
    result["abandoned"] = svc.time_out_abandoned()
    return result


def _collect(conn: Connection, organization_id: int) -> int:
    """Pull the answers things published for their queued commands, record each once, then ack them all."""
    messages = conn.run(_pull_replies(conn.nc))
    answered = 0
    for msg in messages:
        parsed = commands.parse_reply_subject(msg.subject)
        if parsed is not None:
            answered += svc.record_reply(organization_id, *parsed, msg.data)
    conn.run(_ack(conn.nc, messages))
    return answered


async def _pull_replies(nc: nats.NATS) -> list:
    await _ensure_streams(nc)
    await _ensure_consumer(nc, commands.REPLY_STREAM, commands.reply_consumer_config())
    inbox = nc.new_inbox()
    queue: asyncio.Queue = asyncio.Queue()
    sub = await nc.subscribe(inbox, cb=queue.put)
    messages = []
    try:
        await nc.publish(
            f"$JS.API.CONSUMER.MSG.NEXT.{commands.REPLY_STREAM}.{commands.REPLY_CONSUMER}",
            json.dumps({"batch": COLLECT_BATCH, "no_wait": True}).encode(),
            reply=inbox,
        )
        deadline = time.monotonic() + JS_TIMEOUT
        while len(messages) < COLLECT_BATCH:
            try:
                msg = await asyncio.wait_for(queue.get(), max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
            if msg.headers and msg.headers.get("Status"):  # 404 no messages, 408 request expired: done
                break
            messages.append(msg)
    finally:
        await sub.unsubscribe()
    return messages


async def _ack(nc: nats.NATS, messages: list) -> None:
    for msg in messages:
        if msg.reply:
            await nc.publish(msg.reply, b"+ACK")
    await nc.flush(timeout=JS_TIMEOUT)
