"""Bad filters and forged cursors on the audit log are a 4xx with a message, never a 500; the exports check
them before they start streaming, so a bad one is a 400 instead of a download cut short."""

import base64
import json
from datetime import timedelta, timezone

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from audit.api.serializers import AuditEventSerializer
from audit.models import AuditEvent
from audit.services import write_event
from stoneage.api import encode_cursor, sort_keys

pytestmark = pytest.mark.django_db

#: Date-times Python parses whose instant leaves the calendar once moved to UTC (PostgreSQL, which refuses
#: offsets past ±15:59 anyway, answered them with a 500).
OUT_OF_RANGE = ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59")
MALFORMED = ("garbage", "2024-13-45", "2024-01-01T25:00:00")


@pytest.fixture
def auditor(world) -> APIClient:
    client = APIClient()
    client.force_authenticate(world.user("auditor"))
    return client


def events_url() -> str:
    return reverse("audit-api:event-list", args=["acme"])


def export_url(kind: str) -> str:
    return reverse(f"audit-api:event-export-{kind}", args=["acme"])


def cursor(position: str, pk=1) -> str:
    """A cursor as the list hands them out, with a forged timestamp."""
    return encode_cursor(sort_keys(AuditEvent.objects.all()), [position, pk])


@pytest.mark.parametrize("value", OUT_OF_RANGE + MALFORMED)
@pytest.mark.parametrize("parameter", ["since", "until"])
def test_a_date_filter_the_database_cannot_take_is_a_400(world, auditor, parameter, value):
    response = auditor.get(events_url(), {parameter: value})
    assert response.status_code == 400, response.content
    assert parameter in response.data


def test_date_filters_with_offsets_still_select_by_instant(world, auditor):
    event = write_event("api_request", organization_id=world.org.pk)
    stamp = event.timestamp
    # The same instant with offsets PostgreSQL would refuse as written (past ±15:59).
    for offset in (timedelta(hours=23, minutes=59), timedelta(hours=-18)):
        text = stamp.astimezone(timezone(offset)).isoformat()
        response = auditor.get(events_url(), {"since": text})
        assert response.status_code == 200, (text, response.content)
        assert event.pk in [e["id"] for e in response.data["results"]]
        response = auditor.get(events_url(), {"until": text})
        assert event.pk not in [e["id"] for e in response.data["results"]]


@pytest.mark.parametrize(
    "position", ["9999-12-31T23:59:59-23:59", "notadate", "2024-01-01\x00", "2024-01-01T00:00:00", None, 5]
)
def test_a_forged_cursor_is_an_invalid_cursor(world, auditor, position):
    response = auditor.get(events_url(), {"cursor": cursor(position)})
    assert response.status_code == 404, response.content
    assert response.data == {"detail": "Invalid cursor"}


@pytest.mark.parametrize(
    "forged",
    [
        "garbage",
        base64.urlsafe_b64encode(b"p=2024-01-01T00:00:00Z").decode(),  # the cursors of earlier releases
        base64.urlsafe_b64encode(
            json.dumps({"k": ["-timestamp", "-id"], "v": ["2024-01-01T00:00:00Z"]}).encode()
        ).decode(),
        base64.urlsafe_b64encode(json.dumps({"k": ["-id"], "v": [1], "r": False}).encode()).decode(),
    ],
    ids=["not-base64-json", "old-format", "missing-values", "other-ordering"],
)
def test_a_cursor_of_another_shape_is_an_invalid_cursor(world, auditor, forged):
    response = auditor.get(events_url(), {"cursor": forged})
    assert response.status_code == 404, response.content
    assert response.data == {"detail": "Invalid cursor"}


@pytest.mark.parametrize("pk", [2**63, -(2**63) - 1, "1\x00", 1.5])
def test_a_forged_id_in_a_cursor_is_an_invalid_cursor(world, auditor, pk):
    response = auditor.get(events_url(), {"cursor": cursor("2024-01-01T00:00:00+00:00", pk)})
    assert response.status_code == 404, response.content


def test_a_cursor_position_with_any_offset_is_taken_as_its_instant(world, auditor):
    write_event("api_request", organization_id=world.org.pk)
    response = auditor.get(events_url(), {"cursor": cursor("2999-01-01T00:00:00+16:30")})
    assert response.status_code == 200, response.content
    assert response.data["results"]


def test_real_cursors_still_page(world, auditor):
    for number in range(5):
        write_event("api_request", organization_id=world.org.pk, extra={"n": number})
    first = auditor.get(events_url(), {"limit": 2}).data
    second = auditor.get(first["next"]).data
    assert second["results"]
    assert not {e["id"] for e in first["results"]} & {e["id"] for e in second["results"]}
    assert auditor.get(second["previous"]).data["results"] == first["results"]


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
@pytest.mark.parametrize(
    "query",
    [{"since": OUT_OF_RANGE[0]}, {"until": "garbage"}, {"action": "bogus"}, {"search": "\x00"}, {"actor": "\x00"}],
    ids=["since-out-of-range", "until-malformed", "unknown-action", "search-nul", "actor-nul"],
)
def test_an_export_with_a_bad_filter_is_a_400_before_it_streams(world, auditor, kind, query):
    response = auditor.get(export_url(kind), query)
    assert response.status_code == 400, response
    assert not response.streaming
    assert json.loads(response.content)


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_an_export_of_nothing_is_an_empty_download(world, auditor, kind):
    response = auditor.get(export_url(kind), {"object_type": "no.such"})
    assert response.status_code == 200
    assert response.streaming
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines == ([",".join(AuditEventSerializer.Meta.fields)] if kind == "csv" else [])


def test_a_huge_page_size_is_capped(world, auditor):
    response = auditor.get(events_url(), {"limit": str(10**30)})
    assert response.status_code == 200
    assert len(response.data["results"]) <= 500
