"""Every change of a registered model is one event with the right before/after, actor and request id,
whichever door it came through: admin, API, management command."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from rest_framework.test import APIClient

import audit
from audit import integrity, registry
from audit.models import AuditEvent
from audit.registry import REDACTED
from tenancy import services
from tenancy.models import Invitation, Membership
from tests.support.world import make_user

pytestmark = pytest.mark.django_db


def changes_of(obj, **filters) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(object_type=obj._meta.label_lower, object_id=str(obj.pk), **filters).order_by("id")
    )


def only(events: list[AuditEvent]) -> AuditEvent:
    assert len(events) == 1, [f"{e.action} {e.object_type} {e.object_id}" for e in events]
    return events[0]


def model_events(request_id: str) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(request_id=request_id, action__in=["create", "update", "delete"]).order_by("id")
    )


def accepted(invitation: Invitation, person) -> Membership:
    token = services.resend_invitation(invitation=invitation, acting_user=invitation.invited_by)
    return services.accept_invitation(token=token, user=person)


def assert_chains_verify():
    reports = [integrity.verify_chain(chain) for chain in integrity.chains()]
    assert [r.broken for r in reports if r.broken] == []


# --- Admin ---------------------------------------------------------------------------------------------------


def test_admin_create_update_delete_each_write_one_event(world, client):
    admin_user = world.user("admin")
    newcomer = make_user("nina")
    client.force_login(admin_user)

    response = client.post(
        reverse("admin:tenancy_invitation_add"),
        {"organization": world.org.pk, "email": newcomer.email, "role": "viewer"},
    )
    assert response.status_code == 302
    invitation = Invitation.objects.get(email=newcomer.email)
    created = only(model_events(response["X-Request-ID"]))
    assert (created.action, created.object_type) == ("create", "tenancy.invitation")
    assert created.object_id == str(invitation.pk)
    assert created.before is None
    assert created.after["role"] == "viewer"
    assert created.after["email"] == newcomer.email
    assert created.after["organization"] == world.org.pk
    assert (created.actor_id, created.actor_name) == (admin_user.pk, "adam")
    assert (created.organization_id, created.organization_slug) == (world.org.pk, "acme")
    membership = accepted(invitation, newcomer)

    response = client.post(reverse("admin:tenancy_membership_change", args=[membership.pk]), {"role": "member"})
    assert response.status_code == 302
    updated = only(model_events(response["X-Request-ID"]))
    assert updated.action == "update"
    assert (updated.before["role"], updated.after["role"]) == ("viewer", "member")
    assert "role" in updated.changed_fields
    assert updated.actor_name == "adam"

    response = client.post(reverse("admin:tenancy_membership_delete", args=[membership.pk]), {"post": "yes"})
    assert response.status_code == 302
    deleted = only(model_events(response["X-Request-ID"]))
    assert deleted.action == "delete"
    assert deleted.before["role"] == "member"
    assert deleted.after is None
    assert deleted.object_id == str(membership.pk)
    assert len(changes_of(membership)) == 3
    assert_chains_verify()


# --- API -----------------------------------------------------------------------------------------------------


def test_api_create_update_delete_with_a_token_name_the_tokens_user(world):
    _, secret = services.create_api_token(user=world.user("admin"), organization=world.org, name="ci")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    newcomer = make_user("nina")
    url = reverse("tenancy-api:invitation-list", args=["acme"])

    response = client.post(url, {"email": newcomer.email, "role": "viewer"}, format="json")
    assert response.status_code == 201, response.data
    created = only(model_events(response["X-Request-ID"]))
    assert (created.action, created.object_id, created.after["role"]) == ("create", str(response.data["id"]), "viewer")
    assert (created.actor_id, created.actor_name) == (world.user("admin").pk, "adam")

    membership = accepted(Invitation.objects.get(pk=response.data["id"]), newcomer)
    detail = reverse("tenancy-api:membership-detail", args=["acme", membership.pk])
    response = client.patch(detail, {"role": "member"}, format="json")
    assert response.status_code == 200
    updated = only(model_events(response["X-Request-ID"]))
    assert (updated.before["role"], updated.after["role"], updated.actor_name) == ("viewer", "member", "adam")

    response = client.delete(detail)
    assert response.status_code == 204
    deleted = only(model_events(response["X-Request-ID"]))
    assert (deleted.action, deleted.before["role"], deleted.after) == ("delete", "member", None)

    requests = AuditEvent.objects.filter(action="api_request", organization=world.org).order_by("id")
    assert [(e.extra["method"], e.extra["status"], e.actor_name) for e in requests] == [
        ("POST", 201, "adam"),
        ("PATCH", 200, "adam"),
        ("DELETE", 204, "adam"),
    ]


def test_api_changes_by_a_session_user_name_that_user(world, api):
    api.force_authenticate(world.user("owner"))
    invitation_url = reverse("tenancy-api:invitation-list", args=["acme"])
    response = api.post(invitation_url, {"email": "new@example.com", "role": "member"}, format="json")
    assert response.status_code == 201
    created = only(model_events(response["X-Request-ID"]))
    assert (created.object_type, created.actor_name) == ("tenancy.invitation", "olivia")


# --- Management commands ------------------------------------------------------------------------------------


def test_commands_act_as_system_command(world):
    membership = Membership.objects.get(user=world.user("member"))
    call_command(
        "shell",
        command=(
            "from tenancy.models import Membership; "
            f"m = Membership.objects.get(pk={membership.pk}); m.role = 'viewer'; m.save(); "
            f"Membership.objects.get(user__username='vic').delete()"
        ),
    )
    updated, deleted = AuditEvent.objects.filter(actor_name="system:shell").order_by("id")
    assert (updated.action, updated.object_id) == ("update", str(membership.pk))
    assert (updated.before["role"], updated.after["role"]) == ("member", "viewer")
    assert (deleted.action, deleted.before["role"], deleted.after) == ("delete", "viewer", None)
    assert updated.actor_id is None
    assert updated.request_id and updated.request_id == deleted.request_id  # one run, one request id


def test_a_command_creates_with_redacted_password(db):
    call_command("ensure_superuser", "--username", "boss", "--password", "a-long-password-1234")
    created = AuditEvent.objects.get(action="create", object_type="auth.user")
    assert created.actor_name == "system:ensure_superuser"
    assert created.after["username"] == "boss"
    assert created.after["password"] == REDACTED


def test_a_command_inside_a_request_context_keeps_the_requests_actor(world):
    membership = Membership.objects.get(user=world.user("member"))
    with audit.audit_context(request_id="req-12345678", actor_name="adam"):
        call_command(
            "shell",
            command=f"from tenancy.models import Membership; Membership.objects.get(pk={membership.pk}).delete()",
        )
    deleted = only(changes_of(membership, action="delete"))
    assert (deleted.actor_name, deleted.request_id) == ("adam", "req-12345678")


# --- What is (and is not) an event ---------------------------------------------------------------------------


def test_a_rolled_back_change_leaves_no_event(world):
    before = AuditEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        Membership.objects.create(user=make_user("ghost"), organization=world.org, role="viewer")
        raise RuntimeError
    assert AuditEvent.objects.count() == before


def test_saving_without_a_change_or_only_noise_writes_nothing(world, client):
    membership = Membership.objects.get(user=world.user("member"))
    count = AuditEvent.objects.count()
    membership.save()  # only `updated` (auto_now) moves
    client.force_login(world.user("member"))  # moves last_login: the login event says it all
    assert list(AuditEvent.objects.filter(pk__gt=0).order_by("id").values_list("action", flat=True))[count:] == [
        "login"
    ]


def test_update_fields_saves_compare_only_the_saved_columns(world):
    membership = Membership.objects.get(user=world.user("member"))
    membership.role = "viewer"
    membership.save(update_fields=["updated"])  # role changed in memory only
    assert changes_of(membership, action="update") == []


def test_secrets_are_redacted_but_their_change_is_visible(world):
    invitation, token = services.invite(
        organization=world.org, email="x@example.com", role="member", acting_user=world.user("owner")
    )
    created = only(changes_of(invitation))
    assert created.after["token_hash"] == REDACTED
    services.resend_invitation(invitation=invitation, acting_user=world.user("owner"))
    resent = only(changes_of(invitation, action="update"))
    assert "token_hash" in resent.changed_fields
    assert resent.before["token_hash"] == resent.after["token_hash"] == REDACTED
    api_token, secret = services.create_api_token(user=world.user("admin"), organization=world.org, name="ci")
    assert only(changes_of(api_token)).after["secret_hash"] == REDACTED
    dumped = str(list(AuditEvent.objects.values_list("before", "after")))
    assert invitation.token_hash not in dumped and token not in dumped
    assert api_token.secret_hash not in dumped and secret not in dumped


def test_fields_marked_audit_redact_are_redacted_without_being_named(monkeypatch):
    field = Group._meta.get_field("name")
    monkeypatch.setattr(field, "audit_redact", True, raising=False)
    entry = registry.build(Group)
    assert "name" in entry.redact
    assert entry.redacted({"name": "wheel", "id": 1}) == {"name": REDACTED, "id": 1}
    assert entry.redacted({"name": None}) == {"name": None}


def test_registering_twice_or_naming_an_unknown_field_is_an_error():
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Membership)
    with pytest.raises(ValueError, match="no field"):
        registry.build(Group, redact=["seed"])


def test_many_to_many_changes_are_updates_of_the_owner(world):
    group = Group.objects.create(name="operators")
    user = world.user("member")
    user.groups.add(group)
    event = only(changes_of(user, action="update"))
    assert event.changed_fields == ["groups"]
    assert (event.before, event.after) == ({"groups": []}, {"groups": [group.pk]})


# --- Bulk writes -----------------------------------------------------------------------------------------------


def test_bulk_update_is_one_summarising_event_per_organization(world):
    memberships = Membership.objects.filter(role="owner")  # one in acme, one in globex
    ids = {m.organization_id: str(m.pk) for m in memberships}
    with transaction.atomic():
        events = audit.record_bulk("update", memberships, changes={"role": "admin"})
        Membership.objects.filter(pk__in=[int(pk) for pk in ids.values()]).update(role="admin")
    assert len(events) == 2
    by_org = {e.organization_id: e for e in AuditEvent.objects.filter(action="bulk_update")}
    for organization_id, pk in ids.items():
        event = by_org[organization_id]
        assert event.object_type == "tenancy.membership"
        assert event.extra == {"ids": [pk], "count": 1}
        assert event.after == {"role": "admin"}
        assert event.changed_fields == ["role"]
    assert_chains_verify()


def test_bulk_create_lists_the_new_ids_and_redacts_secrets(world):
    rows = []
    for email in ["a@example.com", "b@example.com"]:
        invitation = Invitation(organization=world.org, email=email, role="member")
        invitation.set_new_token()
        rows.append(invitation)
    created = Invitation.objects.bulk_create(rows)
    (event,) = audit.record_bulk("create", created)
    assert event.action == "bulk_create"
    assert event.extra["ids"] == [str(i.pk) for i in created]
    assert event.object_repr == "2 invitations"
    (event,) = audit.record_bulk("update", Invitation.objects.filter(pk=created[0].pk), changes={"token_hash": "x"})
    assert event.after == {"token_hash": REDACTED}


def test_bulk_of_an_unregistered_model_is_an_error(world):
    with pytest.raises(ValueError, match="not registered"):
        audit.record_bulk("update", Group.objects.all())
    with pytest.raises(ValueError, match="Unknown bulk action"):
        audit.record_bulk("upsert", Membership.objects.all())


def test_queryset_delete_writes_one_event_per_row(world):
    doomed = Membership.objects.filter(organization=world.org, role__in=["viewer", "auditor"])
    ids = sorted(str(pk) for pk in doomed.values_list("pk", flat=True))
    doomed.delete()
    deleted = AuditEvent.objects.filter(action="delete", object_type="tenancy.membership")
    assert sorted(deleted.values_list("object_id", flat=True)) == ids


def test_disabled_records_nothing(world):
    count = AuditEvent.objects.count()
    with audit.disabled():
        Membership.objects.filter(user=world.user("viewer")).get().delete()
    assert AuditEvent.objects.count() == count


# --- Deleting what events point to -------------------------------------------------------------------------------


def test_deleting_an_organization_keeps_its_events_and_their_chain(world, api):
    api.force_authenticate(world.superuser)
    globex_pk = world.other_org.pk
    response = api.delete(reverse("tenancy-api:organization-detail", args=["globex"]))
    assert response.status_code == 204
    events = AuditEvent.objects.filter(chain=f"org:{globex_pk}")
    assert events.filter(action="delete", object_type="tenancy.organization").exists()
    assert events.filter(action="delete", object_type="tenancy.membership").exists()
    assert set(events.values_list("organization_id", flat=True)) == {None}
    assert set(events.values_list("organization_slug", flat=True)) == {"globex"}
    assert_chains_verify()


def test_deleting_a_user_keeps_their_name_on_their_events(world, client):
    user = world.user("viewer")
    client.force_login(user)
    client.post(reverse("admin:logout"))
    pk = user.pk
    user.delete()
    events = AuditEvent.objects.filter(actor_name="vic")
    assert events.filter(action="logout").exists()
    assert set(events.values_list("actor_id", flat=True)) == {None}
    deleted = AuditEvent.objects.get(action="delete", object_type="auth.user", object_id=str(pk))
    assert deleted.before["username"] == "vic"
    assert_chains_verify()
