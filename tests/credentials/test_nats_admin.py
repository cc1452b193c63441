import pytest
from django.urls import reverse

from audit.models import AuditEvent
from credentials import push
from credentials.codecs import natsjwt as nj
from credentials.models import Account, AccountExport, AccountImport, AccountSigningKey, NatsRole, NatsUser
from credentials.services import nats as svc
from tenancy.models import Membership
from tests.credentials.nats_support import (
    account_of,
    assert_no_secrets,
    claims,
    link_user,
    make_nats_user,
    make_role,
    membership_of,
    parse_creds,
    reload,
)

pytestmark = pytest.mark.django_db


def admin_url(model: str, view: str, *args) -> str:
    return reverse(f"admin:credentials_{model}_{view}", args=args)


def run_action(client, model: str, action: str, *objs, follow=False):
    data = {"action": action, "_selected_action": [o.pk for o in objs]}
    return client.post(admin_url(model, "changelist"), data, follow=follow)


def page_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def role_form(org, **overrides):
    data = {
        "organization": org.pk,
        "name": "sensors",
        "description": "",
        "publish_allow": "telemetry.>\nevents.>",
        "publish_deny": "",
        "subscribe_allow": "commands.>",
        "subscribe_deny": "",
        "response_max": "1",
        "response_ttl": "0",
        "max_subscriptions": "-1",
        "max_data": "-1",
        "max_payload": "-1",
    }
    return {**data, **overrides}


def user_form(org, **overrides):
    data = {
        "organization": org.pk,
        "name": "pump-1",
        "description": "",
        "owner_kind": "thing",
        "membership": "",
        "role": "",
        "publish_allow": "",
        "publish_deny": "",
        "subscribe_allow": "",
        "subscribe_deny": "",
        "expires_at_0": "",
        "expires_at_1": "",
    }
    return {**data, **overrides}


# --- accounts ------------------------------------------------------------------------------------------------


def test_accounts_are_scoped(world, client):
    client.force_login(world.user("viewer"))
    page = client.get(admin_url("account", "changelist"))
    assert page.status_code == 200
    content = page.content.decode()
    assert "acme" in content and "globex" not in content and ">SYS<" not in content
    foreign = admin_url("account", "change", account_of(world.other_org).pk)
    assert client.get(foreign).status_code == 302  # a missing object redirects to the index
    assert client.get(admin_url("account", "change", svc.system_account().pk)).status_code == 302
    client.force_login(world.superuser)
    content = client.get(admin_url("account", "changelist")).content.decode()
    assert "acme" in content and "globex" in content and "SYS" in content


def test_account_pages_show_push_state_and_no_secrets(world, client):
    account = account_of(world.org)
    for who in [world.user("viewer"), world.superuser]:
        client.force_login(who)
        listing = client.get(admin_url("account", "changelist")).content.decode()
        assert "pending (0 → " in listing
        assert_no_secrets(listing)
        detail = client.get(admin_url("account", "change", account.pk)).content.decode()
        assert account.public_key in detail
        assert account.signing_keys.get().public_key in detail
        assert_no_secrets(detail)


def test_push_state_column_reflects_outcomes(world, client):
    account = account_of(world.org)
    Account.objects.filter(pk=account.pk).update(push_error="cannot reach NATS at nats://x: refused")
    Account.objects.filter(organization=world.other_org).update(pushed_revision=10**6)
    client.force_login(world.superuser)
    content = client.get(admin_url("account", "changelist")).content.decode()
    assert "✖ failing" in content and "✔ in sync" in content and "cannot reach NATS" in content
    failing = client.get(admin_url("account", "changelist"), {"push": "failing"}).content.decode()
    assert "acme" in failing and "globex" not in failing


