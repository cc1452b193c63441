import csv
import json
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import filters, renderers
from rest_framework.decorators import action

from audit.api.serializers import AuditEventSerializer
from audit.filtersets import AuditEventFilterSet
from audit.models import AuditEvent
from stoneage.api import KeysetPagination
from stoneage.filters import FilterBackend
from tenancy.api.base import OrgScopedViewSet
from tenancy.roles import AUDIT_READERS


class AuditEventPagination(KeysetPagination):
    """Newest first (the model's order: `-timestamp`, `-id`), read backwards along a timestamp index."""

    max_page_size = 500
    page_size_query_description = "Events per page (at most 500)."


class _ExportRenderer(renderers.BaseRenderer):
    """Lets clients ask for the export's media type; the export itself streams. Errors render as JSON."""

    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode()


class CSVRenderer(_ExportRenderer):
    media_type = "text/csv"
    format = "csv"


class JSONLinesRenderer(_ExportRenderer):
    media_type = "application/jsonl"
    format = "jsonl"


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True, separators=(",", ":"))
    value = str(value)
    # A cell a spreadsheet would run as a formula gets a leading quote.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


class AuditEventViewSet(OrgScopedViewSet):
    """The organization's audit log (owners, admins and auditors). Read-only: events are never changed.

    Newest first, with cursor pagination; `export.csv` and `export.jsonl` stream every matching event,
    oldest first, with the same filters and search.
    """

    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    http_method_names = ["get", "head", "options"]
    read_roles = AUDIT_READERS
    filter_backends = [FilterBackend, filters.SearchFilter]
    filterset_class = AuditEventFilterSet
    search_fields = ["object_id", "object_repr", "actor_name", "request_id", "extra__path"]
    pagination_class = AuditEventPagination

    def _export_rows(self) -> Iterator[dict]:
        """Every matching event, oldest first. The filters are checked, and the query tried, here, before the
        response starts: once it streams, an error can only cut the download short."""
        events = self.filter_queryset(self.get_queryset()).order_by("timestamp", "id")
        events.exists()
        serializer = AuditEventSerializer()
        return (serializer.to_representation(event) for event in events.iterator(chunk_size=1000))

    def _stream(self, chunks: Iterable[str], content_type: str, extension: str) -> StreamingHttpResponse:
        filename = f"audit-{self.organization.slug}-{timezone.now():%Y%m%dT%H%M%SZ}.{extension}"
        return StreamingHttpResponse(
            chunks,
            content_type=content_type,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @extend_schema(
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV, one row per event")}
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="export.csv",
        url_name="export-csv",
        renderer_classes=[renderers.JSONRenderer, CSVRenderer],
    )
    def export_csv(self, request, org_slug=None):
        columns = AuditEventSerializer.Meta.fields
        rows = self._export_rows()

        def lines() -> Iterator[str]:
            writer = csv.writer(_Echo())
            yield writer.writerow(columns)
            for row in rows:
                yield writer.writerow([_csv_cell(row[column]) for column in columns])

        return self._stream(lines(), "text/csv; charset=utf-8", "csv")

    @extend_schema(
        responses={(200, "application/jsonl"): OpenApiResponse(OpenApiTypes.STR, description="One JSON event per line")}
    )
    @action(
        detail=False,
        methods=["get"],
        url_path="export.jsonl",
        url_name="export-jsonl",
        renderer_classes=[renderers.JSONRenderer, JSONLinesRenderer],
    )
    def export_jsonl(self, request, org_slug=None):
        lines = (json.dumps(row, sort_keys=True) + "\n" for row in self._export_rows())
        return self._stream(lines, "application/jsonl; charset=utf-8", "jsonl")
