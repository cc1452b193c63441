"""Bulk import and export of an organization's inventory over the API.

- `POST /api/v1/orgs/<slug>/inventory/import/`: a multipart upload (`file`, with `format` and `kind` for CSV) or
  the file as the body (`application/json`: a document; `text/csv` with `?kind=`). `?dry_run=1` checks every row
  and answers the errors and counts, writing nothing. Owners, admins and members import locations and things;
  thing types, message schemas, location types and identities (`nats: auto`, inactive things) need an owner or
  an admin. 201 when imported, 200 for a dry run, 400 with every bad row (or one sentence for a bad file).
- `GET /api/v1/orgs/<slug>/inventory/export/?format=json|csv&kind=...`: every role; CSV is one kind a request.
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.context import set_organization
from inventory import bulk
from tenancy.api.base import resolve_organization
from tenancy.roles import ALL_ROLES, EDITORS, MANAGERS

#: The largest file an import reads.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
_TRUE = ("1", "true", "yes")


class FileFormatNegotiation(DefaultContentNegotiation):
    """`?format=` names the file's format here (json or csv), not a renderer: answers are JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class OrgBulkView(APIView):
    permission_classes = [permissions.IsAuthenticated]
    content_negotiation_class = FileFormatNegotiation
    roles: frozenset[str] = ALL_ROLES

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.organization, self.role = resolve_organization(request, kwargs["org_slug"])
        set_organization(self.organization)
        if self.role not in self.roles:
            raise PermissionDenied("Your role in this organization does not allow this action.")


def _bad_file(message: str) -> Response:
    return Response({"detail": message}, status=status.HTTP_400_BAD_REQUEST)


class InventoryImportView(OrgBulkView):
    roles = EDITORS
    parser_classes = []  # the body is read as the file itself, or as a multipart upload

    @extend_schema(
        operation_id="inventory_import",
        summary="Import inventory (all or nothing)",
        request={
            "multipart/form-data": OpenApiTypes.OBJECT,
            "application/json": OpenApiTypes.OBJECT,
            "text/csv": OpenApiTypes.STR,
        },
        parameters=[
            OpenApiParameter("dry_run", OpenApiTypes.BOOL, description="Check and report; write nothing."),
            OpenApiParameter("format", OpenApiTypes.STR, enum=list(bulk.FORMATS)),
            OpenApiParameter("kind", OpenApiTypes.STR, enum=list(bulk.KINDS), description="What a CSV file holds."),
        ],
        responses={
            201: OpenApiResponse(OpenApiTypes.OBJECT, description="Imported: counts."),
            200: OpenApiResponse(OpenApiTypes.OBJECT, description="Dry run: counts and errors."),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Bad rows (each with its line) or a bad file."),
        },
    )
    def post(self, request, org_slug: str):
        try:
            content, fmt, kind, filename = self.upload(request)
            source = bulk.read(content, fmt, kind)
        except bulk.FileError as exc:
            return _bad_file(str(exc))
        reasons = source.manager_reasons()
        if reasons and self.role not in MANAGERS:
            raise PermissionDenied(f"Only an owner or an admin may run this import: {'; '.join(reasons)}.")
        dry_run = request.query_params.get("dry_run", "").lower() in _TRUE
        result = bulk.import_inventory(self.organization, source, dry_run=dry_run, filename=filename)
        if result.errors:
            return Response(result.as_dict(), status=status.HTTP_400_BAD_REQUEST)
        return Response(result.as_dict(), status=status.HTTP_200_OK if dry_run else status.HTTP_201_CREATED)

    def upload(self, request) -> tuple[bytes, str, str | None, str]:
        params = request.query_params
        content_type = (request.content_type or "").split(";")[0].strip().lower()
        if content_type == "multipart/form-data":
            upload = request._request.FILES.get("file")
            if upload is None:
                raise bulk.FileError("Attach the file as the form field 'file'.")
            if upload.size > MAX_UPLOAD_BYTES:
                raise bulk.FileError(f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB.")
            form = request._request.POST
            fmt = form.get("format") or params.get("format") or bulk.guess_format(upload.name)
            kind = form.get("kind") or params.get("kind") or bulk.guess_kind(upload.name)
            return upload.read(), fmt or "", kind, upload.name
        formats = {"application/json": "json", "text/csv": "csv"}
        if content_type not in formats:
            raise bulk.FileError("Send a multipart upload, an application/json document or a text/csv file.")
        return request._request.body, formats[content_type], params.get("kind"), ""


class InventoryExportView(OrgBulkView):
    roles = ALL_ROLES

    @extend_schema(
        operation_id="inventory_export",
        summary="Export inventory",
        parameters=[
            OpenApiParameter("format", OpenApiTypes.STR, enum=list(bulk.FORMATS)),
            OpenApiParameter("kind", OpenApiTypes.STR, enum=list(bulk.KINDS), description="Required for CSV."),
        ],
        responses={
            (200, "application/json"): OpenApiTypes.OBJECT,
            (200, "text/csv"): OpenApiTypes.STR,
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="Unknown format or kind."),
        },
    )
    def get(self, request, org_slug: str):
        fmt = request.query_params.get("format", "json")
        kind = request.query_params.get("kind")
        if fmt not in bulk.FORMATS:
            return _bad_file(f"Unknown format {fmt!r}; use json or csv.")
        if kind is not None and kind not in bulk.KINDS:
            return _bad_file(f"Unknown kind {kind!r}; use one of {', '.join(bulk.KINDS)}.")
        slug = self.organization.slug
        if fmt == "json":
            if kind:
                return _bad_file("A JSON export holds every kind; leave out kind, or ask for format=csv.")
            response = HttpResponse(bulk.export_json(self.organization), content_type="application/json")
            response["Content-Disposition"] = f'attachment; filename="{slug}-inventory.json"'
            return response
        if not kind:
            return _bad_file(f"A CSV export holds one kind: add kind= ({', '.join(bulk.KINDS)}).")
        response = HttpResponse(bulk.export_csv(self.organization, kind), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{slug}-{kind}.csv"'
        return response
