"""The request context (request id, actor, IP), API request events and authentication events."""

import json

import pytest
from django.test import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

import audit
from audit.context import current
from audit.models import AuditEvent
from tenancy import services
from tenancy.models import Membership

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def latest(**filters) -> AuditEvent:
    return AuditEvent.objects.filter(**filters).latest("id")


# --- Request id and client address -----------------------------------------------------------------------------


def test_every_response_carries_a_request_id(client):
    first, second = client.get("/healthz"), client.get("/healthz")
    assert len(first["X-Request-ID"]) == 32
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_a_sane_incoming_request_id_is_kept_and_anything_else_replaced(world, api):
    api.force_authenticate(world.user("owner"))
    url = reverse("tenancy-api:invitation-list", args=["acme"])
    response = api.post(url, {"email": "a@example.com"}, format="json", HTTP_X_REQUEST_ID="trace-0a1b2c3d")
    assert response["X-Request-ID"] == "trace-0a1b2c3d"
    assert latest(action="create").request_id == "trace-0a1b2c3d"
    for bad in ["short", "x" * 65, "bad id with spaces", "<script>alert(1)</script>"]:
        assert api.get("/healthz", HTTP_X_REQUEST_ID=bad)["X-Request-ID"] != bad


def invite(api, email, **extra):
    return api.post(reverse("tenancy-api:invitation-list", args=["acme"]), {"email": email}, format="json", **extra)


