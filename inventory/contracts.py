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
- request → publish allowed on the request subject, and subscribe allowed on the thing's own inbox
  `_INBOX.<thing code>.>`: **a device sends requests with the inbox prefix `_INBOX.<its code>`** (nats-py
  `inbox_prefix`, nats.go `nats.CustomInboxPrefix`), never the default `_INBOX.>`, which would let it read every
  other thing's replies;
- a type with commands that wait for offline things (a reply operation with a TTL): the thing may pull its own
  pending commands from the stream `commands`, ack them and answer them (`inventory.commands`), through its own
  inbox `_INBOX.<thing code>.>` as for requests;
- an empty allow list would let NATS allow everything: a direction with nothing allowed denies `>`.

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
    if queued_commands:
        pub += commands.THING_QUEUE_PUBLISH
    if requests or queued_commands:
        sub.append(INBOX)
    template: dict = {"pub_allow": _unique(pub), "sub_allow": _unique(sub)}
    if not pub:
        template["pub_deny"] = [EVERYTHING]
    if not sub:
        template["sub_deny"] = [EVERYTHING]
    if replies:
        template["resp"] = dict(RESPONSE)
    return template
