"""The things API: provisioning with identities in one transaction, roles, cross-tenant refusals, actions."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from credentials.models import Account, Host, NatsUser
from credentials.services import nats as nats_svc
from inventory.models import Thing, ThingType
from tenancy.roles import ALL_ROLES, EDITORS, MANAGERS
from tests.credentials.nebula_support import make_host
from tests.inventory.api_support import client_of, make_network, make_thing, make_type, url
from tests.support.authz import assert_access, expect

pytestmark = pytest.mark.django_db


@pytest.fixture
def sensor(world):
    return make_type(world.org)


@pytest.fixture
def owner(world):
    return client_of(world.user("owner"))


@pytest.fixture
def member(world):
    return client_of(world.user("member"))


def counts(org) -> tuple[int, int, int]:
    return (
        Thing.objects.filter(organization=org).count(),
        NatsUser.objects.filter(organization=org, owner_kind=NatsUser.OwnerKind.THING).count(),
        Host.objects.filter(organization=org).count(),
    )


def thing_user(org, name: str) -> NatsUser:
    account = Account.objects.get(organization=org, is_system=False)
    return nats_svc.create_user(account=account, name=name, owner_kind=NatsUser.OwnerKind.THING)


# --- Provisioning ---------------------------------------------------------------------------------------------


def test_a_member_creates_a_thing_without_identities(world, sensor, member):
    response = member.post(
        url("thing-list", world.org),
        {"code": "s-01", "name": "Hall sensor", "thing_type": sensor.pk, "metadata": {"floor": 2}},
        format="json",
    )
    assert response.status_code == 201, response.data
    assert response.data["nats_user"] is None and response.data["nebula_host"] is None
    assert response.data["active"] is True
    assert Thing.objects.get(pk=response.data["id"]).organization == world.org


def test_auto_modes_create_a_nats_user_and_the_next_free_host(world, sensor, owner):
    network = make_network(world.org)
    response = owner.post(
        url("thing-list", world.org),
        {
            "code": "s-01",
            "thing_type": sensor.pk,
            "nats": {"mode": "auto"},
            "nebula": {"mode": "auto", "network": network.pk},
        },
        format="json",
    )
    assert response.status_code == 201, response.data
    thing = Thing.objects.select_related("nats_user", "nebula_host").get(pk=response.data["id"])
    assert thing.nats_user.owner_kind == NatsUser.OwnerKind.THING and thing.nats_user.jwt
    assert thing.nebula_host.hostname == "s-01"
    assert thing.nebula_host.overlay_ip == "10.42.0.1"
    assert thing.nebula_host.network == network and thing.nebula_host.certificate


def test_auto_nebula_takes_the_overlay_ip_given(world, sensor, owner):
    network = make_network(world.org)
    body = {
        "code": "s-01",
        "thing_type": sensor.pk,
        "nebula": {"mode": "auto", "network": network.pk, "overlay_ip": "10.42.0.77"},
    }
    response = owner.post(url("thing-list", world.org), body, format="json")
    assert response.status_code == 201, response.data
    assert Host.objects.get(pk=response.data["nebula_host"]).overlay_ip == "10.42.0.77"


def test_link_modes_link_free_identities_of_the_organization(world, sensor, owner):
    user = thing_user(world.org, "spare")
    host = make_host(make_network(world.org), "spare-host")
    body = {
        "code": "s-01",
        "thing_type": sensor.pk,
        "nats": {"mode": "link", "user": user.pk},
        "nebula": {"mode": "link", "host": host.pk},
    }
    response = owner.post(url("thing-list", world.org), body, format="json")
    assert response.status_code == 201, response.data
    assert response.data["nats_user"] == user.pk and response.data["nebula_host"] == host.pk
    # Linked once, never twice.
    again = owner.post(url("thing-list", world.org), {**body, "code": "s-02"}, format="json")
    assert again.status_code == 400
    assert "already linked to the thing s-01" in str(again.data["nats"]["user"])
    assert not Thing.objects.filter(code="s-02").exists()


def test_a_person_s_nats_user_cannot_be_linked(world, sensor, owner):
    account = Account.objects.get(organization=world.org, is_system=False)
    person = nats_svc.create_user(account=account, name="olivia", owner_kind=NatsUser.OwnerKind.MEMBERSHIP)
    body = {"code": "s-01", "thing_type": sensor.pk, "nats": {"mode": "link", "user": person.pk}}
    response = owner.post(url("thing-list", world.org), body, format="json")
    assert response.status_code == 400
    assert "owned by a thing" in str(response.data["nats"]["user"])


@pytest.mark.parametrize(
    "nats, nebula, field",
    [
        ({"mode": "link"}, {}, ("nats", "user")),
        ({"mode": "auto", "user": "SPARE"}, {}, ("nats", "user")),
        ({}, {"mode": "auto"}, ("nebula", "network")),
        ({}, {"mode": "link"}, ("nebula", "host")),
        ({}, {"mode": "none", "overlay_ip": "10.42.0.9"}, ("nebula", "overlay_ip")),
        ({"mode": "sometimes"}, {}, ("nats", "mode")),
    ],
)
def test_inconsistent_modes_are_refused_naming_the_field(world, sensor, owner, nats, nebula, field):
    if nats.get("user") == "SPARE":
        nats["user"] = thing_user(world.org, "spare").pk
    before = counts(world.org)
    body = {"code": "s-01", "thing_type": sensor.pk, "nats": nats, "nebula": nebula}
    response = owner.post(url("thing-list", world.org), body, format="json")
    assert response.status_code == 400, response.data
    assert field[1] in response.data[field[0]], response.data
    assert counts(world.org) == before


def test_a_taken_overlay_ip_leaves_nothing_behind(world, sensor, owner):
    network = make_network(world.org)
    make_thing(world.org, "first", sensor, nebula_mode="auto", network=network, overlay_ip="10.42.0.5")
    before = counts(world.org)
    body = {
        "code": "s-01",
        "thing_type": sensor.pk,
        "nats": {"mode": "auto"},
        "nebula": {"mode": "auto", "network": network.pk, "overlay_ip": "10.42.0.5"},
    }
    response = owner.post(url("thing-list", world.org), body, format="json")
    assert response.status_code == 400, response.data
    assert "overlay_ip" in response.data["nebula"]
    # The thing and the NATS user made before the host failed are rolled back.
    assert counts(world.org) == before
    assert not NatsUser.objects.filter(name="s-01").exists()


def test_an_address_outside_the_network_leaves_nothing_behind(world, sensor, owner):
    network = make_network(world.org)
    before = counts(world.org)
    body = {
        "code": "s-01",
        "thing_type": sensor.pk,
        "nats": {"mode": "auto"},
        "nebula": {"mode": "auto", "network": network.pk, "overlay_ip": "10.99.0.5"},
    }
    response = owner.post(url("thing-list", world.org), body, format="json")
    assert response.status_code == 400, response.data
    assert counts(world.org) == before


def test_another_organizations_network_user_host_or_type_is_refused_and_leaves_nothing(world, sensor, owner):
    foreign_network = make_network(world.other_org, cidr="10.50.0.0/24")
    foreign_user = thing_user(world.other_org, "foreign")
    foreign_host = make_host(foreign_network, "foreign-host")
    foreign_type = make_type(world.other_org, "foreign")
    before, other_before = counts(world.org), counts(world.other_org)
    cases = [
        ({"nats": {"mode": "auto"}, "nebula": {"mode": "auto", "network": foreign_network.pk}}, ("nebula", "network")),
        ({"nats": {"mode": "link", "user": foreign_user.pk}}, ("nats", "user")),
        ({"nats": {"mode": "auto"}, "nebula": {"mode": "link", "host": foreign_host.pk}}, ("nebula", "host")),
        ({"thing_type": foreign_type.pk, "nats": {"mode": "auto"}}, ("thing_type", None)),
    ]
    for extra, (group, field) in cases:
        body = {"code": "s-01", "thing_type": sensor.pk, **extra}
        response = owner.post(url("thing-list", world.org), body, format="json")
        assert response.status_code == 400, (extra, response.data)
        assert group in response.data and (field is None or field in response.data[group]), response.data
        assert "foreign" not in str(response.data)  # never another organization's data
    assert counts(world.org) == before and counts(world.other_org) == other_before


def test_metadata_errors_name_the_field(world, sensor, member):
    response = member.post(
        url("thing-list", world.org),
        {"code": "s-01", "thing_type": sensor.pk, "metadata": {"floor": -1}},
        format="json",
    )
    assert response.status_code == 400
    assert list(response.data) == ["metadata.floor"]


def test_a_code_is_unique_in_the_organization_only(world, sensor, owner):
    make_thing(world.org, "s-01", sensor)
    response = owner.post(url("thing-list", world.org), {"code": "s-01", "thing_type": sensor.pk}, format="json")
    assert response.status_code == 400 and "code" in response.data
    make_thing(world.other_org, "s-02", make_type(world.other_org))
    response = owner.post(url("thing-list", world.org), {"code": "s-02", "thing_type": sensor.pk}, format="json")
    assert response.status_code == 201


# --- Members and identities -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra, field",
    [
        ({"nats": {"mode": "auto"}}, "nats.mode"),
        ({"nebula": {"mode": "auto"}}, "nebula.mode"),
        ({"active": False}, "active"),
    ],
)
def test_a_member_never_chooses_identities_on_create(world, sensor, member, extra, field):
    body = {"code": "s-01", "thing_type": sensor.pk, **extra}
    response = member.post(url("thing-list", world.org), body, format="json")
    assert response.status_code == 403, response.data
    assert field in str(response.data["detail"])
    assert not Thing.objects.filter(code="s-01").exists()


def test_a_member_edits_a_thing_but_not_its_identities(world, sensor, member):
    thing = make_thing(world.org, "s-01", sensor, nats_mode="auto")
    detail = url("thing-detail", world.org, thing.pk)
    response = member.patch(detail, {"name": "Renamed", "metadata": {"floor": 3}}, format="json")
    assert response.status_code == 200 and response.data["name"] == "Renamed"
    spare = thing_user(world.org, "spare")
    for body, field in [
        ({"nats_user": spare.pk}, "nats_user"),
        ({"nats_user": None}, "nats_user"),
        ({"active": False}, "active"),
    ]:
        response = member.patch(detail, body, format="json")
        assert response.status_code == 403, response.data
        assert field in str(response.data["detail"])
    # Sending the thing back as read is not a change.
    response = member.patch(detail, {"nats_user": thing.nats_user_id, "active": True, "name": "Again"}, format="json")
    assert response.status_code == 200, response.data
    thing.refresh_from_db()
    assert thing.nats_user_id is not None and thing.active and thing.name == "Again"


def test_an_admin_links_and_unlinks_identities_on_update(world, sensor):
    admin = client_of(world.user("admin"))
    thing = make_thing(world.org, "s-01", sensor)
    spare = thing_user(world.org, "spare")
    detail = url("thing-detail", world.org, thing.pk)
    response = admin.patch(detail, {"nats_user": spare.pk}, format="json")
    assert response.status_code == 200 and response.data["nats_user"] == spare.pk
    response = admin.patch(detail, {"nats_user": None}, format="json")
    assert response.status_code == 200 and response.data["nats_user"] is None
    assert NatsUser.objects.filter(pk=spare.pk).exists()  # unlinked, not deleted
    foreign = thing_user(world.other_org, "foreign")
    response = admin.patch(detail, {"nats_user": foreign.pk}, format="json")
    assert response.status_code == 400 and "nats_user" in response.data


def test_modes_apply_on_create_only(world, sensor, owner):
    thing = make_thing(world.org, "s-01", sensor)
    response = owner.patch(url("thing-detail", world.org, thing.pk), {"nats": {"mode": "auto"}}, format="json")
    assert response.status_code == 400 and "nats" in response.data


# --- Actions --------------------------------------------------------------------------------------------------


def test_deactivate_and_reactivate_take_both_identities_along(world, sensor, owner):
    network = make_network(world.org)
    thing = make_thing(world.org, "s-01", sensor, nats_mode="auto", nebula_mode="auto", network=network)
    response = owner.post(url("thing-deactivate", world.org, thing.pk))
    assert response.status_code == 200 and response.data["active"] is False
    thing.refresh_from_db()
    assert not NatsUser.objects.get(pk=thing.nats_user_id).active
    assert not Host.objects.get(pk=thing.nebula_host_id).active
    response = owner.post(url("thing-reactivate", world.org, thing.pk))
    assert response.status_code == 200 and response.data["active"] is True
    assert NatsUser.objects.get(pk=thing.nats_user_id).active and Host.objects.get(pk=thing.nebula_host_id).active
    # PATCH active does the same.
    response = owner.patch(url("thing-detail", world.org, thing.pk), {"active": False}, format="json")
    assert response.status_code == 200 and not NatsUser.objects.get(pk=thing.nats_user_id).active


def test_deleting_a_thing_revokes_both_identities(world, sensor, owner):
    network = make_network(world.org)
    thing = make_thing(world.org, "s-01", sensor, nats_mode="auto", nebula_mode="auto", network=network)
    key = thing.nats_user.public_key
    response = owner.delete(url("thing-detail", world.org, thing.pk))
    assert response.status_code == 204
    assert not NatsUser.objects.filter(public_key=key).exists() and not Host.objects.filter(hostname="s-01").exists()
    assert key in Account.objects.get(organization=world.org, is_system=False).revocations


def test_creds_download_is_audited(world, sensor, owner):
    thing = make_thing(world.org, "s-01", sensor, nats_mode="auto")
    response = owner.get(url("thing-creds", world.org, thing.pk), HTTP_ACCEPT="text/plain")
    assert response.status_code == 200
    body = response.content.decode()
    assert "BEGIN NATS USER JWT" in body and "BEGIN USER NKEY SEED" in body
    assert response["Content-Disposition"].startswith("attachment")
    event = AuditEvent.objects.filter(action="credential_read").latest("pk")
    assert event.object_id == str(thing.nats_user_id) and event.extra["kind"] == "nats.creds"
    assert "SU" not in str(event.extra)


def test_creds_of_a_thing_without_a_user_is_a_404(world, sensor, owner):
    thing = make_thing(world.org, "s-01", sensor)
    response = owner.get(url("thing-creds", world.org, thing.pk))
    assert response.status_code == 404 and "no NATS user" in str(response.data)


# --- Role matrix ----------------------------------------------------------------------------------------------


def _thing(world):
    thing_type = ThingType.objects.get(organization=world.org, code="sensor")
    return make_thing(world.org, f"m-{Thing.objects.count()}", thing_type, nats_mode="auto")


def test_the_role_matrix(world):
    sensor = make_type(world.org)
    thing = make_thing(world.org, "fixed", sensor, nats_mode="auto")
    assert_access(world, "get", lambda w: url("thing-list", w.org), expect(ALL_ROLES, 200))
    assert_access(world, "get", lambda w: url("thing-detail", w.org, thing.pk), expect(ALL_ROLES, 200))
    counter = iter(range(1000))
    assert_access(
        world,
        "post",
        lambda w: url("thing-list", w.org),
        expect(EDITORS, 201),
        data_for=lambda w: {"code": f"new-{next(counter)}", "thing_type": sensor.pk},
    )
    assert_access(
        world,
        "patch",
        lambda w: url("thing-detail", w.org, thing.pk),
        expect(EDITORS, 200),
        data_for=lambda w: {"description": "changed"},
    )
    assert_access(world, "delete", lambda w: url("thing-detail", w.org, _thing(w).pk), expect(MANAGERS, 204))
    for name in ("thing-deactivate", "thing-reactivate"):
        assert_access(world, "post", lambda w, n=name: url(n, w.org, thing.pk), expect(MANAGERS, 200))
    assert_access(world, "get", lambda w: url("thing-creds", w.org, thing.pk), expect(MANAGERS, 200))


def test_another_organizations_thing_is_a_404_for_every_action(world, sensor, owner):
    foreign = make_thing(world.other_org, "theirs", make_type(world.other_org), nats_mode="auto")
    for method, name in [
        ("get", "thing-detail"),
        ("patch", "thing-detail"),
        ("delete", "thing-detail"),
        ("post", "thing-deactivate"),
        ("post", "thing-reactivate"),
        ("get", "thing-creds"),
    ]:
        response = getattr(owner, method)(url(name, world.org, foreign.pk), {}, format="json")
        assert response.status_code == 404, (name, response.status_code)
        assert "theirs" not in response.content.decode()
    foreign.refresh_from_db()
    assert foreign.active and foreign.nats_user_id


def test_a_new_thing_starts_active_with_the_identities_of_its_modes(world, sensor, owner):
    listing = url("thing-list", world.org)
    body = {"code": "s-01", "thing_type": sensor.pk, "active": True, "nats_user": None, "nebula_host": None}
    assert owner.post(listing, body, format="json").status_code == 201
    spare = thing_user(world.org, "spare")
    for extra, field in [({"active": False}, "active"), ({"nats_user": spare.pk}, "nats_user")]:
        response = owner.post(listing, {"code": "s-02", "thing_type": sensor.pk, **extra}, format="json")
        assert response.status_code == 400 and field in response.data
    assert not Thing.objects.filter(code="s-02").exists()
