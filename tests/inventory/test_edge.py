"""Leaf nodes: model rules, domain actions, the API (with its cross-tenant matrix), the leaf's own bootstrap and
report endpoints (authenticated with its nkey), and the generated `nats-leaf.conf` accepted by a real nats-server."""

from __future__ import annotations

import subprocess
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import Action, AuditEvent
from credentials.codecs import natsjwt as nj
from credentials.models import Account, NatsRole, NatsUser
from credentials.secrets import reveal
from credentials.services import nebula as nebula_svc
from inventory import leafconf
from inventory.models import LeafNode, Thing
from inventory.services import contracts, edge
from tenancy.roles import ALL_ROLES, MANAGERS, Role
from tests.integration.edge_support import device_client
from tests.integration.support import _binary
from tests.inventory.api_support import client_of, make_location, make_network, make_type, url
from tests.support.authz import assert_access, expect

pytestmark = pytest.mark.django_db


@pytest.fixture
def leaf(world):
    return edge.create_leaf_node(organization=world.org, code="site-a", name="Site A")


def account_of(org) -> Account:
    return Account.objects.get(organization=org)


# --- Model and domain actions ------------------------------------------------------------------------------------


def test_creating_a_leaf_provisions_its_users_with_the_leaf_role(world, leaf):
    assert leaf.domain == "edge-site-a"
    user = leaf.nats_user
    assert user.owner_kind == NatsUser.OwnerKind.LEAF_NODE and user.name == "leaf-site-a"
    assert user.role == NatsRole.objects.get(organization=world.org, name="leaf-node")
    claims = nj.decode(user.jwt, verify=False)["nats"]
    assert claims["pub"]["allow"] == [">"] and claims["sub"]["allow"] == [">"]
    system = leaf.system_user
    assert system.account.is_system and system.organization is None
    claims = nj.decode(system.jwt, verify=False)["nats"]
    account = account_of(world.org)
    assert sorted(claims["sub"]["allow"]) == sorted(edge.claim_update_subjects(account))
    assert claims["pub"]["deny"] == [">"]  # it sends nothing to the hub
    # A second leaf reuses the role.
    edge.create_leaf_node(organization=world.org, code="site-b")
    assert NatsRole.objects.filter(organization=world.org, name="leaf-node").count() == 1


def test_code_is_frozen_and_domain_validated(world, leaf):
    with pytest.raises(ValidationError) as exc:
        edge.update_leaf_node(leaf, code="site-z")
    assert "cannot change" in str(exc.value.message_dict["code"])
    with pytest.raises(ValidationError) as exc:
        edge.update_leaf_node(leaf, domain="edge.a")
    assert "domain" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        edge.create_leaf_node(organization=world.org, code="site-a")
    assert "code" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        edge.update_leaf_node(leaf, synced=["things", "passwords"])
    assert "passwords" in str(exc.value.message_dict["synced"])
    leaf = edge.update_leaf_node(leaf, domain="plant-1", synced=["things", "locations"], name="Plant")
    assert (leaf.domain, leaf.synced, leaf.name) == ("plant-1", ["things", "locations"], "Plant")


def test_a_location_of_another_organization_is_refused(world, leaf):
    foreign = make_location(world.other_org, "hq")
    with pytest.raises(ValidationError) as exc:
        edge.update_leaf_node(leaf, location=foreign)
    assert "another organization" in str(exc.value.message_dict["location"])


def test_deactivate_revokes_both_users_and_reactivate_rekeys(world, leaf):
    old_user, old_system = leaf.nats_user.public_key, leaf.system_user.public_key
    leaf = edge.deactivate_leaf_node(leaf)
    assert not leaf.active
    assert old_user in account_of(world.org).revocations
    assert old_system in Account.objects.get(is_system=True).revocations
    leaf = edge.reactivate_leaf_node(leaf)
    leaf.nats_user.refresh_from_db()
    assert leaf.active and leaf.nats_user.active and leaf.nats_user.public_key != old_user


def test_delete_revokes_and_removes_its_users(world, leaf):
    key, pk = leaf.nats_user.public_key, leaf.nats_user.pk
    edge.delete_leaf_node(leaf)
    assert not NatsUser.objects.filter(pk=pk).exists()
    assert key in account_of(world.org).revocations


