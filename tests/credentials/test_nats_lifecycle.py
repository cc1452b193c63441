"""Lifecycle of organizations and their NATS accounts: suspension, deletion, what a role edit reissues, and the
reconciliation of what bulk updates leave behind."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit.models import AuditEvent
from credentials import push
from credentials.models import Account, AccountTombstone, NatsRole, NatsUser
from credentials.services import nats as svc
from credentials.tasks import nats as tasks
from tenancy import services as tenancy
from tenancy.models import Membership, Organization
from tests.credentials.nats_support import (
    account_of,
    claims,
    link_user,
    make_nats_user,
    make_role,
    membership_of,
    reload,
)
from tests.support.world import make_org, make_user

pytestmark = pytest.mark.django_db


def org_url(slug: str) -> str:
    return reverse("tenancy-api:organization-detail", args=[slug])


def account_url(slug: str) -> str:
    return reverse("nats-api:account", args=[slug])


def withdrawn(account: Account) -> bool:
    """What the push pipeline would do with the account now: delete it from NATS."""
    return push.job_for(reload(account)).subject == push.DELETE_SUBJECT


# --- 1. A suspension is its own fact -----------------------------------------------------------------------------


def test_no_other_edit_undoes_a_suspension(world, api):
    account = account_of(world.org)
    role = make_role(world.org)
    device = make_nats_user(world.org, role=role)
    api.force_authenticate(world.superuser)
    assert api.patch(account_url("acme"), {"suspended": True}, format="json").status_code == 200
    assert withdrawn(account)

    edits = {
        "rename": lambda: api.patch(org_url("acme"), {"name": "Acme Renamed"}, format="json"),
        "deactivate": lambda: api.patch(org_url("acme"), {"active": False}, format="json"),
        "reactivate": lambda: api.patch(org_url("acme"), {"active": True}, format="json"),
        "limits": lambda: api.patch(account_url("acme"), {"max_connections": 7}, format="json"),
        "rotation": lambda: api.post(reverse("nats-api:account-signing-keys-rotate", args=["acme"])),
        "role": lambda: api.patch(
            reverse("nats-api:natsrole-detail", args=["acme", role.pk]), {"publish_allow": ["x.>"]}, format="json"
        ),
        "user": lambda: api.patch(
            reverse("nats-api:natsuser-detail", args=["acme", device.pk]), {"description": "moved"}, format="json"
        ),
        "member": lambda: api.patch(
            reverse("tenancy-api:membership-detail", args=["acme", membership_of(world, "viewer").pk]),
            {"role": "member"},
            format="json",
        ),
    }
    for name, edit in edits.items():
        response = edit()
        assert response.status_code in (200, 201), (name, response.content)
        account = reload(account)
        assert account.suspended and not account.active, f"{name} undid the suspension"
        assert withdrawn(account), name
    world.org.refresh_from_db()
    world.org.description = "saved outside the actions"
    world.org.save()  # the safety net follows the organization, never the suspension
    assert reload(account).suspended and withdrawn(account)


def test_lifting_a_suspension_leaves_an_inactive_organization_off(world, api):
    account = account_of(world.org)
    api.force_authenticate(world.superuser)
    assert api.patch(org_url("acme"), {"active": False}, format="json").status_code == 200
    assert withdrawn(account)
    assert api.patch(account_url("acme"), {"suspended": True}, format="json").status_code == 200
    response = api.patch(account_url("acme"), {"suspended": False}, format="json")
    assert response.status_code == 200
    assert (response.json()["suspended"], response.json()["active"]) == (False, False)
    assert withdrawn(account)
    assert api.patch(org_url("acme"), {"active": True}, format="json").status_code == 200
    assert not withdrawn(account) and reload(account).active


def test_deactivating_the_organization_reaches_nats_once(world, api):
    account = account_of(world.org)
    revision = account.revision
    api.force_authenticate(world.superuser)
    api.patch(org_url("acme"), {"name": "Acme 2"}, format="json")
    assert reload(account).revision == revision  # nothing of a rename is on NATS
    api.patch(org_url("acme"), {"active": False}, format="json")
    assert reload(account).revision == revision + 1 and withdrawn(account)


def test_organization_updates_are_for_platform_operators(world):
    with pytest.raises(tenancy.PermissionDenied):
        tenancy.update_organization(world.org, acting_user=world.user("owner"), active=False)
    assert Organization.objects.get(pk=world.org.pk).active


def test_the_admin_suspends_through_the_same_fact(world, client):
    account = account_of(world.org)
    client.force_login(world.superuser)
    data = {f: getattr(account, f) for f in Account.LIMIT_FIELDS}
    data.update({"suspended": "on", "signing_keys-TOTAL_FORMS": "1", "signing_keys-INITIAL_FORMS": "1"})
    data.update({"signing_keys-MIN_NUM_FORMS": "0", "signing_keys-MAX_NUM_FORMS": "1000"})
    data.update({"signing_keys-0-id": account.signing_keys.get().pk, "signing_keys-0-account": account.pk})
    response = client.post(reverse("admin:credentials_account_change", args=[account.pk]), data)
    assert response.status_code == 302, response.content[:2000]
    assert reload(account).suspended and withdrawn(account)
    response = client.post(
        reverse("admin:tenancy_organization_change", args=[world.org.pk]),
        {
            "name": "Acme Corp",
            "description": "",
            "active": "on",
            **{f"{p}-{k}": v for p in ("memberships", "invitations") for k, v in management_form().items()},
        },
    )
    assert response.status_code == 302, response.content[:2000]
    assert reload(account).suspended and withdrawn(account)


def management_form() -> dict:
    return {"TOTAL_FORMS": "0", "INITIAL_FORMS": "0", "MIN_NUM_FORMS": "0", "MAX_NUM_FORMS": "1000"}


# --- 4. Deleting an organization ---------------------------------------------------------------------------------


def org_with_users(slug: str, count: int) -> Organization:
    organization = make_org(slug, make_user(f"owner-{slug}"))
    role = make_role(organization)  # held by every user: it no longer blocks the deletion
    for i in range(count):
        make_nats_user(organization, name=f"device-{i}", role=role)
    return organization


def deletion_cost(organization: Organization, operator) -> tuple[int, list[tuple[str, str]]]:
    """(queries, audit events as (action, object type)) of deleting the organization through the action."""
    first_event = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    with CaptureQueriesContext(connection) as queries:
        tenancy.delete_organization(organization, acting_user=operator)
    events = AuditEvent.objects.filter(pk__gt=first_event).order_by("pk").values_list("action", "object_type")
    return len(queries), list(events)


def test_deleting_an_organization_costs_the_same_for_3_or_30_nats_users(world):
    few, many = org_with_users("few", 3), org_with_users("many", 30)
    keys = {org.slug: account_of(org).public_key for org in (few, many)}

    few_queries, few_events = deletion_cost(few, world.superuser)
    many_queries, many_events = deletion_cost(many, world.superuser)

    assert many_queries == few_queries, (few_queries, many_queries)
    assert len(many_events) == len(few_events)
    summaries = [e for e in many_events if e == ("bulk_delete", "credentials.natsuser")]
    assert len(summaries) == 1 and ("delete", "credentials.natsuser") not in many_events
    assert ("update", "credentials.account") not in many_events  # no re-sign per user, nor at all
    summary = AuditEvent.objects.filter(action="bulk_delete", object_type="credentials.natsuser").latest("pk")
    assert summary.extra["count"] == 31  # the 30 devices and the platform's twin reader
    for slug, key in keys.items():
        assert AccountTombstone.objects.filter(public_key=key).count() == 1, slug
    assert not NatsUser.objects.filter(organization__slug__in=keys).exists()
    assert not Account.objects.filter(public_key__in=keys.values()).exists()


def test_the_api_and_the_admin_delete_through_the_action(world, api, client):
    for door, org in (("api", org_with_users("by-api", 2)), ("admin", org_with_users("by-admin", 2))):
        key = account_of(org).public_key
        if door == "api":
            api.force_authenticate(world.superuser)
            assert api.delete(org_url(org.slug)).status_code == 204
        else:
            client.force_login(world.superuser)
            url = reverse("admin:tenancy_organization_delete", args=[org.pk])
            assert client.post(url, {"post": "yes"}).status_code == 302
        assert not Organization.objects.filter(pk=org.pk).exists(), door
        assert AccountTombstone.objects.filter(public_key=key, done_at__isnull=True).count() == 1, door
        summary = AuditEvent.objects.filter(action="bulk_delete", object_type="credentials.natsuser").latest("pk")
        assert summary.organization_slug == org.slug, door


def test_a_delete_outside_the_action_still_works_without_resigning_per_user(world):
    """The safety net: `Organization.delete()` called directly (a shell, a script)."""
    organization = org_with_users("direct", 5)
    member = make_user("mel")
    link_user(Membership.objects.create(user=member, organization=organization, role="member"))
    key = account_of(organization).public_key
    first_event = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    organization.delete()
    events = AuditEvent.objects.filter(pk__gt=first_event)
    assert not events.filter(action="update", object_type="credentials.account").exists()
    assert AccountTombstone.objects.filter(public_key=key).count() == 1


def test_only_platform_operators_delete_organizations(world):
    with pytest.raises(tenancy.PermissionDenied):
        tenancy.delete_organization(world.org, acting_user=world.user("owner"))
    assert Organization.objects.filter(pk=world.org.pk).exists()


# --- 5. What a role edit reissues --------------------------------------------------------------------------------


def holder_state(user: NatsUser) -> tuple:
    user = reload(user)
    return user.jwt, user.jwt_iat, user.updated


def test_a_new_name_or_description_reissues_nothing(world, api):
    role = make_role(world.org)
    holder = make_nats_user(world.org, role=role)
    before, revision = holder_state(holder), account_of(world.org).revision
    api.force_authenticate(world.user("admin"))
    url = reverse("nats-api:natsrole-detail", args=["acme", role.pk])
    response = api.patch(url, {"name": "renamed", "description": "only words"}, format="json")
    assert response.status_code == 200, response.content
    assert holder_state(holder) == before
    assert account_of(world.org).revision == revision
    response = api.patch(url, {"max_payload": 512}, format="json")
    assert response.status_code == 200
    assert claims(reload(holder).jwt)["nats"]["payload"] == 512


def test_the_admin_edits_roles_through_the_same_action(world, client):
    role = make_role(world.org, name="sensors")
    holder = make_nats_user(world.org, role=role)
    before = holder_state(holder)
    form = {
        "name": "sensors",
        "description": "a description only",
        "publish_allow": "telemetry.>",
        "subscribe_allow": "commands.>",
        "publish_deny": "",
        "subscribe_deny": "",
        "response_max": 1,
        "response_ttl": 0,
        "max_subscriptions": -1,
        "max_data": -1,
        "max_payload": -1,
    }
    client.force_login(world.user("owner"))
    response = client.post(reverse("admin:credentials_natsrole_change", args=[role.pk]), form)
    assert response.status_code == 302, response.content[:3000]
    assert reload(role).description == "a description only"
    assert holder_state(holder) == before
    response = client.post(reverse("admin:credentials_natsrole_change", args=[role.pk]), {**form, "max_data": 64})
    assert response.status_code == 302
    assert claims(reload(holder).jwt)["nats"]["data"] == 64


def test_saves_outside_the_actions_reissue_only_for_jwt_fields(world):
    role = make_role(world.org)
    holder = make_nats_user(world.org, role=role)
    before = holder_state(holder)
    role = NatsRole.objects.get(pk=role.pk)
    role.description = "outside the actions"
    role.save()
    assert holder_state(holder) == before
    role.subscribe_allow = ["commands.>", "config.>"]
    role.save()
    assert claims(reload(holder).jwt)["nats"]["sub"]["allow"] == ["commands.>", "config.>"]


def test_a_role_held_by_users_cannot_be_deleted_but_goes_with_its_organization(world):
    role = make_role(world.org)
    make_nats_user(world.org, name="pump-7", role=role)
    with pytest.raises(svc.ValidationError, match="still in use by NATS user 'pump-7'"):
        svc.delete_role(role)
    assert NatsRole.objects.filter(pk=role.pk).exists()


# --- 6. Reconciliation of bulk updates ---------------------------------------------------------------------------


def test_people_deactivated_in_bulk_lose_their_nats_users_within_one_run(world):
    users = [link_user(membership_of(world, role)) for role in ("member", "viewer")]
    kept = link_user(membership_of(world, "admin"))
    device = make_nats_user(world.org)
    account = account_of(world.org)
    revision = account.revision
    get_user_model().objects.filter(pk__in=[world.user("member").pk, world.user("viewer").pk]).update(
        is_active=False
    )
    assert all(reload(user).active for user in users)  # no signal: still working

    result = tasks.reconcile_switched_off.apply().get()

    assert result == {"users_deactivated": 2, "accounts_followed": 0}
    account = reload(account)
    assert account.revision == revision + 1  # one re-sign for the account, not one per user
    for user in users:
        assert not reload(user).active and user.public_key in account.revocations
    assert reload(kept).active and reload(device).active
    summary = AuditEvent.objects.filter(action="bulk_update", object_type="credentials.natsuser").get()
    assert summary.extra["count"] == 2 and summary.after == {"active": False}
    assert tasks.reconcile_switched_off.apply().get() == {"users_deactivated": 0, "accounts_followed": 0}


def test_organizations_deactivated_in_bulk_are_withdrawn_and_keep_their_users(world):
    account, other = account_of(world.org), account_of(world.other_org)
    device = make_nats_user(world.org)
    svc.update_account(other, suspended=True)
    Organization.objects.filter(pk__in=[world.org.pk, world.other_org.pk]).update(active=False)
    assert not withdrawn(account)

    assert tasks.reconcile_switched_off.apply().get() == {"users_deactivated": 0, "accounts_followed": 1}
    assert withdrawn(account) and reload(device).active  # the account goes; reactivation brings it back whole
    Organization.objects.filter(pk__in=[world.org.pk, world.other_org.pk]).update(active=True)
    assert tasks.reconcile_switched_off.apply().get() == {"users_deactivated": 0, "accounts_followed": 1}
    assert not withdrawn(account)
    assert reload(other).suspended and withdrawn(other)


def test_the_reconciliation_runs_on_beat(settings):
    from stoneage.celery import app

    app.loader.import_default_modules()
    entry = settings.CELERY_BEAT_SCHEDULE["nats-reconcile-switched-off"]
    assert entry["task"] == tasks.reconcile_switched_off.name and entry["task"] in app.tasks
    assert entry["schedule"] <= 300


def test_nobody_inactive_is_reconciled_twice(world):
    link_user(membership_of(world, "member"))
    person = world.user("member")
    person.is_active = False
    person.save()  # the signal already deactivated the user
    assert tasks.reconcile_switched_off.apply().get()["users_deactivated"] == 0
