"""Enrollment with device-held keys: tokens (who issues them, their lifecycle), `POST /api/v1/enroll/` (keys of the
right kind only, a replaced device revokes the previous keys), and the device endpoints (config with ETag, renew)."""

from __future__ import annotations

import base64
import json
import logging
import time
from datetime import timedelta

import nkeys
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audit.models import AuditEvent
from credentials.codecs import natsjwt as nj
from credentials.codecs import nebulacert as nc
from credentials.models import Account, Host, NatsUser, RevokedCertificate
from credentials.services import nats as nats_svc
from credentials.services import nebula as nebula_svc
from inventory.models import DeviceState, EnrollmentToken
from inventory.services import enrollment
from tenancy.roles import AUDIT_READERS, MANAGERS
from tests.inventory.api_support import client_of, make_network, make_thing, make_type, url
from tests.support.authz import assert_access, expect

pytestmark = pytest.mark.django_db


# --- A device: its keys are made here, in the test, as the device would ------------------------------------------


class Device:
    def __init__(self):
        kp = nj.create_user()
        self.seed = kp.seed if isinstance(kp.seed, str) else kp.seed.decode()
        self.nkey = nkeys.from_seed(self.seed.encode())
        self.public_key = self.nkey.public_key.decode()
        private, public = nc.generate_host_keypair()
        self.nebula_private_pem = nc.x25519_private_key_to_pem(private)
        self.nebula_public_pem = (
            "-----BEGIN NEBULA X25519 PUBLIC KEY-----\n"
            + base64.b64encode(public).decode()
            + "\n-----END NEBULA X25519 PUBLIC KEY-----\n"
        )
        self.nebula_public = public

    @property
    def secrets(self) -> list[str]:
        body = self.nebula_private_pem.strip().splitlines()[1]
        return [self.seed, self.nebula_private_pem, body]

    def enroll(self, token: str, **extra):
        body = {
            "token": token,
            "nats_public_key": self.public_key,
            "nebula_public_key": self.nebula_public_pem,
            "nebula_key_path": "/var/lib/device/nebula.key",
            **extra,
        }
        return APIClient().post("/api/v1/enroll/", body, format="json")

    def session(self) -> APIClient:
        client = APIClient()
        nonce = client.post("/api/v1/devices/challenge/", {"public_key": self.public_key}, format="json").json()
        signature = base64.urlsafe_b64encode(self.nkey.sign(nonce["nonce"].encode())).decode().rstrip("=")
        opened = client.post(
            "/api/v1/devices/session/",
            {"public_key": self.public_key, "nonce": nonce["nonce"], "signature": signature},
            format="json",
        )
        assert opened.status_code == 201, opened.content
        client.credentials(HTTP_AUTHORIZATION=f"Device {opened.json()['token']}")
        return client


@pytest.fixture
def sensor(world):
    return make_type(world.org)


@pytest.fixture
def network(world):
    return make_network(world.org)


@pytest.fixture
def thing(world, sensor, network):
    """A thing provisioned with keys generated here (auto), as before enrollment existed."""
    return make_thing(world.org, "s-01", sensor, nats_mode="auto", nebula_mode="auto", network=network)


def issue(thing, **options) -> str:
    return enrollment.issue_token(thing, **options)[1]


def account_of(org) -> Account:
    return Account.objects.get(organization=org, is_system=False)


# --- Tokens: who issues them, what is stored ---------------------------------------------------------------------


def test_an_owner_issues_a_token_shown_once_and_stored_hashed(world, thing):
    response = client_of(world.user("owner")).post(url("enrollmenttoken-list", world.org, thing.pk), {}, format="json")
    assert response.status_code == 201, response.data
    token = response.data["token"]
    assert token.startswith("sae_") and response.data["status"] == "open"
    row = EnrollmentToken.objects.get(pk=response.data["id"])
    assert row.thing == thing and row.created_by == world.user("owner") and token not in row.secret_hash
    assert abs((row.expires_at - timezone.now()) - timedelta(hours=24)) < timedelta(minutes=1)
    listed = client_of(world.user("admin")).get(url("enrollmenttoken-list", world.org, thing.pk))
    assert listed.status_code == 200 and token not in json.dumps(listed.data)
    assert "token" not in listed.data["results"][0] and "secret_hash" not in listed.data["results"][0]
    events = AuditEvent.objects.filter(object_type="inventory.enrollmenttoken")
    assert events.exists() and all(token not in json.dumps([e.before, e.after]) for e in events)
    assert all("secret_hash" not in (e.after or {}) for e in events)


