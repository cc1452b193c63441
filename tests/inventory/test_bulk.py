"""Bulk import and export of the inventory: formats, round trip, every bad row reported, atomicity, tenancy."""

from __future__ import annotations

import json

import pytest

from audit.models import AuditEvent
from credentials.codecs import natsjwt as nj
from credentials.models import NatsUser
from credentials.secrets import reveal
from inventory import bulk
from inventory.models import Location, MessageSchema, Operation, Thing, ThingType
from inventory.services import types

SENSOR_SCHEMA = {
    "type": "object",
    "properties": {"floor": {"type": "integer"}, "serial": {"type": "string"}},
    "required": ["serial"],
}


def document(**kinds) -> str:
    return json.dumps(kinds)


def full_document() -> dict:
    return {
        "message_schemas": [
            {
                "namespace": "acme",
                "name": "temperature",
                "version": "1.0.0",
                "description": "Celsius",
                "schema": {"type": "object", "properties": {"c": {"type": "number"}}},
            }
        ],
        "thing_types": [
            {
                "code": "sensor",
                "name": "Sensor",
                "metadata_schema": SENSOR_SCHEMA,
                "operations": [
                    {
                        "name": "temp",
                        "capability": "publish",
                        "subject_suffix": "telemetry.temp",
                        "message_schema": "acme.temperature@1.0.0",
                    },
                    {"name": "reboot", "capability": "reply", "subject_suffix": "cmd.reboot"},
                ],
            },
            {"code": "gateway", "name": "Gateway"},
        ],
        "location_types": [
            {"code": "building", "name": "Building", "metadata_schema": {"type": "object"}},
            {"code": "room", "name": "Room"},
        ],
        "locations": [
            # A child before its parent: the file's order does not matter.
            {"code": "r-101", "name": "Room 101", "type": "room", "parent": "hq", "metadata": {"seats": 4}},
            {
                "code": "hq",
                "name": "Headquarters",
                "type": "building",
                "address": "1 Main St",
                "latitude": "48.858400",
                "longitude": "2.294500",
            },
        ],
        "things": [
            {"code": "s-01", "type": "sensor", "location": "r-101", "metadata": {"serial": "A1", "floor": 1}},
            {"code": "s-02", "type": "sensor", "metadata": {"serial": "A2"}, "nats": "auto"},
            {"code": "gw-1", "name": "Gateway 1", "type": "gateway", "location": "hq", "nats": "auto"},
        ],
    }


def run(world, text, fmt="json", kind=None, org=None, dry_run=False):
    return bulk.import_inventory(org or world.org, bulk.read(text, fmt, kind), dry_run=dry_run)


def test_a_json_document_creates_every_kind(world):
    result = run(world, json.dumps(full_document()))
    assert result.errors == []
    assert result.counts == {
        "message_schemas": 1,
        "thing_types": 2,
        "location_types": 2,
        "locations": 2,
        "things": 3,
    }
    assert result.nats_users == 2
    sensor = ThingType.objects.get(organization=world.org, code="sensor")
    temp = Operation.objects.get(thing_type=sensor, name="temp")
    assert temp.message_schema == MessageSchema.objects.get(organization=world.org, name="temperature")
    hq, room = Location.objects.get(code="hq"), Location.objects.get(code="r-101")
    assert room.parent == hq and room.path == f"{hq.path}{room.pk}/" and hq.path == f"/{hq.pk}/"
    assert list(hq.subtree().order_by("code").values_list("code", flat=True)) == ["hq", "r-101"]
    s1 = Thing.objects.get(code="s-01")
    assert s1.location == room and s1.metadata == {"serial": "A1", "floor": 1} and s1.nats_user is None


def test_nats_auto_gives_each_thing_a_working_user(world):
    run(world, json.dumps(full_document()))
    thing = Thing.objects.select_related("nats_user__signing_key", "nats_user__account").get(code="s-02")
    user = thing.nats_user
    assert user.name == "s-02" and user.owner_kind == NatsUser.OwnerKind.THING
    assert user.organization_id == world.org.pk and user.account.organization_id == world.org.pk
    claims = nj.decode(user.jwt)  # verifies the signature
    assert claims["sub"] == user.public_key
    assert claims["iss"] == user.signing_key.public_key
    assert claims["nats"]["issuer_account"] == user.account.public_key
    seed = reveal(user, "seed")  # sealed for this row
    assert nj.keypair_from_seed(seed).public_key == user.public_key
    creds = nj.format_user_creds(user.jwt, seed)
    assert user.public_key not in creds or "NATS USER JWT" in creds


def test_the_import_is_one_audit_event_naming_its_counts(world):
    before = AuditEvent.objects.count()
    run(world, json.dumps(full_document()))
    events = list(AuditEvent.objects.order_by("pk")[before:])
    summaries = [e for e in events if e.object_type == "inventory.import"]
    assert len(summaries) == 1
    event = summaries[0]
    assert event.action == "bulk_create" and event.organization_id == world.org.pk
    assert event.extra["counts"]["things"] == 3 and event.extra["counts"]["nats_users"] == 2
    assert len(event.extra["ids"]["things"]) == 3
    # Rows written in bulk send no per-row events.
    assert not [e for e in events if e.object_type in ("inventory.thing", "inventory.location", "credentials.natsuser")]


