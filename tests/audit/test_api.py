"""`/api/v1/orgs/<slug>/audit/events/`: who reads it, filters, cursor pagination, streaming exports."""

import csv
import io
import json

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from audit.services import write_event
from tenancy.models import Membership
from tenancy.roles import AUDIT_READERS
from tests.support.authz import assert_access, expect
from tests.support.world import make_user

pytestmark = pytest.mark.django_db


def events_url(slug="acme", **query):
    url = reverse("audit-api:event-list", args=[slug])
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def export_url(kind, slug="acme", query=""):
    return reverse(f"audit-api:event-export-{kind}", args=[slug]) + query


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


# --- Who reads ---------------------------------------------------------------------------------------------------


def test_owners_admins_and_auditors_read_their_organizations_log(world):
    assert_access(world, "get", lambda w: events_url(), expect(AUDIT_READERS, 200))


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_exports_follow_the_same_rules(world, kind):
    assert_access(world, "get", lambda w: export_url(kind), expect(AUDIT_READERS, 200))


def test_an_auditor_cannot_read_another_organizations_log(world, api):
    api.force_authenticate(world.user("auditor"))
    assert api.get(events_url("globex")).status_code == 404
    assert api.get(export_url("csv", "globex")).status_code == 404
    assert api.get(events_url("no-such-org")).status_code == 404


def test_only_the_organizations_events_are_listed(world, api, client):
    client.force_login(world.user("auditor"))  # a platform event (login)
    api.force_authenticate(world.user("auditor"))
    listed = api.get(events_url(limit=500)).data["results"]
    assert {e["organization"] for e in listed} == {"acme"}
    assert {e["chain"] for e in listed} == {f"org:{world.org.pk}"}
    assert len(listed) == AuditEvent.objects.filter(organization=world.org).count()
    assert "login" not in {e["action"] for e in listed}


def test_nobody_writes_through_the_api(world, api):
    event = AuditEvent.objects.filter(organization=world.org).first()
    detail = reverse("audit-api:event-detail", args=["acme", event.pk])
    api.force_authenticate(world.superuser)
    assert api.post(events_url(), {}, format="json").status_code == 405
    assert api.put(detail, {}, format="json").status_code == 405
    assert api.patch(detail, {}, format="json").status_code == 405
    assert api.delete(detail).status_code == 405
    api.force_authenticate(world.user("auditor"))
    assert api.delete(detail).status_code in (403, 405)
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_detail_shows_before_and_after(world, api):
    membership = Membership.objects.get(user=world.user("member"))
    membership.role = "viewer"
    membership.save()
    event = AuditEvent.objects.get(action="update", object_id=str(membership.pk))
    api.force_authenticate(world.user("auditor"))
    data = api.get(reverse("audit-api:event-detail", args=["acme", event.pk])).data
    assert (data["before"]["role"], data["after"]["role"]) == ("member", "viewer")
    assert data["changed_fields"] == ["role", "updated"]
    foreign = AuditEvent.objects.filter(organization=world.other_org).first()
    assert api.get(reverse("audit-api:event-detail", args=["acme", foreign.pk])).status_code == 404


# --- Filters and search ----------------------------------------------------------------------------------------


def test_filters(world, api):
    api.force_authenticate(world.user("admin"))
    membership = Membership.objects.get(user=world.user("viewer"))
    api.patch(reverse("tenancy-api:membership-detail", args=["acme", membership.pk]), {"role": "member"})
    api.force_authenticate(world.user("auditor"))

    def ids(**query):
        return [e["id"] for e in api.get(events_url(**query)).data["results"]]

    update = AuditEvent.objects.get(action="update", object_id=str(membership.pk))
    assert ids(action="update") == [update.pk]
    assert ids(object_type="tenancy.membership", object_id=membership.pk, action="update") == [update.pk]
    assert ids(actor="adam", action="update") == [update.pk]
    assert ids(request_id=update.request_id, action="update") == [update.pk]
    assert set(ids(action="api_request")) == set(
        AuditEvent.objects.filter(organization=world.org, action="api_request").values_list("pk", flat=True)
    )
    since = update.timestamp.isoformat().replace("+00:00", "Z")
    assert update.pk in ids(since=since)
    assert update.pk not in ids(until=since)
    assert api.get(events_url(action="nonsense")).status_code == 400


