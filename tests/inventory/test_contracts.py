"""A thing type's contract as the template of its scoped signing key (inventory.contracts, pure), and the domain
actions that keep the key in line with the type (inventory.services.contracts)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from credentials.codecs import natsjwt as nj
from credentials.models import Account, AccountSigningKey, NatsUser
from credentials.models.nats import scope_permission_limits
from credentials.services import nats as nats_svc
from inventory import contracts
from inventory.models import Location, LocationType, Operation, Thing, ThingType
from inventory.services import contracts as contract_svc
from inventory.services import things, types

# --- The template (pure) -----------------------------------------------------------------------------------------


def template(prefix="{org}.{location}.{thing_type}.{thing}", operations=()):
    return contracts.scope_template(org="acme", thing_type="sensor", prefix=prefix, operations=operations)


def test_each_capability_becomes_its_permission():
    assert template(
        operations=[
            ("publish", "telemetry.temp"),
            ("subscribe", "config.>"),
            ("reply", "cmd.ping"),
            ("request", "time.now"),
        ]
    ) == {
        "pub_allow": [
            "acme.{{tag(location)}}.sensor.{{tag(thing)}}.telemetry.temp",
            "acme.{{tag(location)}}.sensor.{{tag(thing)}}.time.now",
            *contracts.TWIN_PUBLISH,
        ],
        "sub_allow": [
            "acme.{{tag(location)}}.sensor.{{tag(thing)}}.config.>",
            "acme.{{tag(location)}}.sensor.{{tag(thing)}}.cmd.ping",
            "_INBOX.{{tag(thing)}}.>",
            "_SA.config.{{tag(thing)}}",
        ],
        "resp": {"max": 1, "ttl": 0},
    }


def test_every_thing_has_its_own_twin_keys_inbox_and_notifications_and_nothing_else_there():
    assert template(operations=[]) == {
        "pub_allow": list(contracts.TWIN_PUBLISH),
        "sub_allow": [contracts.INBOX, "_SA.config.{{tag(thing)}}"],
    }
    twin = [s for s in contracts.TWIN_PUBLISH if "twin" in s]
    # Keys and filters name the thing's own code; only bucket info and flow control are bucket-wide.
    assert [s for s in twin if "{{tag(thing)}}" not in s] == [
        "$JS.API.STREAM.INFO.KV_twin",
        "$JS.API.STREAM.INFO.KV_twin_desired",
        "$JS.FC.KV_twin_desired.>",
    ]
    # No unnamed consumer (its filter would be in the body, out of reach of the permissions).
    assert "$JS.API.CONSUMER.CREATE.KV_twin_desired" not in twin


def test_org_and_type_are_literal_and_placeholders_anywhere_become_tags():
    assert template(prefix="fleet.{thing}", operations=[("publish", "x"), ("publish", "x")])["pub_allow"] == [
        "fleet.{{tag(thing)}}.x",
        *contracts.TWIN_PUBLISH,
    ]
    got = contracts.scope_template(
        org="o", thing_type="t", prefix="{thing_type}.{org}", operations=[("subscribe", "{location}")]
    )
    assert got["sub_allow"] == ["t.o.{{tag(location)}}", contracts.INBOX, "_SA.config.{{tag(thing)}}"]


def test_an_unknown_capability_is_refused():
    with pytest.raises(ValueError, match="Unknown capability"):
        template(operations=[("pub", "a")])


def test_the_template_is_a_valid_scope_and_tags_fit_it():
    limits = scope_permission_limits(template(operations=[("request", "a"), ("reply", "b")]))
    assert nj.ScopedSigningKey(key="A" * 56, template=limits).template.resp == nj.ResponsePermission()
    assert contracts.thing_tags("s-01", None, "sensor") == ["thing:s-01", "location:_", "type:sensor"]
    assert contracts.inbox_prefix("s-01") == "_INBOX.s-01"


# --- The domain actions ------------------------------------------------------------------------------------------


def account(org) -> Account:
    return Account.objects.get(organization=org)


def scope_entries(org) -> dict[str, dict]:
    keys = nj.decode(account(org).jwt)["nats"].get("signing_keys", [])
    return {k["role"]: k for k in keys if isinstance(k, dict)}


@pytest.fixture
def sensor(world):
    return types.create_type(
        organization=world.org,
        code="sensor",
        name="Sensor",
        operations=[{"name": "temp", "capability": "publish", "subject_suffix": "telemetry.temp"}],
    )


@pytest.fixture
def hq(world):
    kind = LocationType.objects.create(organization=world.org, code="site", name="Site")
    return Location.objects.create(organization=world.org, location_type=kind, code="hq", name="HQ")


def make_thing(world, thing_type, code="s-01", location=None) -> Thing:
    thing = Thing.objects.create(organization=world.org, code=code, thing_type=thing_type, location=location)
    thing.nats_user = contract_svc.provision_thing_user(thing)
    thing.save()
    return thing


def test_a_new_type_is_a_scope_of_its_account(world, sensor):
    key = sensor.signing_key
    assert key.is_scoped and key.account == account(world.org) and key.scope_role == "sensor"
    entry = scope_entries(world.org)["sensor"]
    assert entry["key"] == key.public_key
    assert entry["template"]["pub"] == {
        "allow": [
            f"{world.org.slug}.{{{{tag(location)}}}}.sensor.{{{{tag(thing)}}}}.telemetry.temp",
            *contracts.TWIN_PUBLISH,
        ]
    }
    # Nothing of its own to subscribe to but its inbox and its config notifications (inventory.devices.notify).
    assert entry["template"]["sub"] == {"allow": [contracts.INBOX, "_SA.config.{{tag(thing)}}"]}


def test_every_change_of_the_operations_re_signs_the_account_once(world, sensor):
    revision = account(world.org).revision
    operation = types.save_operation(
        Operation(thing_type=sensor, name="cfg", capability="subscribe", subject_suffix="config")
    )
    assert account(world.org).revision == revision + 1
    assert scope_entries(world.org)["sensor"]["template"]["sub"]["allow"][0].endswith(".config")
    types.save_operation(operation, capability="reply")
    assert account(world.org).revision == revision + 2
    assert scope_entries(world.org)["sensor"]["template"]["resp"] == {"max": 1, "ttl": 0}
    types.delete_operation(operation)
    assert "resp" not in scope_entries(world.org)["sensor"]["template"]
    types.replace_operations(sensor, [{"name": "x", "capability": "request", "subject_suffix": "x"}])
    assert account(world.org).revision == revision + 4
    allowed = scope_entries(world.org)["sensor"]["template"]["sub"]["allow"]
    assert allowed == ["_INBOX.{{tag(thing)}}.>", "_SA.config.{{tag(thing)}}"]


def test_a_change_outside_the_contract_signs_nothing(world, sensor):
    revision = account(world.org).revision
    types.update_type(sensor, name="Temperature sensor", description="indoor")
    assert account(world.org).revision == revision


def test_a_new_prefix_changes_the_template_and_reissues_nobody(world, sensor):
    thing = make_thing(world, sensor)
    jwt = thing.nats_user.jwt
    types.update_type(sensor, subject_prefix="fleet.{thing}")
    assert scope_entries(world.org)["sensor"]["template"]["pub"]["allow"][0] == "fleet.{{tag(thing)}}.telemetry.temp"
    user = NatsUser.objects.get(pk=thing.nats_user_id)
    assert user.jwt == jwt and user.public_key not in (account(world.org).revocations or {})


def test_a_thing_user_is_issued_by_its_type_with_its_tags(world, sensor, hq):
    thing = make_thing(world, sensor, location=hq)
    user = thing.nats_user
    payload = nj.decode(user.jwt)
    assert payload["iss"] == sensor.signing_key.public_key and payload["name"] == "s-01"
    assert payload["nats"]["tags"] == ["thing:s-01", "location:hq", "type:sensor"]
    assert payload["nats"]["pub"] == {} and "subs" not in payload["nats"]
    assert user.owner_kind == NatsUser.OwnerKind.THING
    assert nats_svc.effective_permissions(user).pub_allow[:2] == [
        f"{world.org.slug}.hq.sensor.s-01.telemetry.temp",
        "$KV.twin.thing.s-01.>",
    ]
    assert contract_svc.thing_user_tags(make_thing(world, sensor, code="s-02")) == [
        "thing:s-02",
        "location:_",
        "type:sensor",
    ]


def test_a_moved_thing_gets_new_tags_and_its_old_jwt_is_revoked(world, sensor, hq):
    thing = make_thing(world, sensor)
    things.update_thing(thing, location=hq)
    user = NatsUser.objects.get(pk=thing.nats_user_id)
    assert nj.decode(user.jwt)["nats"]["tags"] == ["thing:s-01", "location:hq", "type:sensor"]
    assert user.public_key in account(world.org).revocations


def test_a_thing_of_another_type_moves_to_that_types_key(world, sensor):
    actuator = types.create_type(organization=world.org, code="actuator", name="Actuator")
    thing = make_thing(world, sensor)
    things.update_thing(thing, thing_type=actuator)
    user = NatsUser.objects.get(pk=thing.nats_user_id)
    assert user.signing_key == actuator.signing_key
    assert nj.decode(user.jwt)["iss"] == actuator.signing_key.public_key
    assert user.public_key in account(world.org).revocations


def test_a_type_code_change_reissues_its_things_with_one_re_sign(world, sensor):
    users = [make_thing(world, sensor, code=f"s-{i}").nats_user for i in range(3)]
    revision = account(world.org).revision
    types.update_type(sensor, code="probe")
    # One for the template (the code is in it), one for the revocation of the three earlier JWTs.
    assert account(world.org).revision == revision + 2
    for user in users:
        user.refresh_from_db()
        assert nj.decode(user.jwt)["nats"]["tags"][-1] == "type:probe"
    assert set(scope_entries(world.org)) == {"probe"}


def test_deleting_a_type_without_things_deletes_its_key(world, sensor):
    key = sensor.signing_key
    types.delete_type(sensor)
    assert not AccountSigningKey.objects.filter(pk=key.pk).exists()
    assert scope_entries(world.org) == {}


def test_a_type_with_things_keeps_its_key(world, sensor):
    make_thing(world, sensor)
    with pytest.raises(ValidationError):
        types.delete_type(sensor)
    assert ThingType.objects.get(pk=sensor.pk).signing_key.is_scoped
    assert set(scope_entries(world.org)) == {"sensor"}


def test_rotating_the_accounts_keys_keeps_each_type_on_its_own_rekeyed_scope(world, sensor):
    thing = make_thing(world, sensor)
    old = sensor.signing_key.public_key
    nats_svc.rotate_signing_keys(account(world.org))
    sensor.refresh_from_db()
    assert sensor.signing_key.public_key != old and sensor.signing_key.scope_role == "sensor"
    assert nj.decode(NatsUser.objects.get(pk=thing.nats_user_id).jwt)["iss"] == sensor.signing_key.public_key


def test_the_same_codes_in_two_organizations_are_two_scopes(world, sensor):
    other = types.create_type(organization=world.other_org, code="sensor", name="Sensor")
    assert other.signing_key.account == account(world.other_org)
    assert other.signing_key != sensor.signing_key
    assert set(scope_entries(world.other_org)) == {"sensor"}


def test_a_linked_user_with_permissions_of_its_own_takes_its_types_contract_instead(world, sensor):
    user = nats_svc.create_user(
        account=account(world.org), name="old-device", publish_allow=["anything.>"], bearer=True
    )
    thing = things.create_thing(
        organization=world.org, code="s-09", thing_type=sensor, nats_mode="link", nats_user=user
    )
    user = NatsUser.objects.get(pk=thing.nats_user_id)
    assert user.signing_key == sensor.signing_key and user.name == "s-09"
    assert (user.publish_allow, user.bearer) == ([], False)
    assert nj.decode(user.jwt)["nats"]["pub"] == {} and "bearer_token" not in nj.decode(user.jwt)["nats"]
    assert user.public_key in account(world.org).revocations  # the old JWT still granted `anything.>`
