"""An organization created through the API becomes a live NATS account whose users' permissions hold, and whose
traffic no other organization sees."""

import json
import time

import pytest

from credentials.models import Account
from credentials.services import nats as svc
from tests.integration import live
from tests.integration.support import wait_until
from tests.support.world import make_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def create_org_through_api(api, slug: str) -> Account:
    owner = make_user(f"{slug}-owner")
    response = api.post("/api/v1/orgs/", {"name": slug.title(), "slug": slug, "owner": owner.email}, format="json")
    assert response.status_code == 201, response.content
    return Account.objects.get(organization__slug=slug)


def device_and_console(account: Account):
    """A device publishing telemetry and taking commands, and a console doing the opposite."""
    device = svc.create_user(
        account=account, name="sensor-1", publish_allow=["telemetry.>"], subscribe_allow=["commands.>"]
    )
    console = svc.create_user(
        account=account, name="console", publish_allow=["commands.>"], subscribe_allow=["telemetry.>"]
    )
    return svc.user_creds(device), svc.user_creds(console)


@pytest.fixture
def two_live_orgs(api, celery_worker, nats_server, system_client):
    api.force_authenticate(make_user("root", superuser=True))
    acme = create_org_through_api(api, "acme")
    globex = create_org_through_api(api, "globex")
    live.wait_pushed(5)
    for account in (acme, globex):
        account.refresh_from_db()
        assert live.server_jwt(system_client, account) == account.jwt
    return acme, globex


def test_an_organization_created_through_the_api_is_pushed_to_nats(api, celery_worker, nats_server, system_client):
    api.force_authenticate(make_user("root", superuser=True))
    started = time.monotonic()
    account = create_org_through_api(api, "acme")
    # The worker pushes after commit; nothing else (no beat runs in this test) could have.
    wait_until(lambda: live.server_jwt(system_client, account), 5, what="the account on the server")
    elapsed = time.monotonic() - started
    live.wait_pushed(2)  # the server answers the pusher before the pusher records the push
    account.refresh_from_db()
    assert live.server_jwt(system_client, account) == account.jwt
    assert account.pushed_revision == account.revision
    assert account.push_error == ""
    assert elapsed < 2


def test_users_publish_and_subscribe_on_allowed_subjects_only(two_live_orgs, connect):
    acme, _ = two_live_orgs
    device_creds, console_creds = device_and_console(acme)
    device, console = connect(device_creds), connect(console_creds)

    telemetry = console.subscribe("telemetry.>")
    commands = device.subscribe("commands.sensor-1")
    device.publish("telemetry.sensor-1.temperature", b"21.5")
    console.publish("commands.sensor-1", b"reboot")
    wait_until(lambda: telemetry.payloads and commands.payloads, 2, what="both messages")
    assert telemetry.payloads == [b"21.5"]
    assert commands.payloads == [b"reboot"]

    device.publish("commands.sensor-2", b"not mine")
    device.subscribe("telemetry.>")
    wait_until(lambda: len(device.errors) >= 2, 2, what="two permission violations")
    assert any('permissions violation for publish to "commands.sensor-2"' in e for e in device.error_texts)
    assert any('permissions violation for subscription to "telemetry.>"' in e for e in device.error_texts)
    assert not device.closed.is_set()
    console.flush()
    assert telemetry.payloads == [b"21.5"]


def test_another_organization_on_the_same_subject_receives_nothing(two_live_orgs, connect):
    acme, globex = two_live_orgs
    acme_device_creds, acme_console_creds = device_and_console(acme)
    _, globex_console_creds = device_and_console(globex)
    acme_console, globex_console = connect(acme_console_creds), connect(globex_console_creds)
    acme_seen, globex_seen = acme_console.subscribe("telemetry.>"), globex_console.subscribe("telemetry.>")

    acme_device = connect(acme_device_creds)
    for i in range(10):
        acme_device.publish("telemetry.sensor-1.temperature", str(i).encode())
    wait_until(lambda: len(acme_seen.messages) == 10, 2, what="Acme's console to get all ten")
    time.sleep(0.2)
    globex_console.flush()
    assert globex_seen.messages == []


def test_the_account_has_jetstream_with_its_limits(two_live_orgs, connect):
    acme, _ = two_live_orgs
    user = svc.create_user(account=acme, name="js-info", publish_allow=["$JS.API.INFO"], subscribe_allow=["_INBOX.>"])
    reader = connect(svc.user_creds(user))
    info = json.loads(reader.request("$JS.API.INFO").data)
    assert "error" not in info, info
    assert info["limits"]["max_memory"] == acme.max_jetstream_memory
    assert info["limits"]["max_storage"] == acme.max_jetstream_disk
