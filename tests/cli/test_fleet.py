"""`stoneage apply -f` and `stoneage export` through the live API."""

import pytest
import yaml

pytestmark = pytest.mark.django_db(transaction=True)

FLEET = """
organization: acme
message_schemas:
  - {namespace: acme, name: reading, version: 1.0.0, schema: {type: object}}
thing_types:
  - code: sensor
    name: Sensor
    subject_prefix: "{org}.{thing}"
    metadata_schema: {type: object, properties: {floor: {type: integer}}}
    operations:
      - {name: temperature, capability: publish, subject_suffix: temperature, message_schema: acme/reading@1.0.0}
      - {name: reboot, capability: reply, subject_suffix: cmd.reboot}
location_types:
  - {code: building, name: Building}
  - {code: room, name: Room}
locations:
  - {code: lab, name: Lab, parent: hq, location_type: room, metadata: {floor: 2}}
  - {code: hq, name: Headquarters, location_type: building, latitude: 48.8566, longitude: 2.3522}
roles:
  - {name: readers, subscribe_allow: [telemetry.>]}
networks:
  - {name: mesh, cidr: 10.77.0.0/16, description: The mesh}
things:
  - {code: s-01, name: Sensor 1, thing_type: sensor, location: lab, metadata: {floor: 2}}
  - {code: s-02, thing_type: sensor, location: hq}
"""


def write(tmp_path, text, name="fleet.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def plan_of(cli, *args):
    return cli.ok("apply", *args, "--dry-run", "-o", "json")


def test_apply_creates_then_a_second_apply_plans_nothing(stoneage, tmp_path):
    fleet = write(tmp_path, FLEET)
    first = plan_of(stoneage, "-f", fleet)
    assert first["summary"] == {"create": 12, "change": 0, "delete": 0, "unchanged": 0}
    assert stoneage.ok("things", "list") == []  # a dry run changes nothing

    applied = stoneage("apply", "-f", fleet, "-o", "table")
    assert applied.code == 0, applied.err
    assert "+ create  thing s-01" in applied.out and "Plan: 12 to create" in applied.out
    things = {t["code"]: t for t in stoneage.ok("things", "list")}
    locations = {loc["code"]: loc for loc in stoneage.ok("locations", "list")}
    assert things["s-01"]["location"] == locations["lab"]["id"]
    assert locations["lab"]["parent"] == locations["hq"]["id"]
    sensor = stoneage.ok("thing-types", "list")[0]
    ops = {op["name"]: op for op in sensor["operations"]}
    schema = stoneage.ok("message-schemas", "list")[0]
    assert ops["temperature"]["message_schema"] == schema["id"]

    again = plan_of(stoneage, "-f", fleet)
    assert again["summary"] == {"create": 0, "change": 0, "delete": 0, "unchanged": 12}
    second = stoneage("apply", "-f", fleet)
    assert second.code == 0 and "Nothing to change." in second.err


def test_changes_and_prune(stoneage, tmp_path):
    stoneage.ok("apply", "-f", write(tmp_path, FLEET))
    stoneage.ok(
        "things", "create", "--set", "code=stray", "--set", f"thing_type:={stoneage.ok('thing-types', 'list')[0]['id']}"
    )
    changed = FLEET.replace("name: Sensor 1", "name: First sensor").replace(
        "  - {code: s-02, thing_type: sensor, location: hq}\n", ""
    )
    fleet = write(tmp_path, changed, "changed.yaml")

    without_prune = plan_of(stoneage, "-f", fleet)
    assert without_prune["summary"] == {"create": 0, "change": 1, "delete": 0, "unchanged": 10}
    step = next(s for s in without_prune["steps"] if s["action"] == "change")
    assert step == {
        "action": "change",
        "kind": "thing",
        "key": "s-01",
        "changes": {"name": {"from": "Sensor 1", "to": "First sensor"}},
    }
    pruned = plan_of(stoneage, "-f", fleet, "--prune")
    assert sorted(s["key"] for s in pruned["steps"] if s["action"] == "delete") == ["s-02", "stray"]

    stoneage.ok("apply", "-f", fleet, "--prune")
    assert sorted(t["code"] for t in stoneage.ok("things", "list")) == ["s-01"]
    assert plan_of(stoneage, "-f", fleet, "--prune")["summary"]["unchanged"] == 11


def test_export_then_apply_into_an_empty_organization_reproduces_it(stoneage, tmp_path, world):
    from tenancy.models import Membership
    from tenancy.roles import Role
    from tests.support.world import make_org

    stoneage.ok("apply", "-f", write(tmp_path, FLEET))
    exported = stoneage("export")
    assert exported.code == 0, exported.err
    document = yaml.safe_load(exported.out)
    assert document["organization"] == "acme"
    assert [t["code"] for t in document["things"]] == ["s-01", "s-02"]
    assert document["locations"][0]["code"] == "hq"  # parents first

    make_org("empty", world.superuser)
    assert Membership.objects.filter(organization__slug="empty", role=Role.OWNER).exists()
    fleet = write(tmp_path, exported.out, "export.yaml")
    stoneage.ok("--context", "root", "apply", "-f", fleet, "--org", "empty")
    assert plan_of(stoneage, "--context", "root", "-f", fleet, "--org", "empty")["summary"]["unchanged"] == 12
    reexported = yaml.safe_load(stoneage("--context", "root", "export", "--org", "empty").out)
    assert {**reexported, "organization": "acme"} == document


def test_a_bad_fleet_file_is_a_usage_error(stoneage, tmp_path):
    assert "Unknown sections" in stoneage.refused("apply", "-f", write(tmp_path, "gadgets: []\n"), code=2).err
    unknown_ref = "things:\n  - {code: x, thing_type: nope}\n"
    assert "neither in the file nor" in stoneage.refused("apply", "-f", write(tmp_path, unknown_ref), code=2).err
    loop = "locations:\n  - {code: a, name: A, parent: b}\n  - {code: b, name: B, parent: a}\n"
    assert "loop" in stoneage.refused("apply", "-f", write(tmp_path, loop), code=2).err
    assert "not valid YAML" in stoneage.refused("apply", "-f", write(tmp_path, "a: [\n"), code=2).err
    bad_field = "roles:\n  - {name: r, colour: red}\n"
    assert "unknown fields" in stoneage.refused("apply", "-f", write(tmp_path, bad_field), code=2).err
    refused_by_api = "networks:\n  - {name: n, cidr: not-a-cidr}\n"
    assert "400 Bad Request" in stoneage.refused("apply", "-f", write(tmp_path, refused_by_api)).err
