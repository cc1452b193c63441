"""The HTTP gateway: devices that cannot speak NATS publish, and report twin state, over HTTPS with their own
identity and exactly the permissions of their contract.

- `POST /api/v1/devices/publish/` with `{"operation": "<name>", "payload": …}` (the operation's subject for this
  thing), or `{"suffix": "<after the type's prefix>", "payload": …}`, or `{"subject": "<full subject>", …}`;
  or a batch `{"messages": [ {…}, … ]}` (at most `DEVICE_GATEWAY_MAX_BATCH`, default 100).
  Every message is checked before anything is sent: its subject against the thing's publish permissions (403
  naming the subject), its payload against the message schema of the operation that subject belongs to (400
  naming the field). The payload is sent as JSON (a string payload as its UTF-8 text).
- `PUT /api/v1/devices/twin/<property>/` with the JSON value: the thing's reported state, in the account's KV
  bucket `twin` under `thing.<code>.<property>` (the bucket is made when missing).

**The contract.** The permissions are those nats-server gives the thing's NATS user: the scope template of its
type's scoped signing key (what the account JWT carries), expanded for the thing's tags (`thing:`, `location:`) as
nats-server expands it at connect (`{{tag(x)}}` → one subject per `x:` tag, none when the tag is missing). A thing
without a NATS user (token-only) gets the tags its user would have. Publishing happens through the organization's
pooled gateway connections (`inventory.devices.natspool` explains why not one connection per thing).

**Delivery.** A single message is published with core NATS and flushed (nats-server has it when the answer is
202), or through JetStream with its publish ack when a stream captures its subject. A batch is all or nothing: every
subject must be captured by a stream (else 400 before anything is sent: core NATS cannot take back a message); each
message is published with `Nats-Msg-Id` and acked; when one fails the acked ones are deleted from their streams and
the answer is 503. NATS unreachable or not answering in time is a 503 with `Retry-After`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from dataclasses import dataclass

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from audit.context import set_actor, set_organization
from credentials.codecs import natsjwt as nj
from inventory import subjects
from inventory.devices import gateway_auth
from inventory.devices.natspool import POOL, NatsUnavailable
from inventory.schemas import document_errors
from inventory.services import contracts as contract_svc
from inventory.twin import state as twin_state

TWIN_BUCKET = twin_state.REPORTED
_TAG = re.compile(r"\{\{\s*tag\(\s*([^)\s]*)\s*\)\s*\}\}")


def max_body() -> int:
    return int(getattr(settings, "DEVICE_GATEWAY_MAX_BODY", 256 * 1024))


def max_batch() -> int:
    return int(getattr(settings, "DEVICE_GATEWAY_MAX_BATCH", 100))


# --- The contract ------------------------------------------------------------------------------------------------


def expand(template_subject: str, tags: list[str]) -> list[str]:
    """What nats-server makes of a scope template subject for a user with these tags."""
    values: dict[str, list[str]] = {}
    for tag in tags:
        name, _, value = tag.partition(":")
        values.setdefault(name, []).append(value)
    out = [""]
    position = 0
    for match in _TAG.finditer(template_subject):
        out = [
            f"{s}{template_subject[position : match.start()]}{v}" for s in out for v in values.get(match.group(1), [])
        ]
        position = match.end()
    return [f"{s}{template_subject[position:]}" for s in out]


def matches(pattern: str, subject: str) -> bool:
    """Whether a NATS subject pattern (with `*` and `>`) covers a literal subject."""
    p, s = pattern.split("."), subject.split(".")
    for i, token in enumerate(p):
        if token == ">":  # noqa: S105 - a subject token
            return len(s) > i
        if i >= len(s) or (token != "*" and token != s[i]):  # noqa: S105
            return False
    return len(p) == len(s)


@dataclass
class Contract:
    pub_allow: list[str]
    pub_deny: list[str]

    def allows(self, subject: str) -> bool:
        return any(matches(p, subject) for p in self.pub_allow) and not any(matches(p, subject) for p in self.pub_deny)


def contract_of(thing) -> Contract:
    key = thing.thing_type.signing_key
    template = (
        key.scope_template if key is not None and key.scope_template else contract_svc.type_template(thing.thing_type)
    )
    tags = (
        list(thing.nats_user.tags)
        if thing.nats_user_id and thing.nats_user.tags
        else contract_svc.thing_user_tags(thing)
    )
    pub_allow = nj.string_list([s for t in template.get("pub_allow", []) for s in expand(t, tags)])
    pub_deny = nj.string_list([s for t in template.get("pub_deny", []) for s in expand(t, tags)])
    if not pub_allow:
        pub_deny = [">"]
    return Contract(pub_allow, pub_deny)


# --- Messages ----------------------------------------------------------------------------------------------------


@dataclass
class Message:
    subject: str
    data: bytes


def _operations(thing):
    if not hasattr(thing, "_gateway_operations"):
        thing._gateway_operations = list(
            thing.thing_type.operations.filter(capability__in=("publish", "request")).select_related("message_schema")
        )
    return thing._gateway_operations


def _bad(field: str, message: str):
    raise exceptions.ValidationError({field: [message]})


def build_message(thing, item, contract: Contract, where: str = "") -> Message:
    if not isinstance(item, dict):
        _bad(where or "non_field_errors", "Send a JSON object with `operation`, `suffix` or `subject`, and `payload`.")
    values = thing.subject_values()
    operations = _operations(thing)
    name, suffix, subject = item.get("operation"), item.get("suffix", item.get("subject_suffix")), item.get("subject")
    if sum(v is not None for v in (name, suffix, subject)) != 1:
        _bad(f"{where}operation", "Give exactly one of `operation`, `suffix` or `subject`.")
    if "payload" not in item:
        _bad(f"{where}payload", "This field is required.")
    operation = None
    if name is not None:
        operation = next((op for op in operations if op.name == name), None)
        if operation is None:
            known = ", ".join(sorted({op.name for op in operations})) or "none"
            _bad(f"{where}operation", f"The type has no publish or request operation {name!r} (it has: {known}).")
        subject = subjects.render(operation.subject_template, values)
    elif suffix is not None:
        if not isinstance(suffix, str) or not suffix:
            _bad(f"{where}suffix", "Enter the subject after the type's prefix.")
        subject = subjects.render(subjects.join(thing.thing_type.subject_prefix, suffix), values)
    elif not isinstance(subject, str):
        _bad(f"{where}subject", "Enter the subject as text.")
    try:
        subjects.check_subject(subject, wildcards=False)
    except subjects.SubjectTemplateError as exc:
        _bad(f"{where}subject", str(exc))
    if not contract.allows(subject):
        raise exceptions.PermissionDenied(f"The thing's contract does not allow publishing on {subject}.")
    if operation is None:
        operation = next((op for op in operations if subjects.render(op.subject_template, values) == subject), None)
    payload = item["payload"]
    if operation is not None and operation.message_schema_id:
        errors = document_errors(payload, operation.message_schema.schema, root=f"{where}payload")
        if errors:
            raise exceptions.ValidationError({k: [v] for k, v in errors.items()})
    data = payload.encode() if isinstance(payload, str) else json.dumps(payload, separators=(",", ":")).encode()
    return Message(subject, data)


async def _stream_of(slot, subject: str) -> str | None:
    try:
        return await slot.js.find_stream_name_by_subject(subject)
    except Exception as exc:  # noqa: BLE001 - "no stream matches" comes as NotFoundError, or an API error
        if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
            raise NatsUnavailable("JetStream did not answer in time.") from exc
        return None


class BatchRefused(Exception):
    pass


def publish(organization_id: int, messages: list[Message], *, batch: bool) -> list[dict]:
    """Send the checked messages; returns one receipt per message. Raises NatsUnavailable, BatchRefused."""
    wait = float(getattr(settings, "NATS_REQUEST_TIMEOUT", 5))

    async def work(slot) -> list[dict]:
        streams = {}
        for m in messages:
            if m.subject not in streams:
                streams[m.subject] = await _stream_of(slot, m.subject)
        if batch and len(messages) > 1:
            loose = sorted({s for s, name in streams.items() if name is None})
            if loose:
                raise BatchRefused(
                    "A batch is all or nothing through JetStream, and no stream captures "
                    + ", ".join(loose)
                    + "; send these messages one by one."
                )
        receipts: list[dict] = []
        acked: list[tuple[str, int]] = []
        try:
            for m in messages:
                if streams[m.subject]:
                    ack = await slot.js.publish(
                        m.subject, m.data, timeout=wait, headers={"Nats-Msg-Id": uuid.uuid4().hex}
                    )
                    acked.append((ack.stream, ack.seq))
                    receipts.append({"subject": m.subject, "stream": ack.stream, "seq": ack.seq})
                else:
                    await slot.nc.publish(m.subject, m.data)
                    receipts.append({"subject": m.subject, "stream": None, "seq": None})
            await slot.nc.flush(timeout=wait)
        except Exception as exc:
            for stream, seq in acked:  # take back what was stored: nothing half-published
                with contextlib.suppress(Exception):  # best effort; the 503 says the batch failed
                    await slot.js.delete_msg(stream, seq)
            if isinstance(exc, NatsUnavailable):
                raise
            raise NatsUnavailable(f"NATS did not take the message: {type(exc).__name__}") from exc
        return receipts

    return POOL.run(organization_id, work)


async def ensure_bucket(js, bucket: str):
    """The KV bucket, made with the twin's configuration when missing (`inventory.twin.store`), tolerating one made
    meanwhile by the bucket task or another gateway process."""
    import nats.js.errors as js_errors

    from inventory.twin import store

    try:
        return await js.key_value(bucket)
    except js_errors.BucketNotFoundError:
        pass
    try:
        return await js.create_key_value(store.bucket_config(bucket))
    except js_errors.BadRequestError:
        return await js.key_value(bucket)


def put_twin(organization_id: int, key: str, data: bytes) -> int:
    async def work(slot) -> int:
        try:
            kv = await ensure_bucket(slot.js, TWIN_BUCKET)
            return await kv.put(key, data)
        except NatsUnavailable:
            raise
        except Exception as exc:
            raise NatsUnavailable(f"NATS did not store the state: {type(exc).__name__}") from exc

    return POOL.run(organization_id, work)


# --- Views -------------------------------------------------------------------------------------------------------


class PayloadTooLarge(exceptions.APIException):
    status_code = 413
    default_code = "payload_too_large"


class NatsDown(exceptions.APIException):
    status_code = 503
    default_code = "nats_unavailable"
    default_detail = "NATS is unavailable; nothing was published. Try again shortly."


class ThingThrottle(SimpleRateThrottle):
    """Requests per thing (`DEVICE_GATEWAY_RATE`, default 600/minute); 429 with Retry-After."""

    scope = "device-gateway"

    def get_rate(self):
        return getattr(settings, "DEVICE_GATEWAY_RATE", "600/minute")

    def get_cache_key(self, request, view):
        user = request.user
        if not isinstance(user, gateway_auth.ThingDevice):
            return None
        return self.cache_format % {"scope": self.scope, "ident": user.thing.pk}


class GatewayView(APIView):
    authentication_classes = [
        gateway_auth.SessionThingAuthentication,
        gateway_auth.NKeySignatureAuthentication,
        gateway_auth.DeviceTokenAuthentication,
    ]
    permission_classes = [gateway_auth.IsThing]
    throttle_classes = [ThingThrottle]

    def initial(self, request, *args, **kwargs):
        # Before authentication reads the body (a signature covers it): refuse an oversized one unread.
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = max_body()
        if length > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        super().initial(request, *args, **kwargs)
        set_actor(name=str(request.user))
        set_organization(request.user.thing.organization_id)

    def finalize_response(self, request, response, *args, **kwargs):
        # Device data (messages, twin state) is data-plane traffic, not a change of the control plane: like a
        # publish over NATS it is not written to the audit log. Refusals are (the request log keeps them).
        if response.status_code < 400:
            request._request.audit_skip = True
        return super().finalize_response(request, response, *args, **kwargs)

    def handle_exception(self, exc):
        if isinstance(exc, NatsUnavailable):
            exc = NatsDown()
            response = super().handle_exception(exc)
            response["Retry-After"] = "5"
            return response
        return super().handle_exception(exc)

    def body(self, request):
        try:
            return request.data
        except exceptions.ParseError as exc:
            raise exceptions.ValidationError(
                {"non_field_errors": [f"The body is not valid JSON: {exc.detail}"]}
            ) from None


class PublishView(GatewayView):
    """Publish one message, or a batch, on the thing's contract subjects."""

    @extend_schema(
        request=inline_serializer(
            "GatewayPublish",
            {
                "operation": serializers.CharField(required=False),
                "suffix": serializers.CharField(required=False),
                "subject": serializers.CharField(required=False),
                "payload": serializers.JSONField(required=False),
                "messages": serializers.ListField(child=serializers.DictField(), required=False),
            },
        ),
        responses={202: inline_serializer("GatewayReceipts", {"published": serializers.ListField()})},
    )
    def post(self, request):
        thing = request.user.thing
        data = self.body(request)
        if not isinstance(data, dict):
            _bad("non_field_errors", "Send a JSON object.")
        contract = contract_of(thing)
        if "messages" in data:
            items = data["messages"]
            if not isinstance(items, list) or not items:
                _bad("messages", "Send a non-empty list of messages.")
            if len(items) > max_batch():
                _bad("messages", f"Send at most {max_batch()} messages in one batch.")
            messages = [build_message(thing, item, contract, f"messages.{i}.") for i, item in enumerate(items)]
            batch = True
        else:
            messages, batch = [build_message(thing, data, contract)], False
        try:
            receipts = publish(thing.organization_id, messages, batch=batch)
        except BatchRefused as exc:
            _bad("messages", str(exc))
        return Response({"published": receipts}, status=202)


class TwinView(GatewayView):
    """Write the thing's reported state of one property (the body is its JSON value)."""

    @extend_schema(
        request={"application/json": OpenApiTypes.ANY},
        responses={
            200: inline_serializer(
                "GatewayTwin", {"key": serializers.CharField(), "revision": serializers.IntegerField()}
            )
        },
    )
    def put(self, request, property: str):
        if not twin_state.valid_property(property):
            _bad("property", "Enter a property name: letters, digits, '_', '=', '/' and '-' (up to 128).")
        thing = request.user.thing
        value = self.body(request)
        key = f"{twin_state.object_prefix('thing', thing.code)}{property}"
        # The same permission as the thing's own put over NATS (its contract holds `$KV.twin.thing.<code>.>`).
        if not contract_of(thing).allows(f"$KV.{TWIN_BUCKET}.{key}"):
            raise exceptions.PermissionDenied(f"The thing's contract does not allow writing {key}.")
        revision = put_twin(thing.organization_id, key, twin_state.encode_value(value))
        return Response({"key": key, "revision": revision})