def test_online_means_a_report_within_three_intervals(world, leaf):
    assert not leaf.online
    leaf.last_seen_at = timezone.now() - timedelta(seconds=89)
    assert leaf.online
    leaf.last_seen_at = timezone.now() - timedelta(seconds=91)
    assert not leaf.online


# --- API ---------------------------------------------------------------------------------------------------------


def test_everyone_reads_leaf_nodes_and_outsiders_get_404(world, leaf):
    assert_access(world, "get", lambda w: url("leafnode-list", w.org), expect(ALL_ROLES, 200))
    assert_access(world, "get", lambda w: url("leafnode-detail", w.org, leaf.pk), expect(ALL_ROLES, 200))


def test_only_owners_and_admins_write(world):
    counter = iter(range(100))
    assert_access(
        world,
        "post",
        lambda w: url("leafnode-list", w.org),
        expect(MANAGERS, 201),
        data_for=lambda w: {"code": f"site-{next(counter)}"},
    )


def test_a_foreign_leaf_is_404_for_every_method(world):
    foreign = edge.create_leaf_node(organization=world.other_org, code="site-x")
    for method, expected in (
        ("get", expect(ALL_ROLES, 404)),
        ("patch", expect(MANAGERS, 404)),
        ("delete", expect(MANAGERS, 404)),
    ):
        assert_access(
            world,
            method,
            lambda w: url("leafnode-detail", w.org, foreign.pk),
            expected,
            data_for=lambda w: {"name": "x"},
        )
    assert LeafNode.objects.filter(pk=foreign.pk, name="").exists()


def test_api_create_update_and_frozen_code(world):
    client = client_of(world.user(Role.ADMIN))
    created = client.post(url("leafnode-list", world.org), {"code": "site-a", "synced": ["things"]}, format="json")
    assert created.status_code == 201, created.data
    body = created.json()
    assert body["domain"] == "edge-site-a" and body["online"] is False and body["nats_user"]
    assert "creds" not in body and "seed" not in str(body)
    detail = url("leafnode-detail", world.org, body["id"])
    refused = client.patch(detail, {"code": "other"}, format="json")
    assert refused.status_code == 400 and "code" in refused.json()
    assert client.patch(detail, {"synced": ["nope"]}, format="json").status_code == 400
    off = client.post(detail + "deactivate/")
    assert off.status_code == 200 and off.json()["active"] is False


# --- The leaf's own endpoints ------------------------------------------------------------------------------------


def test_bootstrap_gives_the_leaf_its_bundle_and_is_audited(world, leaf, settings):
    settings.HUB_LEAF_URLS = ["nats-leaf://hub.example:7422"]
    response = device_client(leaf.nats_user).get("/api/v1/leaf/bootstrap/", {"port": "4333"})
    assert response.status_code == 200, response.content
    body = response.json()
    account = account_of(world.org)
    assert body["domain"] == "edge-site-a" and body["code"] == "site-a"
    assert body["account_pub"] == account.public_key and body["account_jwt"] == account.jwt
    assert body["sys_account_pub"] == Account.objects.get(is_system=True).public_key
    assert reveal(leaf.nats_user, "seed") in body["creds"]
    assert "nats-leaf://hub.example:7422" in body["nats_leaf_conf"] and "port: 4333" in body["nats_leaf_conf"]
    assert response["Cache-Control"].startswith("no-store") or "no-store" in response["Cache-Control"]
    event = AuditEvent.objects.get(
        object_type="inventory.leafnode", object_id=str(leaf.pk), action=Action.CREDENTIAL_READ
    )
    assert event.extra["kind"] == "leaf.bootstrap" and event.actor_name == "device:leaf-site-a"
    assert reveal(leaf.nats_user, "seed") not in str(event.__dict__)


