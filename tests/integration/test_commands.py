"""Commands on a real nats-server: a device connected with its own `.creds` answers a command sent through the API
(Celery worker) → acknowledged with its reply; an offline device fails a command without TTL at once; with a TTL the
command waits in JetStream, the device pulls it when it comes back, answers, and the answer is recorded once; a
command past its deadline expires and is never delivered."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from credentials.models import NatsUser
from credentials.services import nats as nats_svc
from inventory import commands, dispatch
from inventory.contracts import inbox_prefix
from inventory.models import Command, Operation, Thing
from inventory.services import commands as svc
from inventory.services import contracts as contract_svc
from inventory.services import types
from tests.integration import live
from tests.integration.support import log_tail, wait_until
from tests.support.world import make_org, make_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

OPERATIONS = [
    {"name": "temp", "capability": "publish", "subject_suffix": "telemetry.temp"},
    {"name": "ping", "capability": "reply", "subject_suffix": "cmd.ping"},
    {"name": "reboot", "capability": "reply", "subject_suffix": "cmd.reboot", "command_ttl": 600},
]


class Fleet:
    def __init__(self, slug: str):
        self.owner = make_user(f"{slug}-owner")
        self.organization = make_org(slug, self.owner)
        self.sensor = types.create_type(
            organization=self.organization, code="sensor", name="Sensor", operations=OPERATIONS
        )
        live.wait_pushed(5)

    def thing(self, code: str) -> Thing:
        thing = Thing.objects.create(organization=self.organization, code=code, thing_type=self.sensor)
        thing.nats_user = contract_svc.provision_thing_user(thing)
        thing.save()
        return thing

    def operation(self, name: str) -> Operation:
        return self.sensor.operations.get(name=name)

    def api(self) -> APIClient:
        client = APIClient()
        client.force_authenticate(self.owner)
        return client


class Device:
    """A thing's NATS client, with its own credentials and inbox."""

    def __init__(self, connect, client_loop, thing: Thing):
        self.thing = thing
        self.loop = client_loop
        creds = nats_svc.user_creds(NatsUser.objects.get(pk=thing.nats_user_id))
        self.client = connect(creds, inbox_prefix=inbox_prefix(thing.code).encode())
        self.received: list = []

    def answer(self, subject: str, reply: bytes | None = None) -> None:
        """Answer every request on `subject` with `reply` (by default, the request's payload echoed)."""

        async def respond(msg):
            self.received.append(msg)
            await msg.respond(reply if reply is not None else msg.data)

        self.loop.run(self.client.nc.subscribe(subject, cb=respond))
        self.client.flush()

    def pull(self, batch: int = 10) -> list:
        """Pull pending commands from its consumer (no wait)."""
        return self.loop.run(self._pull(batch))

    async def _pull(self, batch: int) -> list:
        nc = self.client.nc
        inbox = nc.new_inbox()
        queue: asyncio.Queue = asyncio.Queue()
        sub = await nc.subscribe(inbox, cb=queue.put)
        await nc.publish(
            f"$JS.API.CONSUMER.MSG.NEXT.{commands.COMMAND_STREAM}.{self.thing.code}",
            json.dumps({"batch": batch, "no_wait": True}).encode(),
            reply=inbox,
        )
        found = []
        while True:
            msg = await asyncio.wait_for(queue.get(), 2)
            if msg.headers and msg.headers.get("Status"):
                break
            found.append(msg)
        await sub.unsubscribe()
        return found

    def run(self, msg, answer: bytes, *, ack: bool = True) -> None:
        """Answer a pulled command on its reply subject, then ack it."""
        self.client.publish(msg.headers[commands.REPLY_TO_HEADER], answer)
        if ack:
            self.client.publish(msg.reply, b"+ACK")

    def violations(self) -> list[str]:
        return [e for e in self.client.error_texts if "permissions violation" in e]


@pytest.fixture
def acme(celery_worker, nats_server) -> Fleet:
    return Fleet("acme")


def subject(thing: Thing, suffix: str) -> str:
    return f"{thing.organization.slug}._.sensor.{thing.code}.{suffix}"


def delivered(command: Command, timeout: float = 5) -> Command:
    """The command once the worker has sent it (answered, failed, timed out, or waiting in the stream)."""

    def done():
        row = Command.objects.get(pk=command.pk)
        return row if row.is_final or row.stream_sequence else None

    return wait_until(done, timeout, what=f"command {command.pk} delivered")


def wait_status(command_id: int, status: str, timeout: float = 5) -> Command:
    return wait_until(
        lambda: Command.objects.filter(pk=command_id, status=status).first(), timeout, what=f"command {status}"
    )


def test_a_device_answers_a_command_sent_through_the_api(acme, connect, client_loop):
    thing = acme.thing("s-01")
    device = Device(connect, client_loop, thing)
    device.answer(subject(thing, "cmd.ping"), b'{"pong": true}')

    response = acme.api().post(
        f"/api/v1/orgs/acme/things/{thing.pk}/commands/", {"operation": "ping", "payload": {"n": 1}}, format="json"
    )
    assert response.status_code == 202, response.data
    command = wait_status(response.data["id"], "acknowledged")
    assert command.reply == {"pong": True} and command.sent_at and command.answered_at
    assert json.loads(device.received[0].data) == {"n": 1}
    assert device.received[0].headers[commands.COMMAND_HEADER] == str(command.pk)
    assert device.violations() == []
    got = acme.api().get(f"/api/v1/orgs/acme/things/{thing.pk}/commands/{command.pk}/").data
    assert got["status"] == "acknowledged" and got["reply"] == {"pong": True}


