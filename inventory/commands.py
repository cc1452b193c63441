"""Commands on the data plane: subjects, streams and permissions (pure, no Django).

A command is a NATS request the control plane sends on the subject of one of a thing's `reply` operations, as the
organization's platform service user; the thing's reply is the acknowledgment. Every request carries the header
`Stone-Age-Command` (the command's id).

A thing that is offline (no responders) gets the command later when the operation has a TTL, through JetStream in
the organization's account:

- stream `commands` (work queue) captures `_SA.cmd.<thing>.<operation>`; the control plane publishes the command
  there with `Nats-Msg-Id` = the command's id (JetStream drops a second publish of the same id), and creates the
  thing's durable pull consumer, named by the thing's code and filtered on `_SA.cmd.<thing>.>`;
- the thing, when it connects, pulls from its consumer (`$JS.API.CONSUMER.MSG.NEXT.commands.<thing>`, replies on
  its own inbox `_INBOX.<thing>.>`), runs each command, publishes its answer on the subject of the header
  `Stone-Age-Reply-To` (`_SA.reply.<thing>.<command id>`) and then acks the message (`$JS.ACK.commands.<thing>.>`),
  which removes it from the stream;
- stream `command_replies` (work queue) keeps those answers until the control plane's sweep pulls them (durable
  consumer `control-plane`) and records each once: only a command still waiting moves to acknowledged, so an
  answer sent twice (a thing that died between answering and acking gets the message again) counts once;
- a command past its `expires_at` is marked expired and its message deleted from the stream, so a thing that comes
  back later never sees it.

A thing may only pull its own consumer and answer for itself: its type's contract grants these subjects with its
own code (`{{tag(thing)}}`), and the control plane only accepts an answer for a command of the thing named in the
answer's subject.
"""

from __future__ import annotations

from collections.abc import Iterable

PREFIX = "_SA"
COMMAND_STREAM = "commands"
REPLY_STREAM = "command_replies"
REPLY_CONSUMER = "control-plane"
#: Headers of a command message.
COMMAND_HEADER = "Stone-Age-Command"
REPLY_TO_HEADER = "Stone-Age-Reply-To"
EXPIRES_HEADER = "Stone-Age-Expires"
MSG_ID_HEADER = "Nats-Msg-Id"
#: JetStream forgets ids older than this; the control plane also keeps the stream sequence of what it published.
DUPLICATE_WINDOW = 3600


def queue_subject(thing_code: str, operation_name: str) -> str:
    return f"{PREFIX}.cmd.{thing_code}.{operation_name}"


def queue_filter(thing_code: str) -> str:
    return f"{PREFIX}.cmd.{thing_code}.>"


def reply_subject(thing_code: str, command_id: int) -> str:
    return f"{PREFIX}.reply.{thing_code}.{command_id}"


def parse_reply_subject(subject: str) -> tuple[str, int] | None:
    """`(thing code, command id)` of an answer's subject, or None when it is not one."""
    parts = subject.split(".")
    if len(parts) != 4 or parts[0] != PREFIX or parts[1] != "reply" or not parts[3].isdigit():
        return None
    return parts[2], int(parts[3])


def consumer_name(thing_code: str) -> str:
    """The thing's durable consumer on `commands` (codes are valid consumer names: no dots, no wildcards)."""
    return thing_code


def stream_configs(max_age: int) -> dict[str, dict]:
    """JetStream configurations of the two streams (`$JS.API.STREAM.CREATE.<name>` bodies)."""
    common = {
        "retention": "workqueue",
        "storage": "file",
        "max_age": max_age * 1_000_000_000,
        "duplicate_window": min(DUPLICATE_WINDOW, max_age) * 1_000_000_000,
        "num_replicas": 1,
        "discard": "old",
    }
    return {
        COMMAND_STREAM: {"name": COMMAND_STREAM, "subjects": [f"{PREFIX}.cmd.*.>"], **common},
        REPLY_STREAM: {"name": REPLY_STREAM, "subjects": [f"{PREFIX}.reply.*.*"], **common},
    }


def thing_consumer_config(thing_code: str) -> dict:
    return {
        "durable_name": consumer_name(thing_code),
        "filter_subject": queue_filter(thing_code),
        "ack_policy": "explicit",
        "deliver_policy": "all",
        "ack_wait": 30 * 1_000_000_000,
        "max_ack_pending": 100,
    }


def reply_consumer_config() -> dict:
    return {"durable_name": REPLY_CONSUMER, "ack_policy": "explicit", "deliver_policy": "all"}


#: What a thing whose type queues commands may do beyond its operations (a scope template: `{{tag(thing)}}`).
THING_QUEUE_PUBLISH = [
    f"$JS.API.CONSUMER.INFO.{COMMAND_STREAM}.{{{{tag(thing)}}}}",
    f"$JS.API.CONSUMER.MSG.NEXT.{COMMAND_STREAM}.{{{{tag(thing)}}}}",
    f"$JS.ACK.{COMMAND_STREAM}.{{{{tag(thing)}}}}.>",
    f"{PREFIX}.reply.{{{{tag(thing)}}}}.*",
]
THING_QUEUE_SUBSCRIBE = ["_INBOX.{{tag(thing)}}.>"]


def platform_permissions(command_subjects: Iterable[str]) -> list[str]:
    """What the platform service user publishes to send commands: the command subjects of the organization's types
    (per-thing tokens as `*`), the two streams and their consumers."""
    js = "$JS.API"
    return [
        *sorted(set(command_subjects)),
        f"{PREFIX}.cmd.>",
        *[f"{js}.STREAM.{verb}.{name}" for verb in ("INFO", "CREATE") for name in (COMMAND_STREAM, REPLY_STREAM)],
        f"{js}.STREAM.MSG.DELETE.{COMMAND_STREAM}",
        f"{js}.CONSUMER.CREATE.{COMMAND_STREAM}.>",
        f"{js}.CONSUMER.DURABLE.CREATE.{COMMAND_STREAM}.>",
        f"{js}.CONSUMER.CREATE.{REPLY_STREAM}.{REPLY_CONSUMER}",
        f"{js}.CONSUMER.CREATE.{REPLY_STREAM}.{REPLY_CONSUMER}.>",
        f"{js}.CONSUMER.DURABLE.CREATE.{REPLY_STREAM}.{REPLY_CONSUMER}",
        f"{js}.CONSUMER.MSG.NEXT.{REPLY_STREAM}.{REPLY_CONSUMER}",
        f"$JS.ACK.{REPLY_STREAM}.{REPLY_CONSUMER}.>",
    ]