def test_tenant_cannot_change_account_limits(world, client):
    account = account_of(world.org)
    client.force_login(world.user("owner"))
    page = client.get(admin_url("account", "change", account.pk))
    assert page.status_code == 200
    assert b'name="max_connections"' not in page.content  # read-only view
    response = client.post(admin_url("account", "change", account.pk), {"max_connections": "1", "active": "on"})
    assert response.status_code == 403
    assert reload(account).max_connections == account.max_connections
    assert client.get(admin_url("account", "add")).status_code == 403


def account_form(account, **overrides):
    data = {f: getattr(account, f) for f in Account.LIMIT_FIELDS}
    data.update({"active": "on" if account.active else "", **overrides})
    data.update({"signing_keys-TOTAL_FORMS": "1", "signing_keys-INITIAL_FORMS": "1"})
    data.update({"signing_keys-MIN_NUM_FORMS": "0", "signing_keys-MAX_NUM_FORMS": "1000"})
    data["signing_keys-0-id"] = account.signing_keys.get().pk
    data["signing_keys-0-account"] = account.pk
    return data


def test_superuser_changes_limits_through_the_service(world, client):
    account = account_of(world.org)
    revision = account.revision
    client.force_login(world.superuser)
    response = client.post(admin_url("account", "change", account.pk), account_form(account, max_connections=42))
    assert response.status_code == 302, page_messages(response) or response.content[:3000]
    account = reload(account)
    assert account.max_connections == 42
    assert account.revision == revision + 1
    assert claims(account.jwt)["nats"]["limits"]["conn"] == 42


def test_invalid_limit_is_a_form_error(world, client):
    account = account_of(world.org)
    client.force_login(world.superuser)
    response = client.post(admin_url("account", "change", account.pk), account_form(account, max_payload=-7))
    assert response.status_code == 200
    assert "Use -1 for unlimited" in response.content.decode()
    assert reload(account).max_payload != -7


def test_system_account_is_read_only_even_for_superusers(world, client):
    sys_account = svc.system_account()
    client.force_login(world.superuser)
    page = client.get(admin_url("account", "change", sys_account.pk))
    assert page.status_code == 200
    assert b'name="active"' not in page.content


def test_accounts_cannot_be_deleted_in_the_admin(world, client):
    client.force_login(world.superuser)
    account = account_of(world.org)
    assert client.get(admin_url("account", "delete", account.pk)).status_code == 403


def test_push_now_reports_each_outcome(world, client, monkeypatch):
    calls = []

    def fake_push(accounts, tombstones=()):
        calls.append(sorted(a.name for a in accounts))
        return push.PushReport(pushed=["acme"], failed={"globex": "timeout"})

    monkeypatch.setattr(push, "push", fake_push)
    client.force_login(world.superuser)
    accounts = Account.objects.filter(organization__in=[world.org, world.other_org])
    response = run_action(client, "account", "push_now", *accounts, follow=True)
    assert calls == [["acme", "globex"]]
    assert page_messages(response) == ["Pushed: acme.", "globex: timeout"]


def test_push_now_is_for_platform_operators(world, client, monkeypatch):
    monkeypatch.setattr(push, "push", lambda *a, **k: pytest.fail("tenants cannot push"))
    client.force_login(world.user("owner"))
    page = client.get(admin_url("account", "changelist"))
    assert b'value="push_now"' not in page.content
    run_action(client, "account", "push_now", account_of(world.org))


def test_manager_adds_and_rotates_signing_keys(world, client):
    account = account_of(world.org)
    user = make_nats_user(world.org)
    client.force_login(world.user("admin"))
    page = client.get(admin_url("account", "changelist"))
    assert b'value="add_signing_key"' in page.content and b'value="rotate_signing_keys"' in page.content
    run_action(client, "account", "add_signing_key", account)
    assert account.signing_keys.count() == 2
    response = run_action(client, "account", "rotate_signing_keys", account, follow=True)
    (key,) = account.signing_keys.all()
    assert claims(reload(user).jwt)["iss"] == key.public_key
    assert any("2 user(s) reissued" in m for m in page_messages(response))