def test_the_role_matrix(world, thing):
    tokens = lambda w: url("enrollmenttoken-list", w.org, thing.pk)  # noqa: E731
    assert_access(world, "post", tokens, expect(MANAGERS, 201))
    assert_access(world, "get", tokens, expect(AUDIT_READERS, 200))

    def one(w):
        return url("enrollmenttoken-revoke", w.org, thing.pk, enrollment.issue_token(thing)[0].pk)

    assert_access(world, "post", one, expect(MANAGERS, 200))
    delete = lambda w: url("enrollmenttoken-detail", w.org, thing.pk, enrollment.issue_token(thing)[0].pk)  # noqa: E731
    assert_access(world, "delete", delete, expect(MANAGERS, 204))


def test_another_organizations_thing_and_tokens_are_404(world, thing):
    foreign = make_thing(world.other_org, "theirs", make_type(world.other_org), nats_mode="auto")
    foreign_token, _ = enrollment.issue_token(foreign)
    owner = client_of(world.user("owner"))
    assert owner.post(url("enrollmenttoken-list", world.org, foreign.pk), {}, format="json").status_code == 404
    assert owner.get(url("enrollmenttoken-list", world.org, foreign.pk)).status_code == 404
    # Their token under our thing's URL is not found either, and stays open.
    mine = url("enrollmenttoken-revoke", world.org, thing.pk, foreign_token.pk)
    assert owner.post(mine, format="json").status_code == 404
    assert owner.get(url("enrollmenttoken-list", world.other_org, foreign.pk)).status_code == 404
    foreign_token.refresh_from_db()
    assert foreign_token.status == "open"


def test_a_deactivated_thing_gets_no_token(world, thing):
    from inventory.services import things

    things.deactivate_thing(thing)
    response = client_of(world.user("owner")).post(url("enrollmenttoken-list", world.org, thing.pk), {}, format="json")
    assert response.status_code == 400 and "deactivated" in str(response.data)


# --- Enrollment --------------------------------------------------------------------------------------------------


def test_a_device_enrolls_with_its_own_keys(world, thing, caplog):
    caplog.set_level(logging.DEBUG)
    old_user_key, old_fingerprint = thing.nats_user.public_key, thing.nebula_host.fingerprint
    device = Device()
    response = device.enroll(issue(thing))
    assert response.status_code == 201, response.content
    bundle = response.json()
    user = NatsUser.objects.get(pk=thing.nats_user_id)
    host = Host.objects.get(pk=thing.nebula_host_id)

    # NATS: the JWT is for the device's key, issued by the type's scoped key; no seed is kept here.
    claims = nj.decode(bundle["nats"]["jwt"])
    assert claims["sub"] == device.public_key == user.public_key
    assert claims["iss"] == thing.thing_type.signing_key.public_key
    assert user.seed == "" and bundle["nats"]["urls"]
    assert bundle["nats"]["notify_subject"] == "_SA.config.s-01"
    assert bundle["nats"]["subjects"] == [
        {"operation": "temp", "capability": "publish", "subject": "acme._.sensor.s-01.telemetry.temp"}
    ]
    # The key generated here before is revoked on the account, and its certificate blocklisted.
    assert old_user_key in account_of(world.org).revocations
    assert RevokedCertificate.objects.filter(fingerprint=old_fingerprint).exists()

    # Nebula: a certificate for the device's key, a config that points at the device's key file.
    cert = nc.load_certificate(bundle["nebula"]["certificate"])
    assert cert.public_key == device.nebula_public and host.key_source == Host.KeySource.DEVICE
    assert host.private_key == ""
    assert "/var/lib/device/nebula.key" in bundle["nebula"]["config"]
    assert old_fingerprint in bundle["nebula"]["blocklist"]
    assert "BEGIN NEBULA CERTIFICATE" in bundle["nebula"]["ca"]

    # `.creds` cannot be downloaded for a key the device holds.
    creds = client_of(world.user("owner")).get(url("thing-creds", world.org, thing.pk))
    assert creds.status_code == 400 and "device" in str(creds.data)

    # No private key of the device anywhere: response, logs, audit.
    text = response.content.decode() + caplog.text
    text += json.dumps(list(AuditEvent.objects.values_list("before", "after", "extra")))
    assert not any(secret in text for secret in device.secrets)
    assert DeviceState.objects.get(nats_user=user).enrolled_at is not None


