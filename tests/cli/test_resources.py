"""Every resource through the real client: create, list, get, update, delete in the caller's organization,
and the same id refused (404, exit 1, the API's error text) from another organization."""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def thing_type(cli, context: str) -> list[str]:
    tt = cli.ok("--context", context, "thing-types", "create", "--set", "code=sensor", "--set", "name=Sensor")
    return ["--set", f"thing_type:={tt['id']}"]


def network(cli, context: str) -> list[str]:
    net = cli.ok("--context", context, "nebula", "networks", "create", "--set", "name=lan", "--set", "cidr=10.9.0.0/24")
    return ["--set", f"network:={net['id']}"]


def operations_of_type(cli, context: str) -> list[str]:
    tt = cli.ok("--context", context, "thing-types", "create", "--set", "code=gauge", "--set", "name=Gauge")
    return ["--thing-type", str(tt["id"])]


def exporter(cli, context: str) -> list[str]:
    from credentials.models import Account

    return ["--set", f"exporter={Account.objects.get(is_system=True).public_key}"]


@dataclass
class Case:
    command: tuple[str, ...]
    create: list[str]
    update: list[str]
    changed: tuple[str, object]
    #: Extra create arguments for an organization's context (ids of what it refers to).
    setup: Callable | None = None
    #: Setup arguments that are options of every command (`--thing-type`), not fields of the body.
    scoped: bool = False
    #: Deleting it withdraws it (an invitation is revoked), it can still be read.
    withdrawn: tuple[str, object] | None = None