def test_search_by_object_actor_and_path(world, api):
    api.force_authenticate(world.user("owner"))
    api.post(reverse("tenancy-api:invitation-list", args=["acme"]), {"email": "z@example.com"}, format="json")
    api.force_authenticate(world.user("auditor"))
    found = api.get(events_url(search="/invitations/")).data["results"]
    assert [(e["action"], e["extra"]["path"]) for e in found] == [("api_request", "/api/v1/orgs/acme/invitations/")]
    found = api.get(events_url(search="olivia")).data["results"]
    assert all("olivia" in e["actor_name"] + e["object_repr"] for e in found)
    assert {e["action"] for e in found if e["actor_name"] == "olivia"} == {"create", "api_request"}


# --- Pagination --------------------------------------------------------------------------------------------------


def test_cursor_pagination_walks_every_event_once_newest_first(world, api):
    for number in range(30):
        write_event("api_request", organization_id=world.org.pk, extra={"n": number})
    api.force_authenticate(world.user("auditor"))
    seen, url = [], events_url(limit=7)
    while url:
        page = api.get(url).data
        assert "count" not in page  # a cursor, not an offset: stable while events keep arriving
        seen += [(e["timestamp"], e["id"]) for e in page["results"]]
        url = page["next"]
    assert len(seen) == len(set(seen)) == AuditEvent.objects.filter(organization=world.org).count()
    assert seen == sorted(seen, reverse=True)


# --- Exports -----------------------------------------------------------------------------------------------------


def test_csv_export_streams_every_matching_event_oldest_first(world, api):
    odd = make_user("-2+3")  # a username a spreadsheet would evaluate
    Membership.objects.create(user=odd, organization=world.org, role="viewer")
    api.force_authenticate(world.user("auditor"))
    response = api.get(export_url("csv", query="?object_type=tenancy.membership"))
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-acme-')
    rows = list(csv.DictReader(io.StringIO(body(response))))
    expected = AuditEvent.objects.filter(organization=world.org, object_type="tenancy.membership").order_by("id")
    assert [int(r["id"]) for r in rows] == [e.pk for e in expected]
    last = rows[-1]
    assert last["object_repr"] == "'-2+3 in Acme Corp (viewer)"
    assert json.loads(last["after"])["role"] == "viewer"
    assert last["before"] == ""
    assert (last["hash"], last["key_id"]) == (expected.last().hash, expected.last().key_id)


def test_jsonl_export_is_one_event_per_line(world, api):
    api.force_authenticate(world.user("admin"))
    response = api.get(export_url("jsonl", query="?action=create"))
    assert response["Content-Type"] == "application/jsonl; charset=utf-8"
    lines = [json.loads(line) for line in body(response).splitlines()]
    expected = AuditEvent.objects.filter(organization=world.org, action="create").order_by("id")
    assert [line["id"] for line in lines] == [e.pk for e in expected]
    assert all(line["organization"] == "acme" and line["action"] == "create" for line in lines)


def test_exports_honour_the_accept_header(world, api):
    api.force_authenticate(world.user("auditor"))
    assert api.get(export_url("csv"), HTTP_ACCEPT="text/csv").status_code == 200
    assert api.get(export_url("jsonl"), HTTP_ACCEPT="application/jsonl").status_code == 200
    api.force_authenticate(world.user("viewer"))
    denied = api.get(export_url("csv"), HTTP_ACCEPT="text/csv")
    assert denied.status_code == 403
    assert "does not allow" in json.loads(denied.content)["detail"]


def test_the_schema_documents_the_log(world, client):
    client.force_login(world.user("auditor"))
    schema = client.get("/api/schema/").content
    assert b"/api/v1/orgs/{org_slug}/audit/events/" in schema
    assert b"/api/v1/orgs/{org_slug}/audit/events/export.csv/" in schema
