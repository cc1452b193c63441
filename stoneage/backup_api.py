"""Platform backups over the API (`/api/v1/platform/backups/`), for platform operators only: superusers signed
in, or with a platform token. Organization tokens never reach them, whoever holds them.

Archives are written to BACKUP_ROOT by `stoneage.backup`, the module `manage.py backup` and `restore` use. Every
creation, download and restore is an audit event.
"""

from __future__ import annotations

from django.http import FileResponse, Http404
from django.urls import path
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.context import set_actor
from stoneage import backup
from tenancy.api.base import is_platform_operator


class IsPlatformOperator(permissions.IsAuthenticated):
    message = "Only platform operators (superusers, signed in or with a platform token) manage backups."

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and is_platform_operator(request)


class BackupSerializer(serializers.Serializer):
    id = serializers.CharField(read_only=True)
    created = serializers.CharField(read_only=True, help_text="When the snapshot was taken (ISO 8601).")
    size = serializers.IntegerField(read_only=True, help_text="Bytes.")


class RestoreSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="An archive written by `manage.py backup` or this API.")


RestoreResultSerializer = inline_serializer(
    "RestoreResult",
    {
        "restored_from": serializers.CharField(),
        "version": serializers.CharField(),
        "rows": serializers.IntegerField(),
        "media_files": serializers.IntegerField(),
        "accounts_to_push": serializers.IntegerField(),
        "replaced": serializers.DictField(child=serializers.IntegerField()),
        "detail": serializers.CharField(),
    },
)


def _data(info: backup.BackupInfo) -> dict:
    return {"id": info.id, "created": info.created, "size": info.size}


class BackupListView(APIView):
    """Backups stored on the server, newest first (GET), or a new one (POST): one consistent snapshot of the
    database, the NATS trust chain and the uploaded images. Secrets stay sealed in it."""

    permission_classes = [IsPlatformOperator]

    @extend_schema(responses=BackupSerializer(many=True))
    def get(self, request):
        return Response([_data(info) for info in backup.stored_backups()])

    @extend_schema(request=None, responses={201: BackupSerializer})
    def post(self, request):
        info = backup.create_stored_backup()
        backup.record_created(info, manifest=backup.read_manifest(info.path), request=request)
        return Response(_data(info), status=status.HTTP_201_CREATED)


class BackupDownloadView(APIView):
    permission_classes = [IsPlatformOperator]

    @extend_schema(responses={(200, "application/gzip"): bytes})
    def get(self, request, backup_id: str):
        info = backup.stored_backup(backup_id)
        if info is None:
            raise Http404
        backup.record_downloaded(info, request=request)
        return FileResponse(
            open(info.path, "rb"),  # noqa: SIM115 - FileResponse closes it
            as_attachment=True,
            filename=info.path.name,
            content_type="application/gzip",
        )


class BackupRestoreView(APIView):
    """Restore an uploaded archive into this installation, which must be fresh (nothing but what `migrate`,
    `bootstrap` and a first superuser create): otherwise 409. The archive's people replace this installation's,
    so sign in again with an account of the restored platform afterwards."""

    permission_classes = [IsPlatformOperator]
    parser_classes = [MultiPartParser]

    @extend_schema(request=RestoreSerializer, responses={200: RestoreResultSerializer})
    def post(self, request):
        serializer = RestoreSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        archive = upload.temporary_file_path() if hasattr(upload, "temporary_file_path") else upload.file
        name = request.user.get_username()
        try:
            result = backup.restore_backup(archive, actor_name=name)
        except backup.DatabaseNotEmpty as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        except backup.BackupError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        # The caller's own row was replaced by the archive's people (whose ids it may now name): the rest of
        # this request's audit trail names the caller only.
        set_actor(name=name)
        manifest = result.manifest
        return Response(
            {
                "restored_from": manifest.get("created", ""),
                "version": manifest.get("version", ""),
                "rows": sum(result.counts.values()),
                "media_files": result.media_files,
                "accounts_to_push": result.accounts_to_push,
                "replaced": result.replaced,
                "detail": (
                    "Restored. Every NATS account is marked for pushing: the beat pushes them, or run "
                    "`manage.py nats_reconcile`. Sign in again with an account of the restored platform."
                ),
            }
        )


urlpatterns = [
    path("platform/backups/", BackupListView.as_view(), name="platform-backups"),
    path("platform/backups/restore/", BackupRestoreView.as_view(), name="platform-backup-restore"),
    path("platform/backups/<str:backup_id>/download/", BackupDownloadView.as_view(), name="platform-backup-download"),
]
