"""Commands on a thing's admin page: the panel lists its recent commands, the JSON the page polls, the form that
sends one (roles, payload errors as messages), other organizations' things are 404s."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from inventory.models import Command
from inventory.services import commands as svc
from inventory.services import types
from tests.inventory.api_support import make_thing, make_type

pytestmark = pytest.mark.django_db

OPERATIONS = [
    {"name": "temp", "capability": "publish", "subject_suffix": "telemetry.temp"},
    {"name": "ping", "capability": "reply", "subject_suffix": "cmd.ping"},
    {"name": "reboot", "capability": "reply", "subject_suffix": "cmd.reboot", "command_ttl": 60},
]


@pytest.fixture
def thing(world):
    return make_thing(world.org, "s-01", make_type(world.org, operations=OPERATIONS), nats_mode="auto")


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def commands_url(thing) -> str:
    return reverse("admin:inventory_thing_commands", args=[thing.pk])


def ping(thing):
    return thing.thing_type.operations.get(name="ping")


def test_the_change_page_lists_recent_commands_and_offers_the_form_to_managers(world, thing):
    command = svc.send_command(thing, ping(thing), {"n": 1})
    svc.claim(command.pk)
    svc.acknowledged(command.pk, b'{"pong": 1}')
    page = signed_in(world.user("admin")).get(reverse("admin:inventory_thing_change", args=[thing.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="commands"' in html and "Acknowledged" in html and "{&#x27;pong&#x27;: 1}" in html
    assert 'id="command-form"' in html and ">ping<" in html and "reboot (waits up to 60 s)" in html
    assert ">temp<" not in html  # not a command

    viewer = signed_in(world.user("viewer")).get(reverse("admin:inventory_thing_change", args=[thing.pk]))
    assert 'id="commands"' in viewer.content.decode() and 'id="command-form"' not in viewer.content.decode()


def test_the_panel_polls_a_json_list(world, thing):
    svc.send_command(thing, ping(thing))
    response = signed_in(world.user("viewer")).get(commands_url(thing))
    assert response.status_code == 200
    rows = response.json()["commands"]
    assert [(r["operation"], r["status"]) for r in rows] == [("ping", "queued")]


def test_the_form_sends_a_command(world, thing, django_capture_on_commit_callbacks):
    client = signed_in(world.user("owner"))
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(commands_url(thing), {"operation": ping(thing).pk, "payload": '{"n": 2}', "ttl": ""})
    assert response.status_code == 302 and response.url.endswith("#commands")
    command = Command.objects.get()
    assert (command.payload, command.requested_by, command.status) == ({"n": 2}, world.user("owner"), "queued")
    assert len(callbacks) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"payload": "{nope"}, "payload: Not JSON"),
        ({"ttl": "abc"}, "ttl: Enter a number"),
        ({"ttl": "61", "operation": "reboot"}, "ttl: At most 60 seconds"),
        ({"operation": "temp"}, "Choose one of this thing"),
    ],
)
def test_bad_input_is_a_message_and_nothing_is_sent(world, thing, data, message):
    operations = {op.name: op.pk for op in thing.thing_type.operations.all()}
    data = {"operation": ping(thing).pk, **data}
    if data["operation"] in operations:
        data["operation"] = operations[data["operation"]]
    client = signed_in(world.user("owner"))
    response = client.post(commands_url(thing), data, follow=True)
    assert message in response.content.decode()
    assert not Command.objects.exists()


def test_members_only_where_the_operation_allows_and_outsiders_get_404(world, thing):
    member = signed_in(world.user("member"))
    response = member.post(commands_url(thing), {"operation": ping(thing).pk}, follow=True)
    assert "Your role does not allow" in response.content.decode() and not Command.objects.exists()
    types.save_operation(ping(thing), members_may_command=True)
    member.post(commands_url(thing), {"operation": ping(thing).pk})
    assert Command.objects.count() == 1

    outsider = signed_in(world.outsider)
    assert outsider.get(commands_url(thing)).status_code == 404
    assert outsider.post(commands_url(thing), {"operation": ping(thing).pk}).status_code == 404
    assert Command.objects.count() == 1