def test_an_offline_device_fails_a_command_without_ttl_at_once(acme):
    thing = acme.thing("s-01")
    command = delivered(svc.send_command(thing, acme.operation("ping")), timeout=0.9)  # no waiting for a reply
    assert command.status == "failed" and "offline" in command.error and command.stream_sequence is None
    assert dispatch.deliver(command.pk) is None  # never sent twice


def test_a_device_that_does_not_answer_times_out(acme, connect, client_loop):
    thing = acme.thing("s-01")
    device = Device(connect, client_loop, thing)
    device.client.subscribe(subject(thing, "cmd.ping"))  # listens, never answers
    command = delivered(svc.send_command(thing, acme.operation("ping")))
    assert command.status == "timed_out"
    assert "did not answer within 1 seconds" in command.error  # the worker's COMMAND_REPLY_TIMEOUT


def test_a_queued_command_reaches_the_device_when_it_comes_back_and_is_acknowledged_once(acme, connect, client_loop):
    thing = acme.thing("s-01")
    command = delivered(svc.send_command(thing, acme.operation("reboot"), {"delay": 5}))
    assert command.status == "queued" and command.stream_sequence and "offline" in command.error
    assert dispatch.sweep()["answered"] == 0  # nothing answered yet

    device = Device(connect, client_loop, thing)  # comes back
    pulled = device.pull()
    assert len(pulled) == 1
    msg = pulled[0]
    assert msg.subject == commands.queue_subject("s-01", "reboot")
    assert json.loads(msg.data) == {"delay": 5}
    assert msg.headers[commands.COMMAND_HEADER] == str(command.pk)
    # The device answers, dies before acking, comes back: the command is delivered again and answered again.
    device.run(msg, b'{"rebooting": true}', ack=False)
    assert dispatch.sweep()["answered"] == 1
    command = Command.objects.get(pk=command.pk)
    assert command.status == "acknowledged" and command.reply == {"rebooting": True}
    assert device.violations() == []

    device.client.close()
    device = Device(connect, client_loop, thing)
    device.client.publish(msg.reply, b"-NAK")  # redelivered after its ack wait anyway; -NAK: now
    again = wait_until(lambda: device.pull(), 3, what="the redelivery")
    device.run(again[0], b'{"rebooting": "again"}')
    assert dispatch.sweep()["answered"] == 0  # recorded once
    assert Command.objects.get(pk=command.pk).reply == {"rebooting": True}
    assert device.pull() == []  # acked: gone from the stream
    acks = command_events(command, "acknowledged")
    assert len(acks) == 1


def command_events(command: Command, what: str) -> list:
    from audit.models import AuditEvent

    events = AuditEvent.objects.filter(object_type="inventory.command", object_id=str(command.pk), action="update")
    return [e for e in events if e.extra.get("command") == what]


def test_a_command_past_its_deadline_expires_and_is_never_delivered(acme, connect, client_loop):
    thing = acme.thing("s-01")
    command = delivered(svc.send_command(thing, acme.operation("reboot"), ttl=1))
    keep = delivered(svc.send_command(thing, acme.operation("reboot")))
    assert command.status == keep.status == "queued"
    time.sleep(max(0, (command.expires_at - timezone.now()).total_seconds()) + 0.05)
    assert dispatch.sweep()["expired"] == 1
    assert Command.objects.get(pk=command.pk).status == "expired"
    assert len(command_events(command, "expired")) == 1

    device = Device(connect, client_loop, thing)
    pulled = device.pull()
    assert [m.headers[commands.COMMAND_HEADER] for m in pulled] == [str(keep.pk)]


def test_a_device_cannot_pull_or_answer_for_another_thing(acme, connect, client_loop):
    thing, other = acme.thing("s-01"), acme.thing("s-02")
    command = delivered(svc.send_command(other, acme.operation("reboot")))
    assert command.status == "queued"
    device = Device(connect, client_loop, thing)
    device.client.publish(commands.reply_subject("s-02", command.pk), b"forged")
    device.client.publish(f"$JS.API.CONSUMER.MSG.NEXT.{commands.COMMAND_STREAM}.s-02", b"{}")
    wait_until(lambda: len(device.violations()) >= 2, 3, what="two permission violations")
    dispatch.sweep()
    assert Command.objects.get(pk=command.pk).status == "queued"


def test_another_organizations_platform_user_sees_nothing(acme, connect, client_loop):
    globex = Fleet("globex")
    thing = acme.thing("s-01")
    twin = globex.thing("s-01")
    theirs = Device(connect, client_loop, twin)
    theirs.answer(subject(twin, "cmd.ping"), b"globex")
    command = delivered(svc.send_command(thing, acme.operation("ping")))
    assert command.status == "failed"  # acme's s-01 is offline; globex's is another account
    assert theirs.received == []


def test_a_command_sent_while_nats_is_down_waits_and_goes_out_when_it_is_back(acme, connect, client_loop, nats_server):
    thing = acme.thing("s-01")
    nats_server.stop()
    command = svc.send_command(thing, acme.operation("ping"))
    # The worker could not connect: nothing was sent and the command waits (queued, for the sweep), not failed.
    wait_until(
        lambda: any(f"Command {command.pk} not sent" in log_tail(path, 5000) for path in live.WORKER_LOGS),
        30,
        what="the worker to give the command back",
    )
    assert Command.objects.get(pk=command.pk).status in ("queued", "sent")
    nats_server.start()
    device = Device(connect, client_loop, thing)
    device.answer(subject(thing, "cmd.ping"), b"back")
    time.sleep(5)  # the sweep resends commands queued for more than 5 s
    wait_until(lambda: dispatch.sweep()["resent"] or Command.objects.filter(pk=command.pk).exclude(status="queued"))
    assert wait_status(command.pk, "acknowledged").reply == "back"
