"""The audit log in the admin: read-only for everyone, scoped to the reader's organizations."""

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from tenancy.models import Membership

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:audit_auditevent_changelist"


def change_url(event):
    return reverse("admin:audit_auditevent_change", args=[event.pk])


def test_an_auditor_sees_their_organizations_events_only(world, client):
    client.force_login(world.user("auditor"))
    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    shown = {event.pk for event in page.context["cl"].result_list}
    assert shown == set(AuditEvent.objects.filter(organization=world.org).values_list("pk", flat=True))
    foreign = AuditEvent.objects.filter(organization=world.other_org).first()
    assert client.get(change_url(foreign)).status_code == 302  # like a missing object
    platform = AuditEvent.objects.filter(chain="platform").first()
    assert client.get(change_url(platform)).status_code == 302


def test_the_organization_filter_offers_only_visible_organizations(world, client):
    client.force_login(world.user("auditor"))
    page = client.get(reverse(CHANGELIST)).content.decode()
    assert "Acme Corp" in page
    assert "Globex" not in page


def test_superusers_see_every_chain(world, client):
    client.force_login(world.superuser)
    page = client.get(reverse(CHANGELIST) + "?action__exact=login")
    assert [e.actor_name for e in page.context["cl"].result_list] == ["root"]
    page = client.get(reverse(CHANGELIST) + f"?organization__id__exact={world.other_org.pk}")
    assert {e.organization_slug for e in page.context["cl"].result_list} == {"globex"}


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_members_and_viewers_do_not_read_the_log(world, client, role):
    client.force_login(world.user(role))
    assert client.get(reverse(CHANGELIST)).status_code == 403
    event = AuditEvent.objects.filter(organization=world.org).first()
    assert client.get(change_url(event)).status_code in (302, 403)


@pytest.mark.parametrize("who", ["auditor", "owner", "superuser"])
def test_nobody_adds_changes_or_deletes_events(world, client, who):
    client.force_login(world.superuser if who == "superuser" else world.user(who))
    event = AuditEvent.objects.filter(organization=world.org).first()
    assert client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    assert client.post(reverse("admin:audit_auditevent_add"), {"action": "login"}).status_code == 403
    client.post(change_url(event), {"object_repr": "forged"})
    assert client.post(reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).object_repr == event.object_repr
    page = client.get(reverse(CHANGELIST))
    assert page.context["action_form"] is None  # no actions at all, so no bulk delete
    assert b"delete_selected" not in page.content
    response = client.post(reverse(CHANGELIST), {"action": "delete_selected", "_selected_action": [event.pk]})
    assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert response.status_code in (200, 302)


def test_the_detail_page_shows_before_and_after(world, client):
    membership = Membership.objects.get(user=world.user("member"))
    membership.role = "viewer"
    membership.save()
    event = AuditEvent.objects.get(action="update", object_id=str(membership.pk))
    client.force_login(world.user("auditor"))
    page = client.get(change_url(event))
    assert page.status_code == 200
    rows = {row["field"]: row for row in page.context["audit_diff"]}
    assert (rows["role"]["before"], rows["role"]["after"], rows["role"]["changed"]) == ('"member"', '"viewer"', True)
    assert rows["user"]["changed"] is False
    content = page.content.decode()
    assert "Before and after" in content
    assert 'name="_save"' not in content  # read-only: no save button


def test_filters_and_search(world, client):
    client.force_login(world.user("owner"))
    client.post(
        "/api/v1/orgs/acme/invitations/", {"email": "z@example.com", "role": "member"}, content_type="application/json"
    )
    membership = Membership.objects.get(user=world.user("member"))
    client.force_login(world.user("auditor"))

    def shown(query):
        page = client.get(reverse(CHANGELIST) + query)
        assert page.status_code == 200, query
        return list(page.context["cl"].result_list)

    assert {e.action for e in shown("?action__exact=api_request")} == {"api_request"}
    assert {e.object_type for e in shown("?object_type=tenancy.invitation")} == {"tenancy.invitation"}
    assert {e.actor_name for e in shown(f"?actor__id__exact={world.user('owner').pk}")} == {"olivia"}
    assert [e.extra["path"] for e in shown("?q=/invitations/")] == ["/api/v1/orgs/acme/invitations/"]
    assert {e.object_id for e in shown(f"?q={membership.pk}") if e.object_type == "tenancy.membership"} == {
        str(membership.pk)
    }
    newest = AuditEvent.objects.filter(organization=world.org).latest("id")
    since = newest.timestamp.strftime("%Y-%m-%dT00:00:00Z")
    assert newest in shown(f"?timestamp__gte={since}")
    assert shown("?timestamp__gte=2999-01-01T00:00:00Z") == []