def test_a_thing_without_identities_gets_them_at_enrollment(world, sensor, network):
    bare = make_thing(world.org, "bare", sensor)
    token, secret = enrollment.issue_token(bare, network=network)
    device = Device()
    response = device.enroll(secret)
    assert response.status_code == 201, response.content
    bare.refresh_from_db()
    assert bare.nats_user.public_key == device.public_key and bare.nats_user.seed == ""
    assert bare.nebula_host.key_source == Host.KeySource.DEVICE and bare.nebula_host.hostname == "bare"


def test_a_thing_without_a_host_needs_no_nebula_key(world, sensor):
    plain = make_thing(world.org, "plain", sensor)
    device = Device()
    response = APIClient().post(
        "/api/v1/enroll/", {"token": issue(plain), "nats_public_key": device.public_key}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["nebula"] is None


def test_a_thing_with_a_host_requires_the_nebula_key(world, thing):
    device = Device()
    response = APIClient().post(
        "/api/v1/enroll/", {"token": issue(thing), "nats_public_key": device.public_key}, format="json"
    )
    assert response.status_code == 400 and "nebula_public_key" in response.json()
    assert EnrollmentToken.objects.get().used_at is None  # a refusal leaves the token usable


def test_a_replayed_token_is_refused(world, thing):
    token = issue(thing)
    assert Device().enroll(token).status_code == 201
    response = Device().enroll(token)
    assert response.status_code == 403 and "used already" in response.json()["token"][0]


def test_an_expired_token_is_refused(world, thing):
    row, token = enrollment.issue_token(thing)
    EnrollmentToken.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = Device().enroll(token)
    assert response.status_code == 403 and "expired" in response.json()["token"][0]


def test_a_revoked_token_is_refused(world, thing):
    row, token = enrollment.issue_token(thing)
    revoked = client_of(world.user("admin")).delete(url("enrollmenttoken-detail", world.org, thing.pk, row.pk))
    assert revoked.status_code == 204
    response = Device().enroll(token)
    assert response.status_code == 403 and "revoked" in response.json()["token"][0]


@pytest.mark.parametrize(
    ("value", "status", "message"),
    [
        (None, 400, "Enter the enrollment token"),
        ("", 400, "Enter the enrollment token"),
        ("not a token", 400, "not an enrollment token"),
        ("sae_0123456789ab_" + "x" * 43, 403, "unknown"),
        (["list"], 400, "Enter the enrollment token"),
    ],
)
def test_a_malformed_or_unknown_token_is_refused(world, thing, value, status, message):
    response = Device().enroll(value)
    assert response.status_code == status and message in response.json()["token"][0]


def test_a_right_prefix_with_a_wrong_secret_is_refused(world, thing):
    token = issue(thing)
    prefix = token.rsplit("_", 1)[0]
    response = Device().enroll(prefix + "_" + "y" * 43)
    assert response.status_code == 403 and "unknown" in response.json()["token"][0]


def _seed_of(kind: str) -> str:
    kp = {"U": nj.create_user, "A": nj.create_account}[kind]()
    return kp.seed if isinstance(kp.seed, str) else kp.seed.decode()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("seed", "seed, a private key"),
        ("account", "another kind (A…)"),
        ("garbage", "not a NATS user public key"),
        (None, "Enter the device's NATS user public key"),
    ],
)
def test_a_nats_key_of_the_wrong_kind_is_refused_without_being_echoed(world, thing, value, message):
    text = {
        "seed": _seed_of("U"),
        "account": nj.create_account().public_key,
        "garbage": "U" + "X" * 20,
        None: None,
    }[value]
    token = issue(thing)
    response = Device().enroll(token, nats_public_key=text)
    assert response.status_code == 400 and message in response.json()["nats_public_key"][0]
    if value == "seed":
        assert text not in response.content.decode()
    assert EnrollmentToken.objects.get().used_at is None