def test_key_actions_skip_organizations_the_user_does_not_manage(world, client):
    Membership.objects.create(user=world.user("admin"), organization=world.other_org, role="auditor")
    foreign = account_of(world.other_org)
    client.force_login(world.user("admin"))
    run_action(client, "account", "add_signing_key", foreign, account_of(world.org))
    assert foreign.signing_keys.count() == 1
    assert account_of(world.org).signing_keys.count() == 2


def test_viewer_has_no_key_actions(world, client):
    account = account_of(world.org)
    client.force_login(world.user("viewer"))
    page = client.get(admin_url("account", "changelist"))
    assert b"add_signing_key" not in page.content
    run_action(client, "account", "add_signing_key", account)
    assert account.signing_keys.count() == 1


def test_remove_signing_key_with_confirmation(world, client):
    account = account_of(world.org)
    old = account.signing_keys.get()
    svc.add_signing_key(account)
    user = make_nats_user(world.org)
    old_user = make_nats_user(world.org)
    NatsUser.objects.filter(pk=old_user.pk).update(signing_key=old)
    url = reverse("admin:credentials_account_remove_signing_key", args=[account.pk, old.pk])
    client.force_login(world.user("viewer"))
    assert client.get(url).status_code == 403
    client.force_login(world.user("admin"))
    change = client.get(admin_url("account", "change", account.pk)).content.decode()
    assert url in change
    confirm = client.get(url)
    assert confirm.status_code == 200 and old.public_key in confirm.content.decode()
    response = client.post(url, follow=True)
    assert not AccountSigningKey.objects.filter(pk=old.pk).exists()
    assert "reissued" in page_messages(response)[0]
    assert claims(reload(old_user).jwt)["iss"] != old.public_key
    assert claims(reload(user).jwt)["iss"] == account.signing_keys.get().public_key


def test_last_signing_key_cannot_be_removed(world, client):
    account = account_of(world.org)
    key = account.signing_keys.get()
    url = reverse("admin:credentials_account_remove_signing_key", args=[account.pk, key.pk])
    client.force_login(world.user("owner"))
    assert url not in client.get(admin_url("account", "change", account.pk)).content.decode()
    response = client.post(url, follow=True)
    assert "at least one signing key" in page_messages(response)[0]
    assert AccountSigningKey.objects.filter(pk=key.pk).exists()


def test_foreign_signing_key_removal_is_not_found(world, client):
    foreign = account_of(world.other_org)
    svc.add_signing_key(foreign)
    key = foreign.signing_keys.first()
    client.force_login(world.user("owner"))
    url = reverse("admin:credentials_account_remove_signing_key", args=[foreign.pk, key.pk])
    assert client.post(url).status_code == 404
    mixed = reverse("admin:credentials_account_remove_signing_key", args=[account_of(world.org).pk, key.pk])
    assert client.post(mixed).status_code == 404
    assert foreign.signing_keys.count() == 2


# --- roles ---------------------------------------------------------------------------------------------------


def test_manager_creates_a_role_with_one_subject_per_line(world, client):
    client.force_login(world.user("admin"))
    response = client.post(admin_url("natsrole", "add"), role_form(world.org))
    assert response.status_code == 302, response.content[:3000]
    role = NatsRole.objects.get(organization=world.org, name="sensors")
    assert role.publish_allow == ["telemetry.>", "events.>"]
    assert role.subscribe_allow == ["commands.>"]
    page = client.get(admin_url("natsrole", "change", role.pk)).content.decode()
    assert "telemetry.&gt;\nevents.&gt;" in page


def test_bad_subjects_are_form_errors_naming_the_subject(world, client):
    client.force_login(world.user("admin"))
    form = role_form(world.org, publish_allow="ok.one\na..b", subscribe_deny="x.>.y")
    response = client.post(admin_url("natsrole", "add"), form)
    assert response.status_code == 200
    content = response.content.decode()
    assert "&#x27;a..b&#x27;" in content and "empty token" in content
    assert "last token" in content
    assert not NatsRole.objects.exists()


