"""Commands for devices on HTTP: the same `Command` records as the NATS path (`inventory.services.commands`).

A thing that never subscribes to its command subjects is offline to the control plane: a command for it with a
TTL waits in the stream `commands` (status `queued`, with its `stream_sequence`) until its deadline; one without a
TTL fails at once. Commands for HTTP devices therefore need operations with a command TTL.

- `GET /api/v1/devices/commands/?wait=<seconds>` answers the thing's waiting commands (oldest first), at once when
  there are some; otherwise it holds the request up to `wait` seconds (at most `DEVICE_COMMAND_MAX_WAIT`, 30;
  default 20) and answers as soon as one arrives (an empty list when none did). The wait is woken by the command's
  message on `_SA.cmd.<thing>.>` in the organization's account (the gateway's pooled connection subscribes there for
  the duration), and checks the database every few seconds besides. The view is asynchronous: a waiting device
  holds no worker thread.
- A command is answered in every poll until it is acknowledged or expires (at least once): the device acts on it,
  then `POST /api/v1/devices/commands/<id>/ack/` `{"reply": <any JSON>}` records the acknowledgment (status
  `acknowledged`, with the reply, one audit event) exactly as an answer over NATS does, and removes the message from
  the stream so that a NATS connection of the same thing never gets it again. A second ack is a 409 naming the
  command's status; another thing's command is a 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from inventory import commands
from inventory.devices.gateway import GatewayView, _bad
from inventory.devices.natspool import POOL, NatsUnavailable
from inventory.models import Command
from inventory.services import commands as command_svc

RECHECK_SECONDS = 5.0


def max_wait() -> int:
    return int(getattr(settings, "DEVICE_COMMAND_MAX_WAIT", 30))


def pending(thing_id: int) -> list[dict]:
    rows = Command.objects.filter(
        thing_id=thing_id,
        status=Command.Status.QUEUED,
        stream_sequence__isnull=False,
        expires_at__gt=timezone.now(),
    ).order_by("created", "pk")
    return [
        {
            "id": c.pk,
            "operation": c.operation_name,
            "subject": c.subject,
            "payload": c.payload,
            "expires_at": c.expires_at.isoformat().replace("+00:00", "Z"),
        }
        for c in rows
    ]


def _pending_in_thread(thing_id: int) -> list[dict]:
    try:
        return pending(thing_id)
    finally:
        connection.close()  # a thread of the loop's executor: never leave a connection behind


def _wait_for_commands(thing_id: int, thing_code: str, seconds: float):
    """The pooled work of a long poll: subscribe to the thing's command subjects, then check, wait, check."""

    async def work(slot) -> list[dict]:
        woken = asyncio.Event()

        async def on_message(msg) -> None:
            woken.set()

        sub = await slot.nc.subscribe(commands.queue_filter(thing_code), cb=on_message)
        deadline = time.monotonic() + seconds
        try:
            await slot.nc.flush(timeout=POOL_TIMEOUT)
            while True:
                found = await asyncio.to_thread(_pending_in_thread, thing_id)
                if found:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                woken.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), min(remaining, RECHECK_SECONDS))
                    # The command's row gets its stream sequence just after the message is stored.
                    for _ in range(20):
                        found = await asyncio.to_thread(_pending_in_thread, thing_id)
                        if found:
                            return found
                        await asyncio.sleep(0.05)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    return work


POOL_TIMEOUT = 5.0


class Conflict(exceptions.APIException):
    status_code = 409
    default_code = "conflict"


class CommandsView(GatewayView):
    """The authenticated, throttled first look of a long poll (the waiting is `commands_long_poll`'s)."""

    @extend_schema(
        responses=inline_serializer(
            "GatewayCommands", {"commands": serializers.ListField(child=serializers.DictField())}
        )
    )
    def get(self, request):
        raw = request.query_params.get("wait", "20")
        try:
            wait = float(raw)
        except ValueError:
            wait = -1
        if not 0 <= wait <= max_wait():
            _bad("wait", f"Enter a number of seconds from 0 to {max_wait()}.")
        thing = request.user.thing
        found = pending(thing.pk)
        response = Response({"commands": found})
        if not found and wait > 0:
            response.long_poll = (thing.pk, thing.code, thing.organization_id, wait)
        return response


_first_look = CommandsView.as_view()


async def commands_long_poll(request):
    response = await sync_to_async(_first_look)(request)
    poll = getattr(response, "long_poll", None)
    if poll is None:
        return response
    thing_id, code, organization_id, wait = poll
    try:
        found = await POOL.run_async(organization_id, _wait_for_commands(thing_id, code, wait), deadline=wait + 10)
    except NatsUnavailable:
        # NATS away: the commands waiting in the database are still the truth; answer what there is now.
        found = await sync_to_async(pending)(thing_id)
    return JsonResponse({"commands": found})


class CommandAckView(GatewayView):
    """Acknowledge a command with the device's reply; recorded as an answer over NATS would be."""

    @extend_schema(
        request=inline_serializer("GatewayCommandAck", {"reply": serializers.JSONField(required=False)}),
        responses=inline_serializer(
            "GatewayCommandAcked", {"id": serializers.IntegerField(), "status": serializers.CharField()}
        ),
    )
    def post(self, request, command_id: int):
        thing = request.user.thing
        data = self.body(request)
        if data in (None, b"", ""):
            data = {}
        if not isinstance(data, dict):
            _bad("non_field_errors", 'Send a JSON object, e.g. {"reply": {"ok": true}}.')
        command = Command.objects.filter(pk=command_id, thing_id=thing.pk).first()
        if command is None:
            raise exceptions.NotFound("This thing has no such command.")
        reply = data.get("reply")
        if not command_svc.record_reply(thing.organization_id, thing.code, command.pk, command_svc.encode(reply)):
            command.refresh_from_db()
            raise Conflict(f"This command is {command.get_status_display().lower()}; it cannot be acknowledged.")
        if command.stream_sequence:
            self._take_out_of_stream(thing.organization_id, command.stream_sequence)
        return Response({"id": command.pk, "status": Command.Status.ACKNOWLEDGED})

    def _take_out_of_stream(self, organization_id: int, sequence: int) -> None:
        async def work(slot):
            with contextlib.suppress(Exception):  # gone already (expired, acked over NATS): nothing to remove
                await slot.js.delete_msg(commands.COMMAND_STREAM, sequence)

        with contextlib.suppress(NatsUnavailable):  # recorded; the message expires with its deadline
            POOL.run(organization_id, work)