CASES = {
    "thing-types": Case(
        ("thing-types",), ["--set", "code=t1", "--set", "name=T1"], ["--set", "name=T2"], ("name", "T2")
    ),
    "operations": Case(
        ("operations",),
        ["--set", "name=temp", "--set", "capability=publish", "--set", "subject_suffix=temp"],
        ["--set", "description=degrees"],
        ("description", "degrees"),
        setup=operations_of_type,
        scoped=True,
    ),
    "message-schemas": Case(
        ("message-schemas",),
        [
            "--set",
            "namespace=acme",
            "--set",
            "name=reading",
            "--set",
            "version=1.0.0",
            "--set",
            'schema:={"type": "object"}',
        ],
        ["--set", "description=A reading"],
        ("description", "A reading"),
    ),
    "location-types": Case(
        ("location-types",), ["--set", "code=site", "--set", "name=Site"], ["--set", "name=Campus"], ("name", "Campus")
    ),
    "locations": Case(
        ("locations",),
        ["--set", "code=hq", "--set", "name=HQ", "--set", "latitude:=48.85", "--set", "longitude:=2.35"],
        ["--set", "name=Head office"],
        ("name", "Head office"),
    ),
    "things": Case(
        ("things",),
        ["--set", "code=s-01", "--set", "name=Sensor 1", "--set", 'metadata:={"floor": 3}'],
        ["--set", "name=Sensor one"],
        ("name", "Sensor one"),
        setup=thing_type,
    ),
    "nats roles": Case(
        ("nats", "roles"),
        ["--set", "name=readers", "--set", "subscribe_allow:=[telemetry.>]"],
        ["--set", "publish_allow:=[cmd.>]"],
        ("publish_allow", ["cmd.>"]),
    ),
    "nats users": Case(
        ("nats", "users"),
        ["--set", "name=svc-1", "--set", "owner_kind=thing"],
        ["--set", "description=a service"],
        ("description", "a service"),
    ),
    "nats exports": Case(
        ("nats", "exports"),
        ["--set", "name=telemetry", "--set", "subject=telemetry.>"],
        ["--set", "description=everything"],
        ("description", "everything"),
    ),
    "nats imports": Case(
        ("nats", "imports"),
        ["--set", "name=own", "--set", "subject=telemetry.>", "--set", "local_subject=mine.>"],
        ["--set", "name=renamed"],
        ("name", "renamed"),
        setup=exporter,
    ),
    "nebula networks": Case(
        ("nebula", "networks"),
        ["--set", "name=mesh", "--set", "cidr=10.42.0.0/16"],
        ["--set", "description=the mesh"],
        ("description", "the mesh"),
    ),
    "nebula hosts": Case(
        ("nebula", "hosts"),
        ["--set", "hostname=gw-1", "--set", "groups:=[gateways]"],
        ["--set", "groups:=[gateways, edge]"],
        ("groups", ["gateways", "edge"]),
        setup=network,
    ),
    "invitations": Case(
        ("invitations",),
        ["--set", "email=new@example.com", "--set", "role=viewer"],
        [],
        ("", None),
        withdrawn=("status", "revoked"),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_resource_is_managed_in_its_organization_and_refused_in_another(stoneage, name):
    case = CASES[name]
    cmd = case.command
    extra = {ctx: (case.setup(stoneage, ctx) if case.setup else []) for ctx in ("acme", "globex")}
    scope = {ctx: (extra[ctx] if case.scoped else []) for ctx in extra}
    body = {ctx: ([] if case.scoped else extra[ctx]) for ctx in extra}

    mine = stoneage.ok("--context", "acme", *cmd, "create", *scope["acme"], *case.create, *body["acme"])
    theirs = stoneage.ok("--context", "globex", *cmd, "create", *scope["globex"], *case.create, *body["globex"])
    ident = str(mine["id"])

    listed = stoneage.ok(*cmd, "list", *scope["acme"])
    assert mine["id"] in [row["id"] for row in listed]
    assert theirs["id"] not in [row["id"] for row in listed]
    assert stoneage.ok(*cmd, "get", ident, *scope["acme"])["id"] == mine["id"]
    if case.update:
        field_name, value = case.changed
        assert stoneage.ok(*cmd, "update", ident, *scope["acme"], *case.update)[field_name] == value

    # Another organization's id, through my organization: not found, the API's words, exit 1.
    other = str(theirs["id"])
    refused = stoneage.refused(*cmd, "get", other, *scope["acme"])
    assert "404" in refused.err and "Not Found" in refused.err
    stoneage.refused(*cmd, "delete", other, *scope["acme"])
    # ... and through their organization, which is not mine.
    stoneage.refused(*cmd, "list", "--org", "globex", *scope["acme"])
    assert stoneage.ok("--context", "globex", *cmd, "get", other, *scope["globex"])["id"] == theirs["id"]

    stoneage.ok(*cmd, "delete", ident, *scope["acme"])
    if case.withdrawn:
        field_name, value = case.withdrawn
        assert stoneage.ok(*cmd, "get", ident, *scope["acme"])[field_name] == value
    else:
        stoneage.refused(*cmd, "get", ident, *scope["acme"])


def test_organizations_members_and_tokens(stoneage, world):
    created = stoneage.ok(
        "--context",
        "root",
        "orgs",
        "create",
        "--set",
        "slug=initech",
        "--set",
        "name=Initech",
        "--set",
        "owner=olivia@example.com",
    )
    assert created["slug"] == "initech"
    assert [o["slug"] for o in stoneage.ok("--context", "root", "orgs", "list")] == ["acme", "globex", "initech"]
    assert [o["slug"] for o in stoneage.ok("orgs", "list")] == ["acme"]  # a token confined to acme
    assert stoneage.ok("--context", "root", "orgs", "update", "initech", "--set", "name=Initech Inc")["name"] == (
        "Initech Inc"
    )
    refused = stoneage.refused("orgs", "get", "globex")
    assert "404" in refused.err
    stoneage.refused("orgs", "create", "--set", "slug=nope", "--set", "name=Nope", "--set", "owner=olivia@example.com")
    stoneage.ok("--context", "root", "orgs", "delete", "initech")

    members = stoneage.ok("members", "list")
    mia = next(m for m in members if m["user"]["username"] == "mia")
    assert stoneage.ok("members", "update", str(mia["id"]), "--set", "role=viewer")["role"] == "viewer"
    table = stoneage("members", "list", "-o", "table").out
    assert "user.username" in table and "mia" in table
    globex_member = stoneage.ok("--context", "globex", "members", "list")[0]
    stoneage.refused("members", "update", str(globex_member["id"]), "--set", "role=viewer")
    stoneage.ok("members", "delete", str(mia["id"]))

    refused = stoneage.refused("tokens", "create", "--set", "name=ci", "--set", "organization=acme")
    assert "403 Forbidden: API tokens are created signed in" in refused.err
    from tenancy import services

    token, _ = services.create_api_token(user=world.user("owner"), organization=world.org, name="ci")
    token = {"id": token.pk}
    assert token["id"] in [t["id"] for t in stoneage.ok("tokens", "list")]
    assert stoneage.ok("tokens", "get", str(token["id"]))["name"] == "ci"
    theirs = stoneage.ok("--context", "globex", "tokens", "list")[0]
    stoneage.refused("tokens", "get", str(theirs["id"]))
    stoneage.ok("tokens", "delete", str(token["id"]))

    person = stoneage.ok("--context", "root", "users", "create", "--set", "email=dana@example.com")
    assert (
        stoneage.ok("--context", "root", "users", "update", str(person["id"]), "--set", "first_name=Dana")["first_name"]
        == "Dana"
    )
    stoneage.ok("--context", "root", "users", "deactivate", str(person["id"]))
    assert "403" in stoneage.refused("users", "list").err


def test_the_nats_account_limits_and_credentials_downloads(stoneage, tmp_path):
    account = stoneage.ok("nats", "account", "get")
    assert account["public_key"].startswith("A")
    limits = ("nats", "account", "update", "--org", "acme", "--set", "max_connections:=25")
    assert stoneage.ok("--context", "root", *limits)["max_connections"] == 25
    assert "403 Forbidden: Only platform operators" in stoneage.refused(*limits).err
    stoneage.refused("--context", "root", *limits[:-1], "max_connections:=-5")

    user = stoneage.ok("nats", "users", "create", "--set", "name=dl", "--set", "owner_kind=thing")
    creds = tmp_path / "dl.creds"
    stoneage.ok("nats", "users", "creds", str(user["id"]), "--out", str(creds))
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert "BEGIN NATS USER JWT" in creds.read_text() and "USER NKEY SEED" in creds.read_text()
    again = stoneage.refused("nats", "users", "creds", str(user["id"]), "--out", str(creds), code=2)
    assert "--force" in again.err
    creds.chmod(0o644)
    stoneage.ok("nats", "users", "creds", str(user["id"]), "--out", str(creds), "--force")
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    theirs = stoneage.ok(
        "--context", "globex", "nats", "users", "create", "--set", "name=x", "--set", "owner_kind=thing"
    )
    stoneage.refused("nats", "users", "creds", str(theirs["id"]), "--out", str(tmp_path / "x.creds"))
    assert not (tmp_path / "x.creds").exists()

    net = stoneage.ok("nebula", "networks", "create", "--set", "name=lan", "--set", "cidr=10.7.0.0/24")
    host = stoneage.ok("nebula", "hosts", "create", "--set", "hostname=h1", "--set", f"network:={net['id']}")
    config = tmp_path / "h1.yml"
    stoneage.ok("nebula", "hosts", "config", str(host["id"]), "--out", str(config))
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert "pki:" in config.read_text()
    cas = stoneage.ok("nebula", "cas", "list")
    stoneage.ok("nebula", "cas", "ca-crt", str(cas[0]["id"]), "--out", str(tmp_path / "ca.crt"))
    assert "NEBULA" in (tmp_path / "ca.crt").read_text()


def test_output_formats(stoneage):
    stoneage.ok("thing-types", "create", "--set", "code=t1", "--set", "name=T1")
    assert stoneage.ok("thing-types", "list")[0]["code"] == "t1"  # JSON when piped
    assert stoneage("thing-types", "list", "-o", "yaml").yaml[0]["code"] == "t1"
    assert stoneage("-o", "yaml", "thing-types", "list").yaml[0]["code"] == "t1"
    table = stoneage("thing-types", "list", "-o", "table").out.splitlines()
    assert table[0].split() == ["id", "code", "name", "subject_prefix"]
    assert table[2].split()[1:3] == ["t1", "T1"]
    detail = stoneage(
        "thing-types", "get", "--org", "acme", str(stoneage.ok("thing-types", "list")[0]["id"]), "-o", "table"
    )
    assert any(line.split()[:2] == ["code", "t1"] for line in detail.out.splitlines())


def test_placements_and_floorplans(stoneage, world):
    from inventory.models import Location
    from tests.inventory.test_api_places import make_floorplan

    tt = stoneage.ok("thing-types", "create", "--set", "code=t", "--set", "name=T")
    thing = stoneage.ok("things", "create", "--set", "code=p-1", "--set", f"thing_type:={tt['id']}")
    loc = stoneage.ok("locations", "create", "--set", "code=hall", "--set", "name=Hall")
    plan = make_floorplan(world.org, Location.objects.get(pk=loc["id"]))
    assert [f["id"] for f in stoneage.ok("floorplans", "list")] == [plan.pk]
    placed = stoneage.ok(
        "placements",
        "create",
        "--set",
        f"floorplan:={plan.pk}",
        "--set",
        f"thing:={thing['id']}",
        "--set",
        "x:=0.25",
        "--set",
        "y:=0.5",
    )
    assert stoneage.ok("placements", "update", str(placed["id"]), "--set", "x:=0.75")["x"] == 0.75
    other_loc = stoneage.ok("--context", "globex", "locations", "create", "--set", "code=l", "--set", "name=L")
    theirs = make_floorplan(world.other_org, Location.objects.get(pk=other_loc["id"]))
    stoneage.refused("floorplans", "get", str(theirs.pk))
    stoneage.refused(
        "placements",
        "create",
        "--set",
        f"floorplan:={theirs.pk}",
        "--set",
        f"thing:={thing['id']}",
        "--set",
        "x:=0.1",
        "--set",
        "y:=0.1",
    )
    stoneage.ok("placements", "delete", str(placed["id"]))


def test_backups_are_made_listed_downloaded_and_restore_refuses_a_live_platform(stoneage, tmp_path):
    made = stoneage.ok("--context", "root", "backup", "create")
    assert made["size"] > 0
    assert [b["id"] for b in stoneage.ok("--context", "root", "backup", "list")] == [made["id"]]
    stoneage.ok("--context", "root", "backup", "download", str(made["id"]))
    archive = tmp_path / f"stoneage-backup-{made['id']}.tar.gz"
    assert archive.stat().st_mode & 0o777 == 0o600
    # The platform holds organizations: a restore is refused with the API's sentence, and nothing changes.
    refused = stoneage.refused("--context", "root", "backup", "restore", str(archive))
    assert "empty" in refused.err
    # An organization's token is no platform operator.
    stoneage.refused("backup", "list")


def test_leaf_nodes_enrollment_tokens_and_commands(stoneage):
    leaf = stoneage.ok("leaf-nodes", "create", "--set", "code=site-a", "--set", "name=Site A")
    assert leaf["domain"] == "edge-site-a"
    assert stoneage.ok("leaf-nodes", "deactivate", str(leaf["id"]))["active"] is False
    stoneage.refused("--context", "globex", "leaf-nodes", "get", str(leaf["id"]))

    tt = stoneage.ok("thing-types", "create", "--set", "code=t", "--set", "name=T")
    thing = stoneage.ok("things", "create", "--set", "code=e-1", "--set", f"thing_type:={tt['id']}")
    token = stoneage.ok("enrollment-tokens", "create", "--thing", str(thing["id"]))
    assert token["token"] and token["status"] == "open"
    listed = stoneage.ok("enrollment-tokens", "list", "--thing", str(thing["id"]))
    assert [t["id"] for t in listed] == [token["id"]] and "token" not in listed[0]
    assert stoneage.ok("enrollment-tokens", "revoke", str(token["id"]), "--thing", str(thing["id"]))["status"] == (
        "revoked"
    )
    stoneage.refused("--context", "globex", "enrollment-tokens", "list", "--thing", str(thing["id"]))

    assert stoneage.ok("commands", "list", "--thing", str(thing["id"])) == []
    # A type without reply operations has no commands: the API's reason, exit 1.
    refused = stoneage.refused("commands", "create", "--thing", str(thing["id"]), "--set", "operation=reboot")
    assert "operation" in refused.err