def test_role_names_are_unique_per_organization_in_the_form(world, client):
    make_role(world.org, name="sensors")
    client.force_login(world.user("admin"))
    response = client.post(admin_url("natsrole", "add"), role_form(world.org))
    assert response.status_code == 200
    assert "already exists" in response.content.decode()


def test_role_for_another_organization_cannot_be_created(world, client):
    client.force_login(world.user("admin"))
    response = client.post(admin_url("natsrole", "add"), role_form(world.other_org))
    assert response.status_code == 200
    assert not NatsRole.objects.filter(organization=world.other_org).exists()


def test_role_edit_reissues_holders(world, client):
    role = make_role(world.org, name="sensors")
    user = make_nats_user(world.org, role=role)
    client.force_login(world.user("owner"))
    form = role_form(world.org, publish_allow="telemetry.>\nalarms.>")
    form.pop("organization")
    response = client.post(admin_url("natsrole", "change", role.pk), form)
    assert response.status_code == 302, response.content[:3000]
    assert claims(reload(user).jwt)["nats"]["pub"]["allow"] == ["telemetry.>", "alarms.>"]


def test_role_access_by_role(world, client):
    role = make_role(world.org)
    foreign = make_role(world.other_org)
    client.force_login(world.user("auditor"))
    listing = client.get(admin_url("natsrole", "changelist"))
    assert listing.status_code == 200
    assert role.name in listing.content.decode() and foreign.name not in listing.content.decode()
    assert client.get(admin_url("natsrole", "add")).status_code == 403
    client.force_login(world.user("member"))
    assert client.get(admin_url("natsrole", "changelist")).status_code == 403


# --- users ---------------------------------------------------------------------------------------------------


def test_manager_creates_a_user_through_the_service(world, client):
    role = make_role(world.org)
    client.force_login(world.user("admin"))
    response = client.post(admin_url("natsuser", "add"), user_form(world.org, role=role.pk, publish_allow="x.y"))
    assert response.status_code == 302, response.content[:3000]
    user = NatsUser.objects.get(name="pump-1")
    assert user.account == account_of(world.org)
    token = claims(user.jwt)
    assert token["sub"] == user.public_key
    assert token["nats"]["pub"]["allow"] == ["telemetry.>", "x.y"]


def test_user_form_rejects_relations_into_another_organization(world, client):
    foreign_role = make_role(world.other_org)
    foreign_membership = Membership.objects.get(user=world.outsider)
    # A tenant does not even get the choices.
    client.force_login(world.user("admin"))
    response = client.post(admin_url("natsuser", "add"), user_form(world.org, role=foreign_role.pk))
    assert response.status_code == 200 and not NatsUser.objects.filter(name="pump-1").exists()
    # A platform operator sees every choice; the form still keeps relations inside one organization.
    client.force_login(world.superuser)
    response = client.post(admin_url("natsuser", "add"), user_form(world.org, role=foreign_role.pk))
    assert "belongs to another organization" in response.content.decode()
    form = user_form(world.org, owner_kind="membership", membership=foreign_membership.pk)
    response = client.post(admin_url("natsuser", "add"), form)
    assert "belongs to another organization" in response.content.decode()
    assert not NatsUser.objects.filter(name="pump-1").exists()


def test_user_form_checks_names_and_membership_links(world, client):
    make_nats_user(world.org, name="pump-1")
    membership = membership_of(world, "member")
    link_user(membership)
    client.force_login(world.user("admin"))
    response = client.post(admin_url("natsuser", "add"), user_form(world.org))
    assert "already exists in this account" in response.content.decode()
    form = user_form(world.org, name="other", owner_kind="membership", membership=membership.pk)
    response = client.post(admin_url("natsuser", "add"), form)
    assert "already linked" in response.content.decode()
    form = user_form(world.org, name="other", owner_kind="thing", membership=membership_of(world, "viewer").pk)
    response = client.post(admin_url("natsuser", "add"), form)
    assert "Only a membership-owned user" in response.content.decode()


