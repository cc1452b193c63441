"""The list serializers' field plan renders every row exactly as DRF's own `to_representation`."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.utils import timezone
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from audit.api.serializers import AuditEventSerializer
from audit.models import AuditEvent
from audit.services import write_event
from credentials.api.serializers.nats import NatsUserSerializer
from credentials.api.serializers.nebula import HostSerializer
from credentials.models import Host, NatsUser
from credentials.services import nats as svc
from stoneage.api import FieldPlanMixin
from tests.credentials.nats_support import link_user, make_nats_user, make_role, membership_of
from tests.credentials.nebula_support import make_host, make_network
from tests.support.world import build_world


class Shape(serializers.Serializer):
    name = serializers.CharField()
    shout = serializers.CharField(source="loud")  # a method of the object: called
    missing = serializers.CharField(default="fallback")  # no such attribute: the default
    optional = serializers.CharField(required=False)  # no such attribute, not required: left out
    nested = serializers.IntegerField(source="inner.number")
    absent = serializers.IntegerField(allow_null=True)  # None: rendered as null
    when = serializers.DateTimeField()
    computed = serializers.SerializerMethodField()

    def get_computed(self, obj) -> str:
        return f"{obj['name'] if isinstance(obj, dict) else obj.name}!"


class PlannedShape(FieldPlanMixin, Shape):
    pass


def rows():
    moment = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    return [
        SimpleNamespace(name="a", loud=lambda: "A", inner=SimpleNamespace(number=1), absent=None, when=moment),
        SimpleNamespace(name="b", loud=lambda: "B", inner=SimpleNamespace(number=2), absent=7, when=None),
        {"name": "c", "loud": "C", "inner": {"number": 3}, "absent": None, "when": moment, "optional": "x"},
    ]


def test_the_plan_renders_like_drf_sources_defaults_callables_nulls_and_mappings():
    assert PlannedShape(rows(), many=True).data == Shape(rows(), many=True).data
    assert PlannedShape(rows()[0]).data == {
        "name": "a",
        "shout": "A",
        "missing": "fallback",
        "nested": 1,
        "absent": None,
        "when": "2026-03-01T12:30:00Z",
        "computed": "a!",
    }


def test_date_times_take_the_time_zone_current_when_the_rows_are_rendered():
    with timezone.override("Europe/Paris"):
        assert PlannedShape(rows()[0]).data["when"] == Shape(rows()[0]).data["when"] == "2026-03-01T13:30:00+01:00"


@pytest.fixture
def world(db):
    """The tenancy world with the NATS trust chain first, so that each organization gets its account."""
    svc.bootstrap()
    return build_world()


def test_the_list_serializers_render_their_rows_byte_for_byte_like_drf(world):
    role = make_role(world.org)
    make_nats_user(world.org, "pump-1", role=role, description="north")
    make_nats_user(world.org, "pump-2", role=None)
    link_user(membership_of(world, "member"))
    make_host(make_network(world.org), "node-1", groups=["fleet"])
    write_event("api_request", organization_id=world.org.pk, extra={"path": "/x"})
    for serializer, queryset in [
        (NatsUserSerializer, NatsUser.objects.all()),
        (HostSerializer, Host.objects.all()),
        (AuditEventSerializer, AuditEvent.objects.all()),
    ]:
        objects = list(queryset)
        assert len(objects) >= 1
        planned = serializer(objects, many=True, context={"organization": world.org})
        child = serializer(context={"organization": world.org})
        stock = [serializers.Serializer.to_representation(child, obj) for obj in objects]
        assert JSONRenderer().render(planned.data) == JSONRenderer().render(stock)
