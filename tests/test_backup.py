"""`manage.py backup` and `manage.py restore`: one archive, restored into a fresh database, gives back every row
as stored (sealed secrets still open, the audit chains still verify); anything else is refused with a sentence."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent
from credentials import secrets
from credentials.models import Account, CertificateAuthority, NatsUser
from stoneage import backup
from tests.support.platform import build_platform, row_counts, table_rows
from tests.support.world import make_user

pytestmark = pytest.mark.django_db(transaction=True)


def flush() -> None:
    call_command("flush", interactive=False, verbosity=0)


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def rewrite(archive: Path, target: Path, change) -> Path:
    """A copy of `archive` with `change(name, bytes) -> bytes` applied to each member."""
    with tarfile.open(archive, "r:gz") as source, tarfile.open(target, "w:gz") as out:
        for member in source:
            data = change(member.name, source.extractfile(member).read())
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))
    return target


@pytest.fixture
def archive(tmp_path):
    platform = build_platform()
    before = table_rows()
    image = default_storage.open(platform.floorplan.image.name).read()
    path = tmp_path / "platform.tar.gz"
    run("backup", "--output", str(path))
    return {"path": path, "rows": before, "image": image, "platform": platform}


def test_a_restore_into_a_flushed_database_gives_back_every_row_as_stored(archive):
    flush()
    default_storage.delete(archive["platform"].floorplan.image.name)

    output = run("restore", str(archive["path"]))

    after = table_rows()
    assert "NATS account(s) are marked for pushing" in output
    restored = {label: rows for label, rows in after.items() if not label.startswith(("audit.", "credentials.account"))}
    assert restored == {label: rows for label, rows in archive["rows"].items() if label in restored}
    # The audit log as it was, plus one event on the platform chain: the restore.
    events = archive["rows"]["audit.auditevent"]
    assert after["audit.auditevent"][: len(events)] == events
    restore_event = AuditEvent.objects.order_by("-id").first()
    assert len(after["audit.auditevent"]) == len(events) + 1
    assert (restore_event.action, restore_event.chain) == ("bulk_create", "platform")
    heads = {row[0]: row[1] for row in archive["rows"]["audit.auditchainhead"]}
    assert {row[0]: row[1] for row in after["audit.auditchainhead"]} == {**heads, "platform": heads["platform"] + 1}
    # Accounts come back as stored, all of them waiting for a push into the (new) resolver.
    columns = [f.attname for f in Account._meta.local_concrete_fields]
    kept = [i for i, name in enumerate(columns) if name not in {"pushed_revision", "push_lease_until"}]
    assert [[row[i] for i in kept] for row in after["credentials.account"]] == [
        [row[i] for i in kept] for row in archive["rows"]["credentials.account"]
    ]
    assert all(a.push_pending for a in Account.objects.all())
    # Sealed secrets open with the configured key, bound to their restored rows.
    device = NatsUser.objects.get(pk=archive["platform"].device.pk)
    assert secrets.reveal(device, "seed").startswith("SU")
    assert "PRIVATE KEY" in secrets.reveal(CertificateAuthority.objects.first(), "key")
    assert default_storage.open(archive["platform"].floorplan.image.name).read() == archive["image"]
    assert "chain(s) verified" in run("verify_audit")


def test_the_archive_holds_the_trust_chain_a_manifest_and_no_plaintext_secret(archive):
    platform = archive["platform"]
    with tarfile.open(archive["path"], "r:gz") as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
        account = Account.objects.get(organization=platform.world.org)
        assert tar.extractfile(f"nats/accounts/{account.public_key}.jwt").read().decode() == account.jwt
        everything = b"".join(tar.extractfile(m).read() for m in tar if m.isfile())
    assert names[0] == "manifest.json"
    assert archive["path"].stat().st_mode & 0o077 == 0, "only the owner may read a backup"
    assert "nats/operator.jwt" in names and f"media/{platform.floorplan.image.name}" in names
    assert manifest["counts"]["tenancy.organization"] == 2
    assert manifest["counts"] == {label: len(rows) for label, rows in archive["rows"].items()}
    assert manifest["secret_key_ids"] == [secrets.primary_key_id()]
    assert "tenancy" in manifest["migrations"] and manifest["files"]
    seed = secrets.reveal(NatsUser.objects.get(pk=platform.device.pk), "seed").encode()
    assert seed not in everything
    assert b"PRIVATE KEY" not in everything


def test_a_database_with_data_is_refused_with_exit_code_3(archive):
    counts = row_counts()
    with pytest.raises(CommandError) as refused:
        call_command("restore", str(archive["path"]))
    assert refused.value.returncode == 3
    assert "The database is not empty" in str(refused.value) and "tenancy.organization" in str(refused.value)
    assert row_counts() == counts


def test_a_fresh_installation_is_replaced_by_the_backup(archive):
    from credentials.services import nats as svc

    flush()
    svc.bootstrap()  # another operator identity, as a first boot makes it
    make_user("newroot", superuser=True)
    assert backup.occupied() == {}

    result = backup.restore_backup(archive["path"], actor_name="newroot")

    assert result.replaced["auth.user"] == 1 and result.replaced["credentials.operator"] == 1
    assert table_rows()["credentials.operator"] == archive["rows"]["credentials.operator"]
    assert not type(archive["platform"].world.superuser).objects.filter(username="newroot").exists()
    assert "chain(s) verified" in run("verify_audit")


def test_an_archive_sealed_with_other_keys_is_refused(archive, settings):
    flush()
    settings.STONEAGE_SECRET_KEYS = [secrets.generate_key()]
    with pytest.raises(backup.KeysMissing, match="STONEAGE_SECRET_KEYS does not hold"):
        backup.restore_backup(archive["path"])
    assert ContentType.objects.exists() and not Account.objects.exists()


def test_a_damaged_or_foreign_archive_is_refused(archive, tmp_path):
    flush()
    damaged = rewrite(
        archive["path"],
        tmp_path / "damaged.tar.gz",
        lambda name, data: data.replace(b"Acme Corp", b"Evil Corp") if name.endswith("organization.jsonl") else data,
    )
    with pytest.raises(CommandError, match="does not match its checksum"):
        call_command("restore", str(damaged))
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not an archive")
    with pytest.raises(CommandError, match="not a readable Stone Age backup"):
        call_command("restore", str(junk))
    with pytest.raises(CommandError, match="is not a file"):
        call_command("restore", str(tmp_path / "missing.tar.gz"))
    assert not Account.objects.exists()


def test_an_archive_from_another_schema_is_refused_with_the_way_out(archive, tmp_path):
    flush()

    def add_migration(name, data):
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        manifest["migrations"]["tenancy"].append("9999_from_the_future")
        return json.dumps(manifest).encode()

    future = rewrite(archive["path"], tmp_path / "future.tar.gz", add_migration)
    with pytest.raises(backup.SchemaMismatch, match="tenancy.9999_from_the_future.*run `manage.py migrate`"):
        backup.restore_backup(future)
