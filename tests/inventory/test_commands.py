"""Commands to things: sending through the API (roles, payload against the schema, TTL, cross-tenant), the lists,
the compare-and-set outcomes and the contract a type with waiting commands gives its things. Delivery over a real
nats-server is in tests/integration/test_commands.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from inventory import commands, contracts
from inventory.models import Command, Operation
from inventory.services import commands as svc
from inventory.services import contracts as contract_svc
from inventory.services import types
from tenancy.roles import MANAGERS, Role
from tests.inventory.api_support import client_of, make_thing, make_type, url
from tests.support.authz import assert_access, expect

pytestmark = pytest.mark.django_db

LEVEL = {
    "type": "object",
    "properties": {"level": {"type": "integer", "minimum": 0, "maximum": 100}},
    "required": ["level"],
    "additionalProperties": False,
}
OPERATIONS = [
    {"name": "temp", "capability": "publish", "subject_suffix": "telemetry.temp"},
    {"name": "ping", "capability": "reply", "subject_suffix": "cmd.ping"},
    {"name": "reboot", "capability": "reply", "subject_suffix": "cmd.reboot", "command_ttl": 600},
    {"name": "any", "capability": "reply", "subject_suffix": "cmd.>"},
]


@pytest.fixture
def sensor(world):
    schema = types.save_message_schema(
        __import__("inventory.models", fromlist=["MessageSchema"]).MessageSchema(
            organization=world.org, namespace="acme", name="dim", version="1.0.0", schema=LEVEL
        )
    )
    thing_type = make_type(world.org, operations=OPERATIONS)
    dim = types.save_operation(
        Operation(
            thing_type=thing_type, name="dim", capability="reply", subject_suffix="cmd.dim", message_schema=schema
        )
    )
    assert dim.is_command
    return thing_type


@pytest.fixture
def thing(world, sensor):
    return make_thing(world.org, "s-01", sensor, nats_mode="auto")


def op(thing_type, name: str) -> Operation:
    return thing_type.operations.get(name=name, capability="reply")


def post(client, org, thing, data):
    return client.post(url("thing-command-list", org, thing.pk), data, format="json")


# --- Sending -----------------------------------------------------------------------------------------------------


def test_owners_and_admins_send_a_command_and_it_is_queued_for_delivery(
    world, thing, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(
            client_of(world.user("admin")), world.org, thing, {"operation": "dim", "payload": {"level": 40}}
        )
    assert response.status_code == 202, response.data
    assert response.data["status"] == "queued" and response.data["payload"] == {"level": 40}
    assert response.data["subject"] == f"{world.org.slug}._.sensor.s-01.cmd.dim"
    assert response.data["requested_by"] == world.user("admin").username
    assert len(callbacks) == 1  # the delivery, after commit
    command = Command.objects.get(pk=response.data["id"])
    assert command.organization == world.org and command.ttl == 0
    assert timedelta(seconds=25) < command.expires_at - command.created <= timedelta(seconds=30)
    created = AuditEvent.objects.get(object_type="inventory.command", object_id=str(command.pk), action="create")
    assert created.organization_id == world.org.pk


def test_the_operation_is_named_or_given_by_id(world, sensor, thing):
    owner = client_of(world.user("owner"))
    assert post(owner, world.org, thing, {"operation": str(op(sensor, "ping").pk)}).status_code == 202
    assert post(owner, world.org, thing, {"operation": "ping"}).status_code == 202


def test_roles(world, sensor, thing):
    assert_access(
        world,
        "post",
        lambda w: url("thing-command-list", w.org, thing.pk),
        expect(MANAGERS, 202),
        data_for=lambda w: {"operation": "ping"},
    )
    assert_access(world, "get", lambda w: url("thing-command-list", w.org, thing.pk), expect(set(Role), 200))
    assert_access(world, "get", lambda w: url("command-list", w.org), expect(set(Role), 200))
    command = Command.objects.first()
    assert_access(world, "get", lambda w: url("command-detail", w.org, command.pk), expect(set(Role), 200))


def test_members_send_the_commands_their_type_allows_them(world, sensor, thing):
    member = client_of(world.user("member"))
    response = post(member, world.org, thing, {"operation": "ping"})
    assert response.status_code == 403 and "owners and admins" in str(response.data)
    types.save_operation(op(sensor, "ping"), members_may_command=True)
    assert post(member, world.org, thing, {"operation": "ping"}).status_code == 202
    assert post(client_of(world.user("viewer")), world.org, thing, {"operation": "ping"}).status_code == 403


def test_a_payload_failing_the_schema_is_a_400_naming_the_field_and_nothing_is_queued(
    world, thing, django_capture_on_commit_callbacks
):
    owner = client_of(world.user("owner"))
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(owner, world.org, thing, {"operation": "dim", "payload": {"level": 400}})
        missing = post(owner, world.org, thing, {"operation": "dim", "payload": {}})
        extra = post(owner, world.org, thing, {"operation": "dim", "payload": {"level": 1, "colour": "red"}})
    assert response.status_code == 400 and "payload.level" in response.data, response.data
    assert missing.status_code == 400 and missing.data["payload.level"] == ["This field is required."]
    assert extra.status_code == 400 and "payload" in extra.data
    assert callbacks == [] and not Command.objects.exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"operation": "temp"}, "operation", "its commands: dim, ping, reboot"),  # a publish operation
        ({"operation": "any"}, "operation", "Not a command"),  # a reply operation with a wildcard
        ({"operation": "nope"}, "operation", "Not a command"),
        ({"operation": "ping", "ttl": 60}, "ttl", "TTL is 0"),
        ({"operation": "reboot", "ttl": 601}, "ttl", "At most 600 seconds"),
        ({"operation": "reboot", "ttl": -1}, "ttl", "greater than or equal"),
        ({"operation": "ping", "ttl": 2**70}, "ttl", "less than or equal"),
        ({}, "operation", "required"),
    ],
)
def test_bad_requests_are_400s_naming_the_field(world, thing, data, field, message):
    response = post(client_of(world.user("owner")), world.org, thing, data)
    assert response.status_code == 400, response.data
    assert message in str(response.data[field]), response.data
    assert not Command.objects.exists()


def test_a_thing_without_nats_user_or_deactivated_is_refused(world, sensor, thing):
    owner = client_of(world.user("owner"))
    bare = make_thing(world.org, "s-02", sensor)
    response = post(owner, world.org, bare, {"operation": "ping"})
    assert response.status_code == 400 and "no NATS user" in str(response.data["thing"])
    from inventory.services import things

    things.deactivate_thing(thing)
    response = post(owner, world.org, thing, {"operation": "ping"})
    assert response.status_code == 400 and "deactivated" in str(response.data["thing"])


def test_the_ttl_defaults_to_the_operations(world, thing):
    response = post(client_of(world.user("owner")), world.org, thing, {"operation": "reboot"})
    assert response.data["ttl"] == 600
    shorter = post(client_of(world.user("owner")), world.org, thing, {"operation": "reboot", "ttl": 5})
    assert shorter.data["ttl"] == 5


def test_another_organizations_thing_is_a_404(world, thing):
    globex_type = make_type(world.other_org, operations=OPERATIONS)
    theirs = make_thing(world.other_org, "s-01", globex_type, nats_mode="auto")
    owner = client_of(world.user("owner"))
    assert post(owner, world.org, theirs, {"operation": "ping"}).status_code == 404
    assert owner.get(url("thing-command-list", world.org, theirs.pk)).status_code == 404
    assert post(owner, world.other_org, theirs, {"operation": "ping"}).status_code == 404
    mine = svc.send_command(thing, op(thing.thing_type, "ping"))
    outsider = client_of(world.outsider)
    assert outsider.get(url("command-detail", world.other_org, mine.pk)).status_code == 404
    assert outsider.get(url("command-list", world.other_org)).data["results"] == []
    assert owner.get(url("thing-command-detail", world.org, theirs.pk, mine.pk)).status_code == 404


# --- Lists -------------------------------------------------------------------------------------------------------


def test_lists_page_with_cursors_and_filter_by_status_and_thing(world, sensor, thing):
    other = make_thing(world.org, "s-02", sensor, nats_mode="auto")
    ping = op(sensor, "ping")
    sent = [svc.send_command(thing, ping) for _ in range(3)] + [svc.send_command(other, ping)]
    svc.claim(sent[0].pk)
    svc.acknowledged(sent[0].pk, b'{"pong": true}')
    owner = client_of(world.user("owner"))

    page = owner.get(url("thing-command-list", world.org, thing.pk), {"limit": 2}).data
    assert [c["id"] for c in page["results"]] == [sent[2].pk, sent[1].pk] and page["next"]
    rest = owner.get(page["next"]).data
    assert [c["id"] for c in rest["results"]] == [sent[0].pk] and rest["results"][0]["reply"] == {"pong": True}

    everything = owner.get(url("command-list", world.org)).data["results"]
    assert len(everything) == 4
    done = owner.get(url("command-list", world.org), {"status": "acknowledged"}).data["results"]
    assert [c["id"] for c in done] == [sent[0].pk]
    of_other = owner.get(url("command-list", world.org), {"thing": other.pk}).data["results"]
    assert [c["thing_code"] for c in of_other] == ["s-02"]
    assert owner.get(url("command-list", world.org), {"status": "bogus"}).status_code == 400
    assert owner.get(url("command-list", world.org), {"thing": "9" * 30}).status_code == 400


# --- Outcomes: compare-and-set -----------------------------------------------------------------------------------


def test_a_command_is_claimed_once_and_answered_once(world, thing):
    command = svc.send_command(thing, op(thing.thing_type, "ping"))
    assert svc.claim(command.pk) is not None
    assert svc.claim(command.pk) is None  # another worker: nothing to send
    assert svc.acknowledged(command.pk, b"pong")
    assert not svc.failed(command.pk, "late")
    assert not svc.record_reply(world.org.pk, "s-01", command.pk, b"again")
    command.refresh_from_db()
    assert (command.status, command.reply, command.error) == ("acknowledged", "pong", "")
    events = AuditEvent.objects.filter(object_type="inventory.command", object_id=str(command.pk), action="update")
    assert [e.extra["command"] for e in events] == ["acknowledged"]


def test_an_answer_counts_only_for_the_thing_that_got_the_command(world, sensor, thing):
    command = svc.send_command(thing, op(sensor, "reboot"))
    svc.claim(command.pk)
    assert svc.waiting(command.pk, 7)
    assert Command.objects.get(pk=command.pk).status == "queued"
    assert not svc.record_reply(world.org.pk, "s-02", command.pk, b"ok")  # another thing's answer
    assert not svc.record_reply(world.other_org.pk, "s-01", command.pk, b"ok")  # another organization's
    assert svc.record_reply(world.org.pk, "s-01", command.pk, b'{"done": 1}')
    assert not svc.record_reply(world.org.pk, "s-01", command.pk, b'{"done": 2}')  # delivered twice: counted once
    assert Command.objects.get(pk=command.pk).reply == {"done": 1}


def test_expiry_and_stats(world, sensor, thing):
    waiting = svc.send_command(thing, op(sensor, "reboot"), ttl=1)
    svc.claim(waiting.pk)
    svc.waiting(waiting.pk, 3)
    fresh = svc.send_command(thing, op(sensor, "reboot"))
    assert not svc.expire(waiting.pk)  # not yet
    Command.objects.filter(pk=waiting.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert list(svc.due_for_expiry().values_list("pk", flat=True)) == [waiting.pk]
    assert svc.expire(waiting.pk)
    assert not svc.record_reply(world.org.pk, "s-01", waiting.pk, b"late")
    assert Command.objects.get(pk=waiting.pk).status == "expired"
    assert svc.stats() == {
        "queued": 1,
        "sent": 0,
        "acknowledged": 0,
        "failed": 0,
        "timed_out": 0,
        "expired": 1,
    }
    assert svc.stats(world.other_org)["expired"] == 0
    assert fresh.status == "queued"


def test_a_command_sent_by_a_worker_that_died_times_out(world, thing):
    command = svc.send_command(thing, op(thing.thing_type, "ping"))
    svc.claim(command.pk)
    assert svc.time_out_abandoned() == 0
    Command.objects.filter(pk=command.pk).update(sent_at=timezone.now() - timedelta(minutes=5))
    assert svc.time_out_abandoned() == 1
    assert Command.objects.get(pk=command.pk).status == "timed_out"


def test_a_reply_that_is_not_json_is_kept_as_text_and_a_huge_one_cut():
    assert svc.decode_reply(b'{"a": 1}') == {"a": 1}
    assert svc.decode_reply(b"ok") == "ok"
    assert svc.decode_reply(b"") is None
    assert len(svc.decode_reply(b"x" * (svc.MAX_REPLY_BYTES + 10))) == svc.MAX_REPLY_BYTES


# --- Operations and contracts ------------------------------------------------------------------------------------


def test_only_reply_operations_take_a_command_ttl(world):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="Only reply operations"):
        make_type(world.org, code="x", operations=[{"name": "t", "capability": "publish", "subject_suffix": "t",
                                                   "command_ttl": 5}])  # fmt: skip
    with pytest.raises(ValidationError, match="At most"):
        make_type(world.org, code="y", operations=[{"name": "t", "capability": "reply", "subject_suffix": "t",
                                                   "command_ttl": 10**9}])  # fmt: skip


def test_a_type_with_waiting_commands_lets_its_things_pull_and_answer_their_own():
    template = contracts.scope_template(
        org="acme", thing_type="sensor", prefix="{thing}", operations=[("reply", "cmd.x")], queued_commands=True
    )
    queue = [
        "$JS.API.CONSUMER.INFO.commands.{{tag(thing)}}",
        "$JS.API.CONSUMER.MSG.NEXT.commands.{{tag(thing)}}",
        "$JS.ACK.commands.{{tag(thing)}}.>",
        "_SA.reply.{{tag(thing)}}.*",
    ]
    assert template["pub_allow"] == [*contracts.TWIN_PUBLISH, *queue]
    assert template["sub_allow"] == ["{{tag(thing)}}.cmd.x", contracts.INBOX, contracts.NOTIFY]
    plain = contracts.scope_template(org="acme", thing_type="sensor", prefix="{thing}", operations=[("reply", "x")])
    assert plain["pub_allow"] == list(contracts.TWIN_PUBLISH) and plain["sub_allow"][0] == "{{tag(thing)}}.x"


def test_the_type_contract_follows_the_command_ttl(world, sensor):
    assert "_SA.reply.{{tag(thing)}}.*" in contract_svc.type_template(sensor)["pub_allow"]
    types.save_operation(op(sensor, "reboot"), command_ttl=0)
    assert "_SA.reply.{{tag(thing)}}.*" not in contract_svc.type_template(sensor)["pub_allow"]


def test_reply_subjects_parse_back():
    assert commands.parse_reply_subject(commands.reply_subject("s-01", 42)) == ("s-01", 42)
    for bad in ("_SA.reply.s-01", "_SA.reply.s-01.x", "_SA.cmd.s-01.42", "x.reply.s-01.42"):
        assert commands.parse_reply_subject(bad) is None


def test_subject_patterns_match_as_nats_does():
    from inventory.subjects import matches

    assert matches("acme.*.sensor.*.cmd.ping", "acme._.sensor.s-01.cmd.ping")
    assert not matches("acme.*.sensor.*.cmd.ping", "acme._.sensor.s-01.cmd.pong")
    assert matches("_SA.cmd.>", "_SA.cmd.s-01.reboot") and not matches("_SA.cmd.>", "_SA.cmd")
    assert not matches("a.b", "a.b.c") and not matches("a.b.c", "a.b")


def test_the_history_outlives_the_operation(world, sensor, thing):
    command = svc.send_command(thing, op(sensor, "ping"))
    types.replace_operations(sensor, [{"name": "ping", "capability": "reply", "subject_suffix": "cmd.ping"}])
    command.refresh_from_db()
    assert command.operation is None and command.operation_name == "ping"
    got = client_of(world.user("viewer")).get(url("command-detail", world.org, command.pk)).data
    assert (got["operation"], got["operation_name"]) == (None, "ping")


def test_outcomes_are_counted_in_metrics_once_committed(world, thing, settings, django_capture_on_commit_callbacks):
    from django.test import Client

    from stoneage import metrics
    from tests.observability.support import drop_prefix, fresh_prefix, samples, value

    settings.METRICS_REDIS_PREFIX = fresh_prefix()
    try:
        command = svc.send_command(thing, op(thing.thing_type, "ping"))
        with django_capture_on_commit_callbacks(execute=True):
            svc.claim(command.pk)
            svc.acknowledged(command.pk, b"pong")
            svc.failed(command.pk, "late")  # refused: already answered, not counted
        settings.METRICS_TOKEN, settings.METRICS_ALLOW, settings.METRICS_CACHE_SECONDS = "t" * 40, [], 0
        metrics.DATABASE.clear()
        found = samples(Client().get("/metrics", HTTP_AUTHORIZATION="Bearer " + "t" * 40).content.decode())
        assert value(found, "stoneage_command_outcomes_total", status="sent") == 1
        assert value(found, "stoneage_command_outcomes_total", status="acknowledged") == 1
        assert value(found, "stoneage_command_outcomes_total", status="failed") == 0
    finally:
        drop_prefix(settings.METRICS_REDIS_PREFIX)