def test_user_edit_reissues_the_jwt(world, client):
    user = make_nats_user(world.org, name="pump-1")
    client.force_login(world.user("admin"))
    form = user_form(world.org, subscribe_allow="cmd.pump-1.>")
    for readonly in ("organization", "owner_kind"):
        form.pop(readonly)
    response = client.post(admin_url("natsuser", "change", user.pk), form)
    assert response.status_code == 302, response.content[:3000]
    assert claims(reload(user).jwt)["nats"]["sub"]["allow"] == ["cmd.pump-1.>"]


def test_user_pages_never_show_secrets_or_jwts(world, client):
    user = make_nats_user(world.org, bearer=True)
    for who in [world.user("owner"), world.user("auditor"), world.superuser]:
        client.force_login(who)
        for url in [admin_url("natsuser", "changelist"), admin_url("natsuser", "change", user.pk)]:
            content = client.get(url).content.decode()
            assert user.public_key in content
            assert_no_secrets(content)
            assert user.jwt not in content


def test_users_are_scoped_and_system_users_are_for_operators(world, client):
    mine, foreign = make_nats_user(world.org), make_nats_user(world.other_org)
    sys_user = NatsUser.objects.get(name=svc.SYSTEM_USER_NAME)
    client.force_login(world.user("auditor"))
    content = client.get(admin_url("natsuser", "changelist")).content.decode()
    assert mine.name in content and foreign.name not in content
    assert client.get(admin_url("natsuser", "change", foreign.pk)).status_code == 302
    assert client.get(admin_url("natsuser", "change", sys_user.pk)).status_code == 302
    client.force_login(world.user("member"))
    assert client.get(admin_url("natsuser", "changelist")).status_code == 403
    client.force_login(world.superuser)
    page = client.get(admin_url("natsuser", "change", sys_user.pk))
    assert page.status_code == 200 and b'name="name"' not in page.content  # read-only, even here


def test_user_actions(world, client):
    user = make_nats_user(world.org)
    key = user.public_key
    client.force_login(world.user("admin"))
    run_action(client, "natsuser", "revoke", user)
    user = reload(user)
    assert user.public_key != key and key in account_of(world.org).revocations
    run_action(client, "natsuser", "deactivate", user)
    assert reload(user).active is False
    assert user.public_key in account_of(world.org).revocations
    response = run_action(client, "natsuser", "regenerate", user, follow=True)
    assert any("Reactivate the user" in m for m in page_messages(response))
    run_action(client, "natsuser", "reactivate", user)
    assert reload(user).active is True
    jwt = user.jwt
    run_action(client, "natsuser", "regenerate", user)
    assert claims(reload(user).jwt)["sub"] == user.public_key
    assert reload(user).jwt == jwt or claims(reload(user).jwt)["iat"] >= claims(jwt)["iat"]


def test_download_creds_is_audited(world, client):
    user = make_nats_user(world.org, name="pump-9")
    client.force_login(world.user("owner"))
    response = run_action(client, "natsuser", "download_creds", user)
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="pump-9.creds"'
    jwt, seed = parse_creds(response.content)
    assert jwt == reload(user).jwt and nj.keypair_from_seed(seed).public_key == user.public_key
    event = AuditEvent.objects.get(action="credential_read")
    assert (event.object_id, event.actor_id, event.extra["kind"]) == (
        str(user.pk),
        world.user("owner").pk,
        "nats.creds",
    )


def test_download_creds_needs_exactly_one_managed_user(world, client):
    a, b = make_nats_user(world.org), make_nats_user(world.org)
    client.force_login(world.user("owner"))
    response = run_action(client, "natsuser", "download_creds", a, b, follow=True)
    assert "exactly one" in page_messages(response)[0]
    assert not AuditEvent.objects.filter(action="credential_read").exists()