@pytest.mark.parametrize(
    ("kind", "message"),
    [("private", "private key"), ("garbage", "not an X25519 public key"), ("empty", "X25519 public key")],
)
def test_a_nebula_key_of_the_wrong_kind_is_refused(world, thing, kind, message):
    device = Device()
    text = {"private": device.nebula_private_pem, "garbage": "bm90IGEga2V5", "empty": ""}[kind]
    response = device.enroll(issue(thing), nebula_public_key=text)
    assert response.status_code == 400 and message in response.json()["nebula_public_key"][0]
    assert device.nebula_private_pem not in response.content.decode()


def test_a_key_already_used_is_refused(world, thing, sensor):
    first = Device()
    assert first.enroll(issue(thing)).status_code == 201
    other = make_thing(world.org, "s-02", sensor, nats_mode="auto")
    response = first.enroll(issue(other))
    assert response.status_code == 409 and "already used" in response.json()["nats_public_key"][0]


def test_a_replaced_device_revokes_the_previous_keys_in_the_same_transaction(world, thing):
    first, second = Device(), Device()
    assert first.enroll(issue(thing)).status_code == 201
    host = Host.objects.get(pk=thing.nebula_host_id)
    first_fingerprint = host.fingerprint
    revision = account_of(world.org).revision
    response = second.enroll(issue(thing))
    assert response.status_code == 201
    account = account_of(world.org)
    assert first.public_key in account.revocations and account.revision == revision + 1
    assert first_fingerprint in response.json()["nebula"]["blocklist"]
    assert NatsUser.objects.get(pk=thing.nats_user_id).public_key == second.public_key
    # The first device can no longer open a session.
    nonce = APIClient().post("/api/v1/devices/challenge/", {"public_key": first.public_key}, format="json").json()
    signature = base64.urlsafe_b64encode(first.nkey.sign(nonce["nonce"].encode())).decode().rstrip("=")
    refused = APIClient().post(
        "/api/v1/devices/session/",
        {"public_key": first.public_key, "nonce": nonce["nonce"], "signature": signature},
        format="json",
    )
    assert refused.status_code == 401


def test_enrolling_revokes_the_thing_s_other_open_tokens(world, thing):
    other, _ = enrollment.issue_token(thing)
    assert Device().enroll(issue(thing)).status_code == 201
    other.refresh_from_db()
    assert other.status == "revoked"


def test_a_failure_after_the_nats_key_changed_rolls_everything_back(world, thing, network):
    """A Nebula key another host holds is refused after the NATS side was done: nothing of it stays."""
    holder = nebula_svc.create_host(network=network, hostname="other", public_key=Device().nebula_public_pem)
    device = Device()
    before = NatsUser.objects.get(pk=thing.nats_user_id).public_key
    response = device.enroll(issue(thing), nebula_public_key=holder.public_key)
    assert response.status_code == 409, response.content
    assert NatsUser.objects.get(pk=thing.nats_user_id).public_key == before
    assert before not in (account_of(world.org).revocations or {})
    assert EnrollmentToken.objects.get().used_at is None


# --- The device endpoints ----------------------------------------------------------------------------------------


@pytest.fixture
def enrolled(world, thing):
    device = Device()
    assert device.enroll(issue(thing)).status_code == 201
    return device


def test_the_config_has_a_version_and_answers_304_when_unchanged(world, thing, enrolled):
    client = enrolled.session()
    first = client.get("/api/v1/devices/config/")
    assert first.status_code == 200
    version = first.json()["version"]
    assert first["ETag"] == f'"{version}"'
    state = DeviceState.objects.get(nats_user_id=thing.nats_user_id)
    assert state.fetched_version == version and state.last_fetch_at is not None
    again = client.get("/api/v1/devices/config/", HTTP_IF_NONE_MATCH=f'"{version}"')
    assert again.status_code == 304 and not again.content

    # A re-issued certificate is a new version.
    nebula_svc.update_host(Host.objects.get(pk=thing.nebula_host_id), validity_days=30)
    changed = client.get("/api/v1/devices/config/", HTTP_IF_NONE_MATCH=f'"{version}"')
    assert changed.status_code == 200 and changed.json()["version"] != version
    assert not any(secret in changed.content.decode() for secret in enrolled.secrets)


