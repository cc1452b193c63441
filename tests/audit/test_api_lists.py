"""The audit log's list at scale: keyset pages newest first, queries that do not grow with events, indexes."""

import pytest
from django.db import connection
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEvent
from audit.services import write_event
from tests.support.lists import page_queries, queries_of, token_client, walk, walk_back

pytestmark = pytest.mark.django_db


def events_url(slug="acme") -> str:
    return reverse("audit-api:event-list", args=[slug])


@pytest.fixture
def auditor(world) -> APIClient:
    client = APIClient()
    client.force_authenticate(world.user("auditor"))
    return client


def newest_first(org, **filters) -> list[int]:
    events = AuditEvent.objects.filter(organization=org, **filters).order_by("-timestamp", "-id")
    return list(events.values_list("id", flat=True))


def write(world, count: int, **fields) -> None:
    for number in range(count):
        write_event(fields.pop("action", "api_request"), organization_id=world.org.pk, extra={"n": number}, **fields)


def test_a_page_costs_the_same_queries_over_a_few_and_50_events(world, auditor):
    def events() -> int:
        return AuditEvent.objects.filter(organization=world.org).count()

    assert 5 <= events() <= 10  # building the world wrote a few
    small = queries_of(lambda: auditor.get(events_url(), {"limit": 100}))
    write(world, 50 - events())
    assert events() == 50
    large = queries_of(lambda: auditor.get(events_url(), {"limit": 100}))
    assert len(large) == len(small), "\n".join(large)


def test_a_page_is_two_queries_with_a_token_or_signed_in(world, auditor):
    write(world, 6)
    # The token with its user, organization and role there; the page. Reading the log writes nothing to it.
    client = token_client(world.user("auditor"), world.org)
    events = AuditEvent.objects.count()
    with_token = page_queries(client, events_url())
    assert len(with_token) == 2, "\n".join(with_token)
    assert AuditEvent.objects.count() == events
    # The organization with the role there; the page.
    signed_in = page_queries(auditor, events_url())
    assert len(signed_in) == 2, "\n".join(signed_in)


def test_pages_follow_cursors_newest_first_and_back(world, auditor):
    write(world, 11)
    everything = newest_first(world.org)
    ids, pages = walk(auditor, events_url(), {"limit": 4})
    assert ids == everything
    assert pages[0]["previous"] is None and pages[-1]["next"] is None
    assert walk_back(auditor, pages[-1]) == everything[: -len(pages[-1]["results"])]


def test_filters_and_search_hold_on_every_page(world, auditor):
    write(world, 4)
    for number in range(5):
        write_event("credential_read", organization_id=world.org.pk, object_repr=f"pump-{number}")
    assert walk(auditor, events_url(), {"limit": 2, "action": "credential_read"})[0] == newest_first(
        world.org, action="credential_read"
    )
    found = walk(auditor, events_url(), {"limit": 2, "search": "pump-"})[0]
    assert found == newest_first(world.org, object_repr__startswith="pump-") and len(found) == 5


def test_another_organizations_events_never_appear(world, auditor):
    write(world, 3)
    foreign = write_event("api_request", organization_id=world.other_org.pk)
    ids, _ = walk(auditor, events_url(), {"limit": 2})
    assert foreign.pk not in ids and ids == newest_first(world.org)
    assert auditor.get(events_url("globex")).status_code == 404


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram indexes are PostgreSQL's")
def test_the_search_fields_have_trigram_indexes():
    from audit.api.views import AuditEventViewSet

    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'audit_auditevent'")
        definitions = [row[0] for row in cursor.fetchall() if "gin_trgm_ops" in row[0]]
    assert len(definitions) == len(AuditEventViewSet.search_fields)
