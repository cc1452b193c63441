"""Thing-type contracts on a real nats-server: a thing provisioned from its type may use exactly its type's
subjects for its own code and location, request/reply works through its own inbox, and a change of the type's
operations reaches connected things without new credentials: nats-server drops them, they reconnect with the same
`.creds` and the new contract applies. Another organization with the same codes is untouched."""

from __future__ import annotations

import time

import pytest

from credentials.models import Account, NatsUser
from credentials.services import nats as nats_svc
from inventory.contracts import inbox_prefix
from inventory.models import Location, LocationType, Thing
from inventory.services import contracts as contract_svc
from inventory.services import types
from tests.integration import live
from tests.integration.support import wait_until
from tests.support.world import make_org, make_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

OPERATIONS = [
    {"name": "temp", "capability": "publish", "subject_suffix": "telemetry.temp"},
    {"name": "config", "capability": "subscribe", "subject_suffix": "config.>"},
    {"name": "ping", "capability": "reply", "subject_suffix": "cmd.ping"},
    {"name": "clock", "capability": "request", "subject_suffix": "time.now"},
]
DEADLINE = 2.0  # seconds from the commit to the thing working under its new contract


class Fleet:
    """One organization with a `sensor` type, a location `hq`, things, and an observer allowed everything."""

    def __init__(self, slug: str, connect):
        self.slug = slug
        self.organization = make_org(slug, make_user(f"{slug}-owner"))
        self.account = Account.objects.get(organization=self.organization)
        kind = LocationType.objects.create(organization=self.organization, code="site", name="Site")
        self.hq = Location.objects.create(organization=self.organization, location_type=kind, code="hq", name="HQ")
        self.sensor = types.create_type(
            organization=self.organization, code="sensor", name="Sensor", operations=OPERATIONS
        )
        observer = nats_svc.create_user(
            account=self.account, name="observer", publish_allow=[">"], subscribe_allow=[">"]
        )
        live.wait_pushed(5)
        self.observer = connect(nats_svc.user_creds(observer))
        self.seen = self.observer.subscribe(f"{slug}.>")

    def thing(self, code: str) -> Thing:
        thing = Thing.objects.create(
            organization=self.organization, code=code, thing_type=self.sensor, location=self.hq
        )
        thing.nats_user = contract_svc.provision_thing_user(thing)
        thing.save()
        return thing

    def subject(self, code: str, suffix: str) -> str:
        return f"{self.slug}.hq.sensor.{code}.{suffix}"


def creds_of(thing: Thing) -> str:
    return nats_svc.user_creds(NatsUser.objects.get(pk=thing.nats_user_id))


def connect_thing(connect, thing: Thing):
    return connect(creds_of(thing), reconnect=True, inbox_prefix=inbox_prefix(thing.code).encode())


def violations(client) -> list[str]:
    return [e for e in client.error_texts if "permissions violation" in e]


def wait_violation(client, subject: str) -> None:
    wait_until(lambda: any(subject.lower() in e for e in violations(client)), 3, what=f"a violation on {subject}")


def received(inbox, subject: str) -> bool:
    return any(m.subject == subject for m in inbox.messages)


@pytest.fixture
def acme(celery_worker, nats_server, connect) -> Fleet:
    return Fleet("acme", connect)


def test_a_thing_publishes_and_subscribes_exactly_on_its_contract(acme, connect):
    thing = acme.thing("s-01")
    acme.thing("s-02")
    client = connect_thing(connect, thing)

    own = acme.subject("s-01", "telemetry.temp")
    client.publish(own, b"21.5")
    wait_until(lambda: received(acme.seen, own), 3, what="the thing's own telemetry")

    for foreign in (acme.subject("s-02", "telemetry.temp"), acme.subject("s-01", "telemetry.humidity"), "acme.x"):
        client.publish(foreign, b"x")
        wait_violation(client, foreign)
        assert not received(acme.seen, foreign)

    config = client.subscribe(acme.subject("s-01", "config.>"))
    acme.observer.publish(acme.subject("s-01", "config.interval"), b"60")
    wait_until(lambda: config.payloads == [b"60"], 3, what="its configuration")
    for foreign in (acme.subject("s-02", "config.>"), "acme.>", "_INBOX.s-02.>"):
        client.subscribe(foreign)
        wait_violation(client, foreign)
    assert not client.closed.is_set()


