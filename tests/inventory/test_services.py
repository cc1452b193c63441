"""Domain actions: a thing's identities follow its life (deactivate, reactivate, delete)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from credentials.models import Account, NatsUser
from inventory.models import Thing, ThingType
from inventory.services import contracts, things, types


@pytest.fixture
def sensor(world):
    return types.create_type(
        organization=world.org,
        code="sensor",
        name="Sensor",
        operations=[{"name": "temp", "capability": "publish", "subject_suffix": "telemetry.temp"}],
    )


def make_thing(world, sensor, code="s-01") -> Thing:
    thing = Thing.objects.create(organization=world.org, code=code, thing_type=sensor)
    thing.nats_user = contracts.provision_thing_user(thing)
    thing.save()
    return thing


def test_deactivate_and_reactivate_take_the_nats_user_along(world, sensor):
    thing = make_thing(world, sensor)
    key = thing.nats_user.public_key
    things.deactivate_thing(thing)
    user = NatsUser.objects.get(pk=thing.nats_user_id)
    assert not user.active
    assert key in Account.objects.get(organization=world.org).revocations
    things.reactivate_thing(thing)
    user.refresh_from_db()
    assert user.active and user.jwt


def test_deleting_a_thing_revokes_its_user(world, sensor):
    thing = make_thing(world, sensor)
    key = thing.nats_user.public_key
    things.delete_thing(thing)
    assert not NatsUser.objects.filter(public_key=key).exists()
    assert key in Account.objects.get(organization=world.org).revocations


def test_a_type_with_things_cannot_be_deleted(world, sensor):
    make_thing(world, sensor)
    with pytest.raises(ValidationError, match="still has things"):
        types.delete_type(sensor)
    assert ThingType.objects.filter(pk=sensor.pk).exists()


def test_bad_operation_in_create_type_leaves_nothing(world):
    with pytest.raises(ValidationError):
        types.create_type(
            organization=world.org,
            code="cam",
            name="Camera",
            operations=[
                {"name": "ok", "capability": "publish", "subject_suffix": "a"},
                {"name": "Bad!", "capability": "x"},
            ],
        )
    assert not ThingType.objects.filter(code="cam").exists()