def test_export_then_import_into_an_empty_organization_round_trips(world):
    run(world, json.dumps(full_document()))
    first = bulk.export_json(world.org)
    result = run(world, first, org=world.other_org)
    assert result.errors == []
    assert bulk.export_json(world.other_org) == first
    assert NatsUser.objects.filter(organization=world.other_org, owner_kind="thing").count() == 2


def test_csv_export_then_import_round_trips_kind_by_kind(world):
    run(world, json.dumps(full_document()))
    files = {kind: bulk.export_csv(world.org, kind) for kind in bulk.KINDS}
    source = bulk.Source()
    for kind, text in files.items():
        source.extend(bulk.read_csv(text, kind))
    result = bulk.import_inventory(world.other_org, source)
    assert result.errors == []
    assert {kind: bulk.export_csv(world.other_org, kind) for kind in bulk.KINDS} == files
    assert files["things"].splitlines()[0] == "code,name,description,type,location,metadata,active,nats"
    assert 's-01,,,sensor,r-101,"{""floor"":1,""serial"":""A1""}",true,none' in files["things"]


def test_dry_run_reports_counts_and_writes_nothing(world):
    before = AuditEvent.objects.count()
    result = run(world, json.dumps(full_document()), dry_run=True)
    assert result.ok and not result.written and result.counts["things"] == 3
    assert not ThingType.objects.filter(organization=world.org).exists()
    assert not Thing.objects.exists() and not NatsUser.objects.filter(owner_kind="thing").exists()
    assert AuditEvent.objects.count() == before


def errors_of(result) -> list[tuple]:
    return [(e.kind, e.position, e.field, e.message) for e in result.errors]


def test_every_bad_csv_row_is_reported_with_its_line(world):
    types.create_type(organization=world.org, code="sensor", name="Sensor", metadata_schema=SENSOR_SCHEMA)
    Thing.objects.create(organization=world.org, code="taken", thing_type=ThingType.objects.get(code="sensor"))
    text = "\n".join(
        [
            "code,type,location,metadata,nats",
            'ok-1,sensor,,"{""serial"": ""x""}",',  # line 2
            'bad code!,sensor,,"{""serial"": ""x""}",',  # line 3: invalid code
            'ok-2,lamp,,"{}",',  # line 4: unknown type
            'ok-1,sensor,,"{""serial"": ""y""}",',  # line 5: duplicate in the file
            'taken,sensor,,"{""serial"": ""z""}",',  # line 6: exists in the org
            'm-1,sensor,,"{""floor"": ""two"", ""serial"": ""x""}",',  # line 7: metadata fails the schema
            "m-2,sensor,,{not json},",  # line 8: metadata is not JSON
            'm-3,sensor,nowhere,"{""serial"": ""x""}",',  # line 9: unknown location
            'm-4,sensor,,"{""serial"": ""x""}",maybe',  # line 10: bad NATS mode
            'm-5,sensor,,"{}",',  # line 11: a required metadata field missing
        ]
    )
    result = run(world, text, "csv", "things")
    found = errors_of(result)
    lines = {(line, name) for _, line, name, _ in found}
    assert lines == {
        (3, "code"),
        (4, "type"),
        (5, "code"),
        (6, "code"),
        (7, "metadata.floor"),
        (8, "metadata"),
        (9, "location"),
        (10, "nats"),
        (11, "metadata.serial"),
    }
    messages = {line: message for _, line, _, message in found}
    assert "lamp" in messages[4] and "first at line 2" in messages[5] and "already exists" in messages[6]
    assert "Not valid JSON" in messages[8] and "nowhere" in messages[9]
    assert not result.written and Thing.objects.count() == 1
    assert str(result.errors[0]).startswith("things line 3: code: ")