def test_the_client_address_ignores_forwarded_for_unless_the_proxy_is_trusted(world, api):
    api.force_authenticate(world.user("owner"))
    invite(api, "a@example.com", REMOTE_ADDR="198.51.100.4", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert latest(action="create").ip == "198.51.100.4"
    with override_settings(AUDIT_TRUSTED_PROXIES=["10.0.0.0/8"]):
        invite(api, "b@example.com", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.9, 10.0.0.2")
        assert latest(action="create").ip == "203.0.113.9"  # the nearest hop no trusted proxy vouches for
        invite(api, "c@example.com", REMOTE_ADDR="198.51.100.4", HTTP_X_FORWARDED_FOR="203.0.113.9")
        assert latest(action="create").ip == "198.51.100.4"
    invite(api, "d@example.com", REMOTE_ADDR="2001:0db8:0000::0001", HTTP_USER_AGENT="fleet-cli/2.0")
    event = latest(action="create")
    assert (event.ip, event.user_agent) == ("2001:db8::1", "fleet-cli/2.0")


def test_a_dual_stack_clients_address_is_stored_as_ipv4_and_its_events_verify(world, api):
    # A server listening on `::` sees IPv4 clients as IPv4-mapped IPv6 addresses.
    from audit import integrity

    api.force_authenticate(world.user("owner"))
    invite(api, "a@example.com", REMOTE_ADDR="::ffff:198.51.100.7")
    assert latest(action="create").ip == "198.51.100.7"
    with override_settings(AUDIT_TRUSTED_PROXIES=["10.0.0.0/8"]):
        invite(api, "b@example.com", REMOTE_ADDR="::ffff:10.0.0.1", HTTP_X_FORWARDED_FOR="::ffff:203.0.113.9")
        assert latest(action="create").ip == "203.0.113.9"
        # The deprecated IPv4-compatible spelling, which PostgreSQL would hand back as `::203.0.113.10`.
        invite(api, "c@example.com", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="::cb00:710a")
        assert latest(action="create").ip == "203.0.113.10"
        invite(api, "d@example.com", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="::1")
        assert latest(action="create").ip == "::1"
    assert [integrity.verify_chain(chain).broken for chain in integrity.chains()] == [None] * len(
        integrity.chains()
    )


def test_the_context_ends_with_the_request(world, api):
    api.force_authenticate(world.user("owner"))
    invite(api, "a@example.com")
    assert not current().is_open()


# --- API requests --------------------------------------------------------------------------------------------


def test_mutating_api_requests_are_events_and_reads_are_not(world, api):
    api.force_authenticate(world.user("viewer"))
    count = AuditEvent.objects.filter(action="api_request").count()
    api.get(reverse("tenancy-api:membership-list", args=["acme"]))
    assert AuditEvent.objects.filter(action="api_request").count() == count
    response = invite(api, "z@example.com")
    assert response.status_code == 403
    event = latest(action="api_request")
    assert event.extra["method"] == "POST"
    assert event.extra["path"] == "/api/v1/orgs/acme/invitations/"
    assert event.extra["status"] == 403
    assert event.extra["duration_ms"] >= 0
    assert (event.organization_id, event.actor_name) == (world.org.pk, "vic")
    assert event.request_id == response["X-Request-ID"]


@override_settings(AUDIT_API_READS=True)
def test_reads_are_recorded_when_configured(world, api):
    api.force_authenticate(world.user("viewer"))
    response = api.get(reverse("tenancy-api:membership-list", args=["acme"]) + "?search=secret")
    event = latest(action="api_request")
    assert (event.extra["method"], event.extra["status"], event.request_id) == ("GET", 200, response["X-Request-ID"])
    assert event.extra["path"] == "/api/v1/orgs/acme/memberships/"  # never the query string


def test_requests_outside_the_callers_organizations_stay_on_the_platform_chain(world, api):
    api.force_authenticate(world.outsider)
    assert invite(api, "z@example.com").status_code == 404
    event = latest(action="api_request")
    assert (event.organization_id, event.chain, event.actor_name) == (None, "platform", "charlie")


def test_platform_operator_requests_on_an_organization_belong_to_it(world, api):
    api.force_authenticate(world.superuser)
    response = api.patch(reverse("tenancy-api:organization-detail", args=["globex"]), {"description": "x"})
    assert response.status_code == 200
    event = latest(action="api_request")
    assert (event.organization_id, event.actor_name) == (world.other_org.pk, "root")


# --- Authentication -------------------------------------------------------------------------------------------


def test_login_logout_and_failed_login(world, client):
    response = client.post(
        reverse("admin:login"), {"username": "adam", "password": PASSWORD}, REMOTE_ADDR="198.51.100.7"
    )
    assert response.status_code == 302
    login = latest(action="login")
    assert (login.actor_id, login.actor_name, login.ip) == (world.user("admin").pk, "adam", "198.51.100.7")
    assert (login.object_type, login.chain) == ("auth.user", "platform")
    client.post(reverse("admin:logout"))
    assert latest(action="logout").actor_name == "adam"

    client.post(reverse("admin:login"), {"username": "adam", "password": "not-my-password-9"})
    failed = latest(action="login_failed")
    assert (failed.actor_id, failed.actor_name) == (None, "anonymous")
    assert failed.extra == {"username": "adam"}
    assert "not-my-password-9" not in json.dumps(list(AuditEvent.objects.values("before", "after", "extra")))


def test_a_sign_in_refused_to_a_deactivated_account_is_a_failed_login(world, client):
    from tests.support.world import make_user

    nina = make_user("nina", staff=False)
    nina.is_active = False
    nina.save()
    response = client.post(
        reverse("admin:login"), {"username": "nina", "password": PASSWORD}, REMOTE_ADDR="198.51.100.8"
    )
    assert response.status_code == 200  # the form again: not signed in
    failed = latest(action="login_failed")
    assert (failed.extra["username"], failed.ip, failed.actor_name) == ("nina", "198.51.100.8", "anonymous")
    assert not AuditEvent.objects.filter(action="login").exists()


def test_rejected_api_tokens_are_events_without_the_token(world):
    _, secret = services.create_api_token(user=world.user("admin"), organization=world.org, name="ci")
    prefix = secret.split("_")[1]
    forged = secret[:-4] + "AAAA"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert client.get(reverse("tenancy-api:me")).status_code == 401
    rejected = latest(action="token_rejected")
    assert rejected.extra == {"prefix": prefix, "reason": "Invalid API token."}
    assert (rejected.organization_id, rejected.actor_name) == (world.org.pk, "anonymous")  # the token's org sees it
    client.credentials(HTTP_AUTHORIZATION="Bearer sat_nope")
    client.get(reverse("tenancy-api:me"))
    assert (latest(action="token_rejected").extra["reason"], latest(action="token_rejected").chain) == (
        "Malformed API token.",
        "platform",
    )
    dumped = json.dumps(list(AuditEvent.objects.values("before", "after", "extra", "object_repr")))
    assert forged not in dumped and secret not in dumped


# --- Context helpers -------------------------------------------------------------------------------------------


def test_set_actor_names_who_acts_for_the_rest_of_the_context(world):
    with audit.audit_context(request_id="job-00000001"):
        audit.set_actor(world.user("owner"))
        Membership.objects.get(user=world.user("viewer")).delete()
        audit.set_actor(name="system:importer")
        Membership.objects.get(user=world.user("member")).delete()
    first, second = AuditEvent.objects.filter(action="delete").order_by("id")
    assert (first.actor_id, first.actor_name) == (world.user("owner").pk, "olivia")
    assert (second.actor_id, second.actor_name, second.request_id) == (None, "system:importer", "job-00000001")


def test_hostile_request_text_is_stored_without_nul_characters(world, api):
    api.force_authenticate(world.user("owner"))
    assert api.post("/api/v1/orgs/acme/%00/", {}, format="json", HTTP_USER_AGENT="x\x00y").status_code == 404
    event = latest(action="api_request")
    assert (event.extra["path"], event.user_agent) == ("/api/v1/orgs/acme//", "xy")


def test_a_malformed_trusted_proxy_setting_fails_loudly(settings):
    from django.core.exceptions import ImproperlyConfigured

    from audit.middleware import AuditContextMiddleware

    settings.AUDIT_TRUSTED_PROXIES = ["10.0.0.0/33"]
    with pytest.raises(ImproperlyConfigured, match="AUDIT_TRUSTED_PROXIES"):
        AuditContextMiddleware(lambda request: None)