def test_a_blocklisted_peer_appears_in_the_config(world, thing, network, enrolled):
    peer = nebula_svc.create_host(network=network, hostname="peer")
    client = enrolled.session()
    nebula_svc.deactivate_host(peer)
    bundle = client.get("/api/v1/devices/config/").json()
    assert peer.fingerprint in bundle["nebula"]["blocklist"] and peer.fingerprint in bundle["nebula"]["config"]


def test_renew_reissues_the_jwt_for_the_same_key(world, thing, enrolled):
    client = enrolled.session()
    before = client.get("/api/v1/devices/config/").json()
    time.sleep(1.1)  # certificates are signed to the second: the renewed one must differ
    response = client.post("/api/v1/devices/renew/", {"nebula": True}, format="json")
    assert response.status_code == 200, response.content
    after = response.json()
    assert nj.decode(after["nats"]["jwt"])["sub"] == enrolled.public_key
    assert after["nats"]["jwt"] != before["nats"]["jwt"]
    assert after["nebula"]["fingerprint"] != before["nebula"]["fingerprint"]
    assert nc.load_certificate(after["nebula"]["certificate"]).public_key == enrolled.nebula_public
    assert client.post("/api/v1/devices/renew/", {"nebula": "yes"}, format="json").status_code == 400


def test_device_endpoints_refuse_people_and_anonymous(world, thing, enrolled):
    for client in (APIClient(), client_of(world.user("owner"))):
        assert client.get("/api/v1/devices/config/").status_code in (401, 403)
        assert client.post("/api/v1/devices/renew/", {}, format="json").status_code in (401, 403)


def test_the_lag_shows_what_the_device_is_behind_on(world, thing, enrolled):
    thing.refresh_from_db()
    lag = enrollment.lag(thing)
    assert "never fetched its config" in lag.behind
    enrolled.session().get("/api/v1/devices/config/")
    thing.refresh_from_db()
    assert enrollment.lag(thing).behind == []
    nebula_svc.update_host(Host.objects.get(pk=thing.nebula_host_id), validity_days=30)
    thing.refresh_from_db()
    assert enrollment.lag(thing).behind == ["config version stale"]
    Host.objects.filter(pk=thing.nebula_host_id).update(not_after=timezone.now() + timedelta(days=2))
    thing.refresh_from_db()
    assert any("certificate expires" in item for item in enrollment.lag(thing).behind)


def test_the_service_user_may_publish_config_notifications(world):
    service = NatsUser.objects.get(organization=world.org, name=nats_svc.PLATFORM_SERVICE_USER)
    assert nats_svc.DEVICE_NOTIFY_SUBJECTS in service.publish_allow


@pytest.mark.django_db(transaction=True)
def test_config_changes_queue_one_notification_per_transaction_after_commit(
    world, thing, enrolled, network, monkeypatch
):
    from django.db import transaction

    from inventory.devices import notify

    sent = []
    monkeypatch.setattr(notify, "queue", lambda org, codes: sent.append((org, codes)))
    with transaction.atomic():
        nebula_svc.update_host(Host.objects.get(pk=thing.nebula_host_id), validity_days=30)
        nebula_svc.deactivate_host(nebula_svc.create_host(network=network, hostname="peer"))
        assert sent == []  # not before the commit
    assert sent == [(world.org.pk, ["s-01"])]

    sent.clear()
    with pytest.raises(RuntimeError), transaction.atomic():
        nebula_svc.update_host(Host.objects.get(pk=thing.nebula_host_id), validity_days=31)
        raise RuntimeError("rolled back")
    nebula_svc.update_host(
        Host.objects.get(pk=thing.nebula_host_id), firewall_inbound=[{"port": "any", "proto": "icmp", "host": "any"}]
    )
    assert sent == [(world.org.pk, ["s-01"])]  # the rolled-back change told nobody; the firewall edit did


def test_a_deactivated_enrolled_thing_comes_back_through_a_new_enrollment(world, thing, enrolled):
    from inventory.services import things

    things.deactivate_thing(thing)
    things.reactivate_thing(thing)
    thing.refresh_from_db()
    assert thing.active and not thing.nats_user.active and not thing.nebula_host.active
    device = Device()
    assert device.enroll(issue(thing)).status_code == 201
    thing.refresh_from_db()
    assert thing.nats_user.active and thing.nats_user.public_key == device.public_key
    assert thing.nebula_host.active