def test_bootstrap_over_the_overlay_when_the_leaf_has_a_host(world, leaf, settings):

    settings.HUB_LEAF_URLS = ["nats-leaf://hub.example:7422"]
    settings.HUB_LEAF_OVERLAY_URLS = ["nats-leaf://10.42.0.1:7422"]
    host = nebula_svc.create_host(organization=world.org, network=make_network(world.org), hostname="site-a")
    leaf = edge.update_leaf_node(leaf, nebula_host=host)
    body = device_client(leaf.nats_user).get("/api/v1/leaf/bootstrap/").json()
    assert body["hub_urls"] == ["nats-leaf://10.42.0.1:7422"]


def test_only_a_leaf_may_bootstrap_and_bad_parameters_are_400(world, leaf):
    sensor = make_type(world.org)
    thing = Thing.objects.create(organization=world.org, code="s-01", thing_type=sensor)
    thing.nats_user = contracts.provision_thing_user(thing)
    thing.save()
    assert device_client(thing.nats_user).get("/api/v1/leaf/bootstrap/").status_code == 403
    client = device_client(leaf.nats_user)
    assert client.get("/api/v1/leaf/bootstrap/", {"creds_path": 'x"y'}).status_code == 400
    assert client.get("/api/v1/leaf/bootstrap/", {"port": "99999"}).status_code == 400
    assert APIClient().get("/api/v1/leaf/bootstrap/").status_code in (401, 403)


def test_report_records_liveness(world, leaf):
    client = device_client(leaf.nats_user)
    response = client.post("/api/v1/leaf/report/", {"status": {"version": "1.0", "streams": 2}}, format="json")
    assert response.status_code == 200 and response.json()["online"] is True
    leaf.refresh_from_db()
    assert leaf.online and leaf.last_status == {"version": "1.0", "streams": 2}
    assert client.post("/api/v1/leaf/report/", {"status": [1]}, format="json").status_code == 400
    assert client.post("/api/v1/leaf/report/", {"status": {"a": "\x00"}}, format="json").status_code == 400


def test_a_deactivated_leaf_is_refused(world, leaf):
    client = device_client(leaf.nats_user)
    edge.deactivate_leaf_node(leaf)
    assert client.get("/api/v1/leaf/bootstrap/").status_code in (401, 403)


def test_the_generated_config_passes_nats_server_check(world, leaf, tmp_path):
    bundle = edge.bootstrap(leaf)
    paths = leafconf.Paths(
        creds=str(tmp_path / "leaf.creds"),
        system_creds=str(tmp_path / "leaf-sys.creds"),
        store_dir=str(tmp_path / "js"),
    )
    (tmp_path / "leaf.creds").write_text(bundle.creds)
    (tmp_path / "leaf-sys.creds").write_text(bundle.system_creds)
    conf = tmp_path / "nats-leaf.conf"
    conf.write_text(bundle.conf(paths))
    result = subprocess.run([_binary("nats-server"), "-t", "-c", str(conf)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --- MQTT passwords ----------------------------------------------------------------------------------------------


def test_a_things_mqtt_password_is_bearer_for_mqtt_only_within_its_contract(world, leaf):
    sensor = make_type(world.org)
    thing = Thing.objects.create(organization=world.org, code="s-01", thing_type=sensor)
    thing.nats_user = contracts.provision_thing_user(thing)
    thing.save()
    response = device_client(thing.nats_user).post("/api/v1/devices/mqtt-password/")
    assert response.status_code == 200, response.content
    claims = nj.decode(response.json()["password"])
    assert claims["sub"] == thing.nats_user.public_key
    nats = claims["nats"]
    assert nats["bearer_token"] is True and nats["allowed_connection_types"] == ["MQTT"]
    # The contract as nats-server expands it for this thing: its operation, its twin keys, no template left.
    allowed = nats["pub"]["allow"]
    assert allowed[0] == "acme._.sensor.s-01.telemetry.temp" and "$KV.twin.thing.s-01.>" in allowed
    assert not any("{{" in subject for subject in allowed)
    assert claims["exp"] - claims["iat"] == 3600
    assert AuditEvent.objects.filter(action=Action.CREDENTIAL_READ, extra__kind="nats.mqtt_password").exists()
    # A leaf node's key does not get one.
    assert device_client(leaf.nats_user).post("/api/v1/devices/mqtt-password/").status_code == 403
