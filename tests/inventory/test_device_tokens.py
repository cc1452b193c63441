"""HTTP tokens of things (bearer tokens for devices that cannot sign): who issues them, what is stored and audited,
the gateway's checks that need no NATS (authentication, contract, schema, size, rate), and tenancy."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEvent
from credentials.models import NatsUser
from credentials.secrets import reveal
from inventory.devices import gateway
from inventory.devices.gateway_auth import issue_token, sign_request
from inventory.models import DeviceToken
from tenancy.roles import AUDIT_READERS, MANAGERS
from tests.inventory.api_support import client_of, make_thing, make_type, url
from tests.support.authz import assert_access, expect

PUBLISH = "/api/v1/devices/publish/"


@pytest.fixture
def thing(world):
    return make_thing(world.org, "s-01", make_type(world.org), nats_mode="auto")


def test_an_owner_issues_a_token_shown_once_stored_hashed_and_audited(world, thing):
    response = client_of(world.user("owner")).post(
        url("devicetoken-list", world.org, thing.pk), {"name": "x"}, format="json"
    )
    assert response.status_code == 201, response.data
    token = response.data["token"]
    assert token.startswith("sah_") and response.data["status"] == "active"
    row = DeviceToken.objects.get(pk=response.data["id"])
    assert row.thing == thing and row.created_by == world.user("owner") and token not in row.secret_hash
    listed = client_of(world.user("auditor")).get(url("devicetoken-list", world.org, thing.pk))
    assert listed.status_code == 200 and token not in json.dumps(listed.data)
    assert "token" not in listed.data["results"][0] and "secret_hash" not in listed.data["results"][0]
    events = AuditEvent.objects.filter(object_type="inventory.devicetoken")
    assert events.exists() and all(token not in json.dumps([e.before, e.after]) for e in events)
    assert all("secret_hash" not in (e.after or {}) for e in events)


def test_the_role_matrix(world, thing):
    tokens = lambda w: url("devicetoken-list", w.org, thing.pk)  # noqa: E731
    assert_access(world, "post", tokens, expect(MANAGERS, 201))
    assert_access(world, "get", tokens, expect(AUDIT_READERS, 200))
    revoke = lambda w: url("devicetoken-revoke", w.org, thing.pk, issue_token(thing)[0].pk)  # noqa: E731
    assert_access(world, "post", revoke, expect(MANAGERS, 200))
    delete = lambda w: url("devicetoken-detail", w.org, thing.pk, issue_token(thing)[0].pk)  # noqa: E731
    assert_access(world, "delete", delete, expect(MANAGERS, 204))


def test_another_organizations_thing_and_tokens_are_404(world, thing):
    foreign = make_thing(world.other_org, "theirs", make_type(world.other_org), nats_mode="auto")
    foreign_token, _ = issue_token(foreign)
    owner = client_of(world.user("owner"))
    assert owner.post(url("devicetoken-list", world.org, foreign.pk), {}, format="json").status_code == 404
    assert owner.get(url("devicetoken-list", world.other_org, foreign.pk)).status_code == 404
    assert owner.post(url("devicetoken-revoke", world.org, thing.pk, foreign_token.pk)).status_code == 404
    foreign_token.refresh_from_db()
    assert foreign_token.status == "active"


def test_a_token_works_only_for_its_thing_while_it_is_active(world, thing, settings):
    _, secret = issue_token(thing)
    device = APIClient()
    device.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    # Out of contract: refused before NATS is needed, naming the subject.
    response = device.post(PUBLISH, {"subject": "elsewhere.x", "payload": 1}, format="json")
    assert response.status_code == 403 and "elsewhere.x" in response.json()["detail"]
    from inventory.services import things as thing_svc

    thing_svc.deactivate_thing(thing)
    assert device.post(PUBLISH, {"subject": "elsewhere.x", "payload": 1}, format="json").status_code == 401


def test_a_user_session_or_api_token_is_no_device(world, thing):
    person = client_of(world.user("owner"))
    assert person.post(PUBLISH, {"subject": "a.b", "payload": 1}, format="json").status_code in (401, 403)


def test_signatures_cover_method_path_query_and_body(world, thing):
    seed = reveal(NatsUser.objects.get(pk=thing.nats_user_id), "seed")
    body = json.dumps({"subject": "elsewhere.x", "payload": 1}).encode()
    client = APIClient()
    header = sign_request(seed, "POST", PUBLISH + "?a=1", body)
    for path in (PUBLISH, PUBLISH + "?a=2"):
        assert (
            client.generic("POST", path, body, content_type="application/json", HTTP_AUTHORIZATION=header).status_code
            == 401
        )
    ok = client.generic("POST", PUBLISH + "?a=1", body, content_type="application/json", HTTP_AUTHORIZATION=header)
    assert ok.status_code == 403  # authenticated; the subject is not in its contract
    garbled = "NKey " + NatsUser.objects.get(pk=thing.nats_user_id).public_key + ";ts=abc;sig=x"
    assert (
        client.generic("POST", PUBLISH, body, content_type="application/json", HTTP_AUTHORIZATION=garbled).status_code
        == 401
    )


def test_contract_expansion_follows_nats_server(world, thing):
    contract = gateway.contract_of(thing)
    assert contract.pub_allow and all("{{" not in s for s in contract.pub_allow)
    assert any(s.endswith(".s-01.temp") or ".s-01." in s for s in contract.pub_allow)
    assert "$KV.twin.thing.s-01.>" in contract.pub_allow
    assert gateway.matches("a.*.c", "a.b.c") and not gateway.matches("a.*", "a.b.c")
    assert gateway.matches("a.>", "a.b.c") and not gateway.matches("a.>", "a")
    assert gateway.expand("x.{{tag(thing)}}.{{tag(location)}}", ["thing:t", "location:l"]) == ["x.t.l"]
    assert gateway.expand("x.{{tag(missing)}}", ["thing:t"]) == []


# --- Admin --------------------------------------------------------------------------------------------------------


def test_an_owner_issues_an_http_token_from_the_thing_admin_and_an_admin_revokes_it(world, thing):
    from tests.inventory.admin_support import admin_url
    from tests.inventory.test_admin import run_action
    from tests.inventory.test_enrollment_admin import signed_in

    run_action(signed_in(world.user("viewer")), "issue_http_token", thing)
    assert not DeviceToken.objects.exists()
    response = run_action(signed_in(world.user("owner")), "issue_http_token", thing, follow=False)
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    secret = response.context["secret"]
    assert secret.startswith("sah_") and secret in response.content.decode()
    row = DeviceToken.objects.get()
    listing = signed_in(world.user("admin")).get(admin_url("devicetoken"))
    assert row.prefix in listing.content.decode() and secret not in listing.content.decode()
    run_action(signed_in(world.user("admin")), "revoke", row, model="devicetoken")
    row.refresh_from_db()
    assert row.status == "revoked"
    device = APIClient()
    device.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert device.post(PUBLISH, {"subject": "a.b", "payload": 1}, format="json").status_code == 401