def test_auditor_cannot_download_creds_or_act(world, client):
    user = make_nats_user(world.org)
    jwt = user.jwt
    client.force_login(world.user("auditor"))
    page = client.get(admin_url("natsuser", "changelist"))
    assert b"download_creds" not in page.content
    response = run_action(client, "natsuser", "download_creds", user)
    assert response.get("Content-Disposition") is None
    run_action(client, "natsuser", "revoke", user)
    assert reload(user).jwt == jwt
    assert not AuditEvent.objects.filter(action="credential_read").exists()


def test_actions_skip_users_of_organizations_the_user_does_not_manage(world, client):
    Membership.objects.create(user=world.user("admin"), organization=world.other_org, role="auditor")
    foreign = make_nats_user(world.other_org)
    client.force_login(world.user("admin"))
    assert foreign.name in client.get(admin_url("natsuser", "changelist")).content.decode()
    run_action(client, "natsuser", "deactivate", foreign)
    assert reload(foreign).active
    response = run_action(client, "natsuser", "download_creds", foreign)
    assert response.get("Content-Disposition") is None
    client.post(
        admin_url("natsuser", "changelist"),
        {"action": "delete_selected", "_selected_action": [foreign.pk], "post": "yes"},
    )
    assert NatsUser.objects.filter(pk=foreign.pk).exists()


def test_platform_service_user_is_managed_by_the_platform(world, client):
    service = NatsUser.objects.get(organization=world.org, name=svc.PLATFORM_SERVICE_USER)
    jwt = service.jwt
    client.force_login(world.user("owner"))
    page = client.get(admin_url("natsuser", "change", service.pk))
    assert page.status_code == 200 and b'name="publish_allow"' not in page.content
    run_action(client, "natsuser", "revoke", service)
    assert reload(service).jwt == jwt
    assert run_action(client, "natsuser", "download_creds", service).get("Content-Disposition") is None
    assert client.post(admin_url("natsuser", "delete", service.pk), {"post": "yes"}).status_code == 403


def test_user_changelist_query_count(world, client, django_assert_max_num_queries):
    role = make_role(world.org)
    for i in range(20):
        make_nats_user(world.org, name=f"d{i}", role=role)
    client.force_login(world.user("admin"))
    with django_assert_max_num_queries(12):
        assert client.get(admin_url("natsuser", "changelist")).status_code == 200


# --- exports, imports ----------------------------------------------------------------------------------------


def test_export_created_in_the_admin_re_signs_the_account(world, client):
    account = account_of(world.org)
    revision = account.revision
    client.force_login(world.user("admin"))
    form = {
        "organization": world.org.pk,
        "name": "public",
        "subject": "public.>",
        "kind": "stream",
        "response_type": "",
        "response_threshold_ms": "0",
        "account_token_position": "0",
        "description": "",
    }
    response = client.post(admin_url("accountexport", "add"), form)
    assert response.status_code == 302, response.content[:3000]
    account = reload(account)
    assert account.revision == revision + 1
    assert claims(account.jwt)["nats"]["exports"][0]["subject"] == "public.>"
    export = AccountExport.objects.get()
    client.post(admin_url("accountexport", "delete", export.pk), {"post": "yes"})
    assert not AccountExport.objects.exists()
    assert "exports" not in claims(reload(account).jwt)["nats"]


def import_form(org, exporter, **overrides):
    data = {
        "organization": org.pk,
        "name": "sys-events",
        "subject": "$SYS.ACCOUNT.*.>",
        "local_subject": "",
        "exporter": exporter.pk,
        "kind": "stream",
        "token": "",
    }
    return {**data, **overrides}


def test_import_from_the_system_account(world, client):
    client.force_login(world.user("admin"))
    response = client.post(admin_url("accountimport", "add"), import_form(world.org, svc.system_account()))
    assert response.status_code == 302, response.content[:3000]
    imported = claims(account_of(world.org).jwt)["nats"]["imports"][0]
    assert imported["account"] == svc.system_account().public_key