def test_request_and_reply_go_through_the_things_own_inbox(acme, connect, client_loop):
    thing = acme.thing("s-01")
    client = connect_thing(connect, thing)

    # The thing answers a command (reply: subscribe + one response per request).
    async def pong(msg):
        await msg.respond(b"pong")

    client_loop.run(client.nc.subscribe(acme.subject("s-01", "cmd.ping"), cb=pong))
    client.flush()
    assert acme.observer.request(acme.subject("s-01", "cmd.ping")).data == b"pong"

    # The thing asks (request: publish + its inbox `_INBOX.s-01.>`).
    async def now(msg):
        await msg.respond(b"12:00")

    client_loop.run(acme.observer.nc.subscribe(acme.subject("s-01", "time.now"), cb=now))
    acme.observer.flush()
    assert client.request(acme.subject("s-01", "time.now")).data == b"12:00"
    assert violations(client) == []


def test_the_default_inbox_is_refused(acme, connect):
    thing = acme.thing("s-01")
    client = connect(creds_of(thing))  # nats-py's default inbox `_INBOX.<random>`
    with pytest.raises(Exception):  # noqa: B017 (the reply never comes: its inbox is not allowed)
        client.request(acme.subject("s-01", "time.now"), timeout=0.5)
    assert any("_inbox." in e for e in violations(client))


def test_a_contract_change_reaches_connected_things_with_the_same_creds(acme, connect):
    globex = Fleet("globex", connect)  # same type code and thing code, another organization
    thing, twin = acme.thing("s-01"), globex.thing("s-01")
    client, other = connect_thing(connect, thing), connect_thing(connect, twin)
    user = NatsUser.objects.get(pk=thing.nats_user_id)
    jwt, revocations = user.jwt, dict(Account.objects.get(pk=acme.account.pk).revocations)
    old, new = acme.subject("s-01", "telemetry.temp"), acme.subject("s-01", "telemetry.humidity")

    started = time.monotonic()
    types.replace_operations(
        acme.sensor, [{"name": "humidity", "capability": "publish", "subject_suffix": "telemetry.humidity"}]
    )

    def enforced() -> bool:
        if client.reconnections < 1:
            return False
        client.publish(new, b"40")
        return received(acme.seen, new)

    wait_until(enforced, DEADLINE + 1, interval=0.01, what="the new contract on the reconnected thing")
    elapsed = time.monotonic() - started
    assert elapsed < DEADLINE, f"the new contract took {elapsed:.2f}s"
    client.publish(old, b"21")
    wait_violation(client, old)

    # No new credentials: same JWT, nothing revoked; the server took the thing back with what it held.
    user.refresh_from_db()
    assert user.jwt == jwt and Account.objects.get(pk=acme.account.pk).revocations == revocations

    # The other organization's thing of the same codes was not dropped and keeps its contract.
    assert other.reconnections == 0 and not other.disconnected.is_set()
    other.publish(globex.subject("s-01", "telemetry.temp"), b"19")
    wait_until(lambda: received(globex.seen, globex.subject("s-01", "telemetry.temp")), 3, what="globex telemetry")
    assert violations(other) == []


def test_a_moved_thing_loses_its_old_location(acme, connect):
    from inventory.services import things

    thing = acme.thing("s-01")
    old_creds = creds_of(thing)
    lab = Location.objects.create(organization=acme.organization, location_type=acme.hq.location_type, code="lab")
    things.update_thing(thing, location=lab)
    live.wait_pushed(5)
    assert "authorization violation" in live.refused(connect, old_creds)
    client = connect_thing(connect, thing)
    client.publish("acme.lab.sensor.s-01.telemetry.temp", b"1")
    wait_until(lambda: received(acme.seen, "acme.lab.sensor.s-01.telemetry.temp"), 3, what="telemetry from the lab")
    client.publish(acme.subject("s-01", "telemetry.temp"), b"1")
    wait_violation(client, acme.subject("s-01", "telemetry.temp"))