def test_bad_rows_of_every_kind_in_json_are_reported_by_index(world):
    doc = {
        "message_schemas": [{"namespace": "Bad NS", "name": "t", "version": "1.0", "schema": {}}],
        "thing_types": [
            {"code": "ok", "name": "Ok", "metadata_schema": {"type": "nonsense"}},
            {
                "code": "t2",
                "name": "T2",
                "operations": [
                    {"name": "Bad!", "capability": "publish", "subject_suffix": "a"},
                    {"name": "x", "capability": "publish", "subject_suffix": "a.*"},
                    {"name": "y", "capability": "publish", "subject_suffix": "b", "message_schema": "no.such@1.0.0"},
                ],
            },
            {"code": "t3", "name": "T3", "subject_prefix": "{org}.{nope}"},
        ],
        "location_types": [{"code": "", "name": "Nameless"}],
        "locations": [
            {"code": "a", "name": "A", "parent": "b"},
            {"code": "b", "name": "B", "parent": "a"},
            {"code": "c", "name": "C", "parent": "c"},
            {"code": "d", "name": "D", "parent": "ghost"},
            {"code": "e", "name": "E", "latitude": "12"},
            {"code": "f", "name": "F", "type": "nope"},
            {"code": "g", "name": "G", "parent": "a"},
        ],
        "things": [{"code": "t-1", "type": "ok", "extra": 1}, "not an object"],
    }
    result = run(world, json.dumps(doc))
    found = {(kind, index, name) for kind, index, name, _ in errors_of(result)}
    assert ("message_schemas", 0, "namespace") in found
    assert ("message_schemas", 0, "version") in found
    assert ("message_schemas", 0, "schema") in found
    assert ("thing_types", 0, "metadata_schema") in found
    assert ("thing_types", 1, "operations[0].name") in found
    assert ("thing_types", 1, "operations[1].subject_suffix") in found
    assert ("thing_types", 1, "operations[2].message_schema") in found
    assert ("thing_types", 2, "subject_prefix") in found
    assert ("location_types", 0, "code") in found
    assert {("locations", 0, "parent"), ("locations", 1, "parent"), ("locations", 2, "parent")} <= found
    assert ("locations", 3, "parent") in found
    assert ("locations", 4, "longitude") in found
    assert ("locations", 5, "type") in found
    assert ("things", 0, "extra") in found
    assert ("things", 1, "") in found
    cycle = next(m for k, i, n, m in errors_of(result) if (k, i, n) == ("locations", 0, "parent"))
    assert "cycle" in cycle and "a → b → a" in cycle
    # g sits under a location of a cycle: left out, and not reported as a cycle itself.
    assert not [e for e in result.errors if e.kind == "locations" and e.position == 6]
    assert not ThingType.objects.filter(organization=world.org).exists()
    assert result.as_dict()["errors"][0]["index"] == 0


def test_locations_nest_at_most_the_model_depth(world):
    from inventory.models.places import MAX_DEPTH

    rows = [{"code": f"l{i}", "name": f"L{i}", "parent": f"l{i - 1}" if i else ""} for i in range(MAX_DEPTH + 1)]
    result = run(world, json.dumps({"locations": rows}))
    assert [(e.position, e.field) for e in result.errors] == [(MAX_DEPTH, "parent")]
    assert run(world, json.dumps({"locations": rows[:MAX_DEPTH]})).ok


def test_file_errors_are_one_sentence(world):
    for text, fmt, kind, message in [
        ("{nope", "json", None, "not valid JSON"),
        ("[]", "json", None, "must be a JSON object"),
        ('{"gadgets": []}', "json", None, "Unknown key 'gadgets'"),
        ("name\nx\n", "csv", "things", "column 'code' is missing"),
        ("code,colour\nx,red\n", "csv", "things", "Unknown column 'colour'"),
        ("code\nx\n", "csv", "widgets", "Unknown kind"),
        ("", "csv", "things", "empty"),
    ]:
        with pytest.raises(bulk.FileError, match=message):
            bulk.read(text, fmt, kind)


def test_codes_resolve_only_in_the_target_organization(world):
    types.create_type(organization=world.other_org, code="sensor", name="Their sensor")
    Location.objects.create(organization=world.other_org, code="hq", name="Their HQ")
    result = run(world, document(things=[{"code": "s-1", "type": "sensor", "location": "hq"}]))
    assert {(e.field) for e in result.errors} == {"type", "location"}
    # The same codes are free in this organization: they do not clash with the other's.
    ours = document(thing_types=[{"code": "sensor", "name": "Ours"}], locations=[{"code": "hq", "name": "HQ"}])
    ok = run(world, ours)
    assert ok.ok
    assert ThingType.objects.filter(code="sensor").count() == 2


def test_a_member_may_import_things_but_not_types_or_identities():
    plain = bulk.read_json(document(things=[{"code": "x", "type": "t"}], locations=[{"code": "l", "name": "L"}]))
    assert plain.manager_reasons() == []
    assert bulk.read_json(document(thing_types=[{"code": "t"}])).manager_reasons() == ["it holds thing types"]
    nats = bulk.read_json(document(things=[{"code": "x", "type": "t", "nats": "auto"}]))
    assert nats.manager_reasons() == ["it gives things NATS users"]
    inactive = bulk.read_csv("code,type,active\nx,t,false\n", "things")
    assert inactive.manager_reasons() == ["it sets things inactive"]


def test_a_nats_name_taken_in_the_account_is_reported(world):
    types.create_type(organization=world.org, code="sensor", name="Sensor")
    from credentials.services import nats as nats_svc
    from inventory.services.contracts import account_of

    nats_svc.create_user(account=account_of(world.org), name="s-1", owner_kind="service")
    result = run(world, document(things=[{"code": "s-1", "type": "sensor", "nats": "auto"}]))
    assert [(e.field, e.position) for e in result.errors] == [("nats", 0)]