def exporter_errors(response) -> list[str]:
    return response.context["adminform"].form.errors.get("exporter", [])


@pytest.mark.parametrize("who", ["admin", "superuser"])
def test_a_foreign_exporter_is_answered_like_a_missing_one(world, client, who):
    """A tenant does not get the choice; a posted id of another tenant's account gets the answer of an id that
    does not exist (a platform operator, who sees every account, gets the same answer)."""
    foreign = account_of(world.other_org)
    client.force_login(world.superuser if who == "superuser" else world.user("admin"))
    if who == "admin":
        assert f'value="{foreign.pk}"' not in client.get(admin_url("accountimport", "add")).content.decode()
    missing = Account.objects.order_by("-pk").first().pk + 1000
    answers = []
    for exporter in (foreign.pk, missing):
        form = {**import_form(world.org, foreign), "exporter": exporter}
        response = client.post(admin_url("accountimport", "add"), form)
        answers.append((response.status_code, exporter_errors(response)))
    assert answers[0] == answers[1] == (200, [AccountImport.NO_SUCH_EXPORTER])
    assert not AccountImport.objects.exists()


def test_import_from_another_organization_is_refused(world, client):
    foreign = account_of(world.other_org)
    client.force_login(world.superuser)
    response = client.post(admin_url("accountimport", "add"), import_form(world.org, foreign))
    assert exporter_errors(response) == [AccountImport.NO_SUCH_EXPORTER]
    response = client.post(
        admin_url("accountimport", "add"), import_form(world.org, svc.system_account(), local_subject="a b")
    )
    assert response.status_code == 200 and "whitespace" in response.content.decode()
    assert not AccountImport.objects.exists()


# --- operator and tombstones ---------------------------------------------------------------------------------


def test_operator_is_for_platform_operators_and_never_shows_its_seed(world, client):
    operator = svc.get_operator()
    client.force_login(world.user("owner"))
    assert client.get(admin_url("operator", "changelist")).status_code == 403
    assert client.get(admin_url("accounttombstone", "changelist")).status_code == 403
    client.force_login(world.superuser)
    page = client.get(admin_url("operator", "change", operator.pk))
    assert page.status_code == 200
    content = page.content.decode()
    assert operator.public_key in content and 'name="name"' not in content
    assert_no_secrets(content)
    assert client.get(admin_url("accounttombstone", "changelist")).status_code == 200


def test_deleting_an_organization_leaves_a_tombstone_operators_can_see(world, client):
    public_key = account_of(world.other_org).public_key
    world.other_org.delete()
    client.force_login(world.superuser)
    content = client.get(admin_url("accounttombstone", "changelist")).content.decode()
    assert public_key in content


@pytest.mark.parametrize("model", ["natsrole", "natsuser", "accountexport"])
def test_bulk_delete_refuses_rows_of_organizations_the_user_does_not_manage(world, client, model):
    Membership.objects.create(user=world.user("admin"), organization=world.other_org, role="auditor")
    make = {
        "natsrole": make_role,
        "natsuser": make_nats_user,
        "accountexport": lambda org: svc.save_account_link(
            AccountExport(organization=org, account=account_of(org), name="e", subject="e.>")
        ),
    }[model]
    mine, foreign = make(world.org), make(world.other_org)
    client.force_login(world.user("admin"))
    data = {"action": "delete_selected", "_selected_action": [mine.pk, foreign.pk], "post": "yes"}
    response = client.post(admin_url(model, "changelist"), data)
    assert response.status_code == 403  # the admin checks every selected row before deleting any
    assert type(mine).objects.filter(pk__in=[mine.pk, foreign.pk]).count() == 2
    client.post(admin_url(model, "changelist"), {**data, "_selected_action": [mine.pk]})
    assert not type(mine).objects.filter(pk=mine.pk).exists()
