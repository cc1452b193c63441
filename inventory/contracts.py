"""A thing type's contract as NATS permissions: the template of the type's scoped signing key (pure, no Django).

Every thing of the type connects with a user JWT issued by that key, carrying no permissions and the tags
`thing:<code>`, `location:<location code>` (`location:_` without a location) and `type:<type code>`. nats-server
expands the template for each thing when it connects, so one template serves every thing of the type:

- the placeholders of the type's subjects become `{thing}` → `{{tag(thing)}}`, `{location}` → `{{tag(location)}}`;
  `{thing_type}` and `{org}` are the same for every thing and are written literally (the type's code, the
  organization's slug);
- publish → publish allowed; subscribe → subscribe allowed;
- reply → subscribe allowed on the request subject, and the response permission (`resp`: one reply to each request
  received, for as long as nats-server's default allows);
- request → publish allowed on the request subject;
- every thing may subscribe on its own inbox `_INBOX.<thing code>.>` (replies, its twin watch): **a device uses
  the inbox prefix `_INBOX.<its code>`** (nats-py `inbox_prefix`, nats.go `nats.CustomInboxPrefix`), never the
  default `_INBOX.>`, which would let it read every other thing's replies;
- the digital twin (`inventory.twin`): every thing puts its own reported state in the `twin` bucket (keys
  `thing.<code>.<property>`) and gets and watches its own desired state in `twin_desired`, and nothing else in
  the buckets. What nats-py needs for that, checked against nats-server: bucket info for both buckets (its
  `key_value()`), a direct get of the last value of its own keys (`$JS.API.DIRECT.GET.<stream>.<subject>`: the
  buckets allow direct gets), and a watch through a *named* consumer whose filter is in the request subject
  (`$JS.API.CONSUMER.CREATE.<stream>.<name>.<filter>`), with its flow control. nats-py's `KeyValue.watch` creates
  an unnamed consumer (`$JS.API.CONSUMER.CREATE.<stream>`, the filter only in the body), which would let a
  device read every thing's desired state, so it is not granted: **a device watches its desired state with
  `js.subscribe("$KV.twin_desired.thing.<code>.>", stream="KV_twin_desired", ordered_consumer=True,
  config=ConsumerConfig(name=...))`** (nats.go's `jetstream` package names its consumers itself). Replies and
  deliveries come to the thing's own inbox, granted here;
- a type with commands that wait for offline things (a reply operation with a TTL): the thing may pull its own
  pending commands from the stream `commands`, ack them and answer them (`inventory.commands`), through its own
  inbox `_INBOX.<thing code>.>` as for requests;
- an empty allow list would let NATS allow everything: a direction with nothing allowed denies `>`;
- every thing may subscribe to its **config notification subject** `_SA.config.<its code>` (reserved: no operation
  may use the `_SA.` prefix): the control plane's platform service user publishes an empty message there whenever
  the thing's config changes (renewed certificate, rotated CA, new blocklist, firewall edit, reissued JWT), and the
  device fetches `GET /api/v1/devices/config/` again (`inventory.devices.notify`, `deploy/device_agent.py`).

A change of the type's operations or prefix changes the template only: one account push, after which
nats-server drops the type's connected things and they reconnect under the new contract with the same JWT.
"""

from __future__ import annotations

from collections.abc import Iterable

from inventory import commands, subjects

PUBLISH, SUBSCRIBE, REQUEST, REPLY = "publish", "subscribe", "request", "reply"
CAPABILITIES = (PUBLISH, SUBSCRIBE, REQUEST, REPLY)

#: What each per-thing placeholder becomes in a scope template: nats-server's tag of the thing's user JWT.
PER_THING = {"thing": "{{tag(thing)}}", "location": "{{tag(location)}}"}
#: The inbox a thing receives its replies on (`inbox_prefix` of its NATS client), as a template.
INBOX = "_INBOX.{{tag(thing)}}.>"
#: One reply per request received (`resp.max`); ttl 0 = nats-server's default.
RESPONSE = {"max": 1, "ttl": 0}
EVERYTHING = ">"
#: The reserved prefix of the control plane's subjects towards devices.
RESERVED_PREFIX = commands.PREFIX
#: A thing's config notification subject, as a template.
NOTIFY = "_SA.config.{{tag(thing)}}"


def notify_subject(thing_code: str) -> str:
    """The subject a thing's config notifications arrive on."""
    return f"{RESERVED_PREFIX}.config.{thing_code}"

#: The digital twin: put its own reported state, get and watch its own desired state (see above).
TWIN_PUBLISH = (
    "$KV.twin.thing.{{tag(thing)}}.>",
    "$JS.API.STREAM.INFO.KV_twin",
    "$JS.API.STREAM.INFO.KV_twin_desired",
    "$JS.API.DIRECT.GET.KV_twin_desired.$KV.twin_desired.thing.{{tag(thing)}}.>",
    "$JS.API.CONSUMER.CREATE.KV_twin_desired.*.$KV.twin_desired.thing.{{tag(thing)}}.>",
    "$JS.FC.KV_twin_desired.>",
)


def inbox_prefix(thing_code: str) -> str:
    """The inbox prefix a thing's NATS client must use for its requests."""
    return f"_INBOX.{thing_code}"


def thing_tags(thing_code: str, location_code: str | None, type_code: str) -> list[str]:
    """The tags of a thing's user JWT, from which nats-server expands its type's template."""
    return [f"thing:{thing_code}", f"location:{location_code or subjects.NO_LOCATION}", f"type:{type_code}"]


def operation_subject(*, org: str, thing_type: str, prefix: str, suffix: str) -> str:
    """An operation's subject in a scope template (per-thing tokens as template functions)."""
    values = {"org": org, "thing_type": thing_type, **PER_THING}
    return subjects.render(subjects.join(prefix, suffix), values)


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def scope_template(
    *, org: str, thing_type: str, prefix: str, operations: Iterable[tuple[str, str]], queued_commands: bool = False
) -> dict:
    """The template of the type's scoped key (`credentials.models.nats.scope_permission_limits` reads it), from the
    organization's slug, the type's code and subject prefix, and its operations as `(capability, subject_suffix)`;
    `queued_commands` when one of its commands waits for offline things."""
    pub: list[str] = []
    sub: list[str] = []
    replies = requests = False
    for capability, suffix in operations:
        if capability not in CAPABILITIES:
            raise ValueError(f"Unknown capability {capability!r}; use one of {', '.join(CAPABILITIES)}.")
        subject = operation_subject(org=org, thing_type=thing_type, prefix=prefix, suffix=suffix)
        if capability in (PUBLISH, REQUEST):
            pub.append(subject)
        else:
            sub.append(subject)
        replies |= capability == REPLY
        requests |= capability == REQUEST
    pub += TWIN_PUBLISH
    if queued_commands:
        pub += commands.THING_QUEUE_PUBLISH
    sub.append(INBOX)
    sub.append(NOTIFY)
    template: dict = {"pub_allow": _unique(pub), "sub_allow": _unique(sub)}
    if replies:
        template["resp"] = dict(RESPONSE)
    return template
