"""Platform backups over the API: platform operators only (signed in or with a platform token); every creation,
download and restore is an audit event; a restore goes only into a fresh installation, anything else is a 409."""

from __future__ import annotations

import io
import tarfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from audit.models import AuditEvent
from stoneage import backup
from tenancy import services
from tenancy.models import Organization
from tests.support.authz import assert_access, expect
from tests.support.platform import build_platform, row_counts
from tests.support.world import make_user

#: Only platform operators: every tenant role, the outsider and an organization token are refused.
OPERATORS_ONLY = {"allowed": [], "denied": 403, "outsider": 403, "org_token": 403}

LIST = reverse("platform-backups")
RESTORE = reverse("platform-backup-restore")


def download_url(backup_id: str) -> str:
    return reverse("platform-backup-download", args=[backup_id])


@pytest.fixture(autouse=True)
def backup_root(settings, tmp_path):
    settings.BACKUP_ROOT = tmp_path / "backups"
    return settings.BACKUP_ROOT


def operator_client(world) -> APIClient:
    client = APIClient()
    client.force_authenticate(world.superuser)
    return client


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, object_type="stoneage.backup").order_by("id"))


@pytest.mark.django_db
def test_creating_a_backup_is_for_platform_operators_only_and_audited(world):
    assert_access(world, "post", lambda w: LIST, expect(ok=201, platform_token=201, **OPERATORS_ONLY))
    created = events("create")
    assert len(created) == 2  # the superuser's and the platform token's
    assert {e.actor_name for e in created} == {world.superuser.username}
    listed = operator_client(world).get(LIST).json()
    assert {b["id"] for b in listed} == {e.object_repr for e in created}
    assert all(b["size"] > 0 and b["created"] for b in listed)


@pytest.mark.django_db
def test_listing_and_downloading_are_for_platform_operators_only(world):
    info = backup.create_stored_backup()
    assert_access(world, "get", lambda w: LIST, expect(ok=200, platform_token=200, **OPERATORS_ONLY))
    assert_access(world, "get", lambda w: download_url(info.id), expect(ok=200, platform_token=200, **OPERATORS_ONLY))
    assert len(events("credential_read")) == 2  # only the two allowed downloads


@pytest.mark.django_db
def test_a_download_is_the_archive_and_is_audited(world):
    created = operator_client(world).post(LIST).json()
    response = operator_client(world).get(download_url(created["id"]))
    body = b"".join(response.streaming_content)
    assert response["Content-Disposition"] == f'attachment; filename="{created["id"]}.tar.gz"'
    assert len(body) == created["size"]
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        assert tar.getnames()[0] == "manifest.json"
    [read] = events("credential_read")
    assert read.extra == {"kind": "backup", "backup": created["id"], "size": created["size"]}


@pytest.mark.django_db
@pytest.mark.parametrize("backup_id", ["missing", "..", "../../etc/passwd", "a" * 200, "x%00y"])
def test_an_unknown_or_crafted_id_is_a_404(world, backup_id):
    backup.create_stored_backup()
    response = operator_client(world).get(f"/api/v1/platform/backups/{backup_id}/download/")
    assert response.status_code == 404
    assert events("credential_read") == []


@pytest.mark.django_db
def test_restoring_into_a_platform_with_data_is_a_409_and_changes_nothing(world):
    info = backup.create_stored_backup()
    counts = row_counts()
    upload = SimpleUploadedFile("b.tar.gz", info.path.read_bytes(), "application/gzip")
    response = operator_client(world).post(RESTORE, {"file": upload}, format="multipart")
    assert response.status_code == 409
    assert "The database is not empty" in response.json()["detail"]
    after = row_counts()
    assert after.pop("audit.auditevent") == counts.pop("audit.auditevent") + 1  # the API request itself
    assert after == counts


@pytest.mark.django_db
def test_restoring_is_refused_to_everyone_but_platform_operators(world):
    info = backup.create_stored_backup()

    def upload(w):
        return {"file": SimpleUploadedFile("b.tar.gz", info.path.read_bytes(), "application/gzip")}

    assert_access(
        world, "post", lambda w: RESTORE, expect(ok=409, platform_token=409, **OPERATORS_ONLY), upload, "multipart"
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "No file was submitted"),
        ({"file": SimpleUploadedFile("b.tar.gz", b"not a tarball")}, "not a readable Stone Age backup"),
    ],
)
def test_a_bad_upload_is_a_400_with_a_message(world, data, message):
    response = operator_client(world).post(RESTORE, data, format="multipart")
    assert response.status_code == 400
    assert message in str(response.json())


@pytest.mark.django_db(transaction=True)
def test_a_fresh_installation_restores_an_uploaded_backup(settings):
    platform = build_platform()
    info = backup.create_stored_backup()
    counts = row_counts()
    call_command("flush", interactive=False, verbosity=0)
    root = make_user("newroot", superuser=True)
    _, secret = services.create_platform_token(user=root, name="restore")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")

    upload = SimpleUploadedFile("b.tar.gz", info.path.read_bytes(), "application/gzip")
    response = client.post(RESTORE, {"file": upload}, format="multipart")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (
        body["rows"] == sum(counts.values()) and body["accounts_to_push"] == 3
    )  # SYS and the two organizations' accounts
    assert body["replaced"]["auth.user"] == 1 and body["replaced"]["tenancy.apitoken"] == 1
    assert set(Organization.objects.values_list("slug", flat=True)) == {platform.world.org.slug, "globex"}
    [restored] = AuditEvent.objects.filter(action="bulk_create", object_type="stoneage.backup")
    assert restored.actor_name == "newroot" and restored.actor_id is None
    # The request's own audit event names the caller without pointing at a restored person's id.
    request_event = AuditEvent.objects.filter(action="api_request").order_by("-id").first()
    assert request_event.extra["path"] == RESTORE
    assert (request_event.actor_id, request_event.actor_name) == (None, "newroot")
    # The old token went with the installation it belonged to.
    assert client.get(LIST).status_code == 401
    assert "chain(s) verified" in _verify()


def _verify() -> str:
    out = io.StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()
