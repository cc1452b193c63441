"""Bulk import and export through their doors: the management commands, the API, the admin page; atomicity at
10,000 things."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from audit.models import AuditEvent
from credentials.models import NatsUser
from inventory import bulk
from inventory.models import Location, Thing, ThingType
from inventory.services import types
from tenancy.roles import ALL_ROLES, EDITORS, MANAGERS, Role
from tests.inventory.test_bulk import full_document
from tests.support.authz import ANONYMOUS, OUTSIDER, SUPERUSER, assert_access, expect

PLAIN = {"locations": [{"code": "hq", "name": "HQ"}], "things": [{"code": "t-1", "type": "sensor", "location": "hq"}]}


@pytest.fixture
def sensor(world):
    return types.create_type(organization=world.org, code="sensor", name="Sensor")


# --- Atomicity -------------------------------------------------------------------------------------------------


def test_ten_thousand_things_with_one_bad_row_leave_nothing(world, sensor):
    rows = [{"code": f"s-{i:05}", "type": "sensor", "nats": "auto"} for i in range(10_000)]
    rows[9_998]["metadata"] = ["not", "an", "object"]  # row 9,999
    users_before, events_before = NatsUser.objects.count(), AuditEvent.objects.count()
    result = bulk.import_inventory(world.org, bulk.read_json(json.dumps({"things": rows})))
    assert [(e.position, e.field) for e in result.errors] == [(9_998, "metadata")]
    assert not Thing.objects.exists()
    assert NatsUser.objects.count() == users_before
    assert AuditEvent.objects.count() == events_before
    # Without the bad row, the same file is one import.
    rows[9_998].pop("metadata")
    result = bulk.import_inventory(world.org, bulk.read_json(json.dumps({"things": rows})))
    assert result.written and Thing.objects.filter(organization=world.org).count() == 10_000
    assert NatsUser.objects.filter(organization=world.org, owner_kind="thing").count() == 10_000
    assert AuditEvent.objects.filter(object_type="inventory.import").count() == 1


# --- Management commands ---------------------------------------------------------------------------------------


def test_the_commands_export_and_import_a_directory_of_csv_files(world, tmp_path, capsys):
    bulk.import_inventory(world.org, bulk.read_json(json.dumps(full_document())))
    call_command("inventory_export", "--org", "acme", "--format", "csv", "--output", str(tmp_path / "out"))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"{k}.csv" for k in bulk.KINDS)
    call_command("inventory_import", "--org", "globex", str(tmp_path / "out"))
    assert "Imported 1 message schemas, 2 thing types" in capsys.readouterr().out
    assert bulk.export_json(world.other_org) == bulk.export_json(world.org)


def test_the_import_command_lists_bad_rows_and_exits_1(world, sensor, tmp_path, capsys):
    path = tmp_path / "things.csv"
    path.write_text("code,type\nok,sensor\nbad code,sensor\nx,lamp\n")
    with pytest.raises(CommandError, match=r"2 bad row\(s\); nothing was imported") as caught:
        call_command("inventory_import", "--org", "acme", str(path))
    assert caught.value.returncode == 1
    err = capsys.readouterr().err
    assert "things line 3: code:" in err and "things line 4: type:" in err
    assert not Thing.objects.exists()


def test_the_import_command_dry_run_and_file_errors(world, sensor, tmp_path, capsys):
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(PLAIN))
    call_command("inventory_import", "--org", "acme", "--dry-run", str(path))
    assert "Would import 1 locations, 1 things into acme." in capsys.readouterr().out
    assert not Location.objects.exists()
    for args, message in [
        (["--org", "nope", str(path)], "No organization has the slug 'nope'."),
        (["--org", "acme", str(tmp_path / "missing.json")], "Cannot read"),
        (["--org", "acme", str(tmp_path / "data.txt")], "Give --format json or csv"),
    ]:
        with pytest.raises(CommandError, match=re.escape(message)) as caught:
            call_command("inventory_import", *args)
        assert caught.value.returncode == 2
    path.write_text("{broken")
    with pytest.raises(CommandError, match="not valid JSON") as caught:
        call_command("inventory_import", "--org", "acme", str(path))
    assert caught.value.returncode == 2


def test_the_export_command_writes_json_to_stdout_and_refuses_csv_without_a_place(world, sensor, capsys):
    call_command("inventory_export", "--org", "acme")
    assert json.loads(capsys.readouterr().out)["thing_types"][0]["code"] == "sensor"
    call_command("inventory_export", "--org", "acme", "--format", "csv", "--kind", "thing_types")
    assert capsys.readouterr().out.startswith("code,name,description,subject_prefix")
    with pytest.raises(CommandError, match="give --output DIR"):
        call_command("inventory_export", "--org", "acme", "--format", "csv")


# --- API -------------------------------------------------------------------------------------------------------


def import_url(world, **query) -> str:
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/api/v1/orgs/{world.org.slug}/inventory/import/{'?' + params if params else ''}"


def api(world, who: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(world.user(who) if who in ALL_ROLES else world.superuser)
    return client


def test_api_import_roles_for_things_and_for_types(world, sensor):
    counter = iter(range(1000))

    def plain(_world):
        n = next(counter)
        return {"locations": [{"code": f"hq-{n}", "name": "HQ"}], "things": [{"code": f"t-{n}", "type": "sensor"}]}

    assert_access(world, "post", lambda w: import_url(w), expect(EDITORS, 201), data_for=plain)

    def with_types(_world):
        return {"thing_types": [{"code": f"type-{next(counter)}", "name": "T"}]}

    assert_access(world, "post", lambda w: import_url(w), expect(MANAGERS, 201), data_for=with_types)

    def with_users(_world):
        return {"things": [{"code": f"n-{next(counter)}", "type": "sensor", "nats": "auto"}]}

    assert_access(world, "post", lambda w: import_url(w), expect(MANAGERS, 201), data_for=with_users)
    refused = api(world, Role.MEMBER).post(import_url(world), with_users(world), format="json")
    assert refused.status_code == 403 and "gives things NATS users" in refused.data["detail"]


def test_api_import_reports_bad_rows_and_dry_runs(world, sensor):
    client = api(world, Role.ADMIN)
    bad = {"things": [{"code": "ok", "type": "sensor"}, {"code": "x", "type": "lamp"}]}
    response = client.post(import_url(world), bad, format="json")
    assert response.status_code == 400
    assert response.data["errors"] == [
        {"kind": "things", "index": 1, "field": "type", "message": response.data["errors"][0]["message"]}
    ]
    assert not Thing.objects.exists()
    response = client.post(import_url(world, dry_run=1), PLAIN, format="json")
    assert response.status_code == 200 and response.data["counts"]["things"] == 1 and not response.data["written"]
    assert not Thing.objects.exists()
    broken = client.generic("POST", import_url(world), "{nope", content_type="application/json")
    assert broken.status_code == 400 and "not valid JSON" in broken.data["detail"]


def test_api_import_takes_csv_as_an_upload_or_as_the_body(world, sensor):
    client = api(world, Role.MEMBER)
    upload = SimpleUploadedFile("things.csv", b"code,type\nup-1,sensor\n", content_type="text/csv")
    response = client.post(import_url(world), {"file": upload}, format="multipart")
    assert response.status_code == 201, response.data
    body = client.generic("POST", import_url(world, kind="things"), "code,type\nbody-1,sensor\n", "text/csv")
    assert body.status_code == 201, body.data
    missing_kind = client.generic("POST", import_url(world), "code,type\nb-2,sensor\n", "text/csv")
    assert missing_kind.status_code == 400 and "Name the kind" in missing_kind.data["detail"]
    bad = client.post(import_url(world), {"file": SimpleUploadedFile("things.csv", b"code,type\nb 3,sensor\n")})
    assert bad.status_code == 400 and bad.data["errors"][0]["line"] == 2
    assert set(Thing.objects.values_list("code", flat=True)) == {"up-1", "body-1"}


def test_api_export_for_every_role_and_never_another_organization(world, sensor):
    def url(w):
        return f"/api/v1/orgs/{w.org.slug}/inventory/export/?format=json"

    assert_access(world, "get", url, expect(ALL_ROLES, 200))
    client = api(world, Role.VIEWER)
    csv_response = client.get(f"/api/v1/orgs/{world.org.slug}/inventory/export/?format=csv&kind=thing_types")
    assert csv_response.status_code == 200 and csv_response.content.startswith(b"code,name,")
    assert client.get(f"/api/v1/orgs/{world.org.slug}/inventory/export/?format=csv").status_code == 400
    assert client.get(f"/api/v1/orgs/{world.org.slug}/inventory/export/?format=xml").status_code == 400
    # The outsider's own organization exports only its own rows.
    outsider = APIClient()
    outsider.force_authenticate(world.outsider)
    theirs = outsider.get(f"/api/v1/orgs/{world.other_org.slug}/inventory/export/")
    assert theirs.status_code == 200 and json.loads(theirs.content)["thing_types"] == []


def test_api_import_into_another_organization_is_404(world, sensor):
    statuses = {OUTSIDER: 404, ANONYMOUS: 401}
    for who, status in statuses.items():
        client = APIClient()
        if who == OUTSIDER:
            client.force_authenticate(world.outsider)
        response = client.post(import_url(world), PLAIN, format="json")
        assert response.status_code == status
    assert not Thing.objects.exists()
    client = api(world, SUPERUSER)
    assert client.post("/api/v1/orgs/no-such-org/inventory/import/", PLAIN, format="json").status_code == 404


# --- Admin page ------------------------------------------------------------------------------------------------


def admin_client(world, who: str) -> Client:
    client = Client()
    client.force_login(world.outsider if who == OUTSIDER else world.user(who) if who in ALL_ROLES else world.superuser)
    return client


def page(world) -> str:
    return f"/admin/orgs/{world.org.slug}/inventory/import/"


def test_admin_page_previews_errors_then_confirms(world, sensor):
    client = admin_client(world, Role.ADMIN)
    assert client.get(page(world)).status_code == 200
    bad = SimpleUploadedFile("things.csv", b"code,type\nok-1,sensor\nbad code,sensor\nx,lamp\n")
    response = client.post(page(world), {"file": bad})
    html = response.content.decode()
    assert response.status_code == 200 and "2 bad rows" in html
    assert "line 3" in html and "line 4" in html and "lamp" in html
    assert "confirm-import" not in html and not Thing.objects.exists()

    good = SimpleUploadedFile(
        "inventory.json", json.dumps({**PLAIN, "things": [{**PLAIN["things"][0], "nats": "auto"}]}).encode()
    )
    response = client.post(page(world), {"file": good})
    html = response.content.decode()
    assert "confirm-import" in html and not Thing.objects.exists()
    token = re.search(r'name="token" value="([^"]+)"', html).group(1)
    done = client.post(page(world), {"token": token, "confirm": "Confirm import"}, follow=True)
    assert "Imported 1 locations, 1 things, 1 NATS users" in done.content.decode()
    thing = Thing.objects.get(code="t-1")
    assert thing.location.code == "hq" and thing.nats_user is not None


def test_admin_page_roles_and_tenancy(world, sensor):
    for who, status in [
        (Role.OWNER, 200),
        (Role.ADMIN, 200),
        (Role.MEMBER, 200),
        (Role.VIEWER, 403),
        (Role.AUDITOR, 403),
        (OUTSIDER, 404),
        (SUPERUSER, 200),
    ]:
        assert admin_client(world, who).get(page(world)).status_code == status, who
    assert Client().get(page(world)).status_code == 302  # to the sign-in page
    export = f"/admin/orgs/{world.org.slug}/inventory/export/"
    assert admin_client(world, Role.VIEWER).get(export).status_code == 200
    assert admin_client(world, OUTSIDER).get(export).status_code == 404
    # A member may not bring thing types, and a token cannot be replayed by someone else or elsewhere.
    member = admin_client(world, Role.MEMBER)
    types_file = SimpleUploadedFile(
        "inventory.json", json.dumps({"thing_types": [{"code": "t", "name": "T"}]}).encode()
    )
    html = member.post(page(world), {"file": types_file}).content.decode()
    assert "Only an owner or an admin may run this import" in html
    preview = admin_client(world, Role.ADMIN).post(
        page(world), {"file": SimpleUploadedFile("i.json", json.dumps(PLAIN).encode())}
    )
    token = re.search(r'name="token" value="([^"]+)"', preview.content.decode()).group(1)
    assert member.post(page(world), {"token": token, "confirm": "1"}).status_code == 403
    tampered = admin_client(world, Role.ADMIN).post(page(world), {"token": token + "x", "confirm": "1"}, follow=True)
    assert "expired or was altered" in tampered.content.decode()
    assert not Thing.objects.exists()
    assert ThingType.objects.filter(organization=world.org).count() == 1
