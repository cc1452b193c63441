"""Backups of the whole platform into one archive, and their restore into a fresh database.

An archive is a gzip'd tar holding:

- `manifest.json`: format, application version, creation time, database vendor, the migrations applied, row
  counts per model, the ids of the secret and audit keys the data needs, and the SHA-256 of every other member;
- `database/<app_label>.<model>.jsonl`: one file per table (many-to-many tables included), a header line naming
  the columns, then one JSON array per row, in primary-key order. Every column is copied as stored: secrets
  stay sealed (so the archive is useless without `STONEAGE_SECRET_KEYS`), audit events keep their hash chain,
  primary keys are kept (sealed secrets are bound to their row's primary key, audit chains to their
  organization's), and timestamps keep their microseconds (the audit hash covers them; Django's `dumpdata`
  would cut them to milliseconds);
- `nats/operator.jwt` and `nats/accounts/<public key>.jwt`: the trust chain, readable without the database;
- `media/<name>`: the uploaded files the rows refer to (floorplan images).

The dump is read in one transaction (REPEATABLE READ, read only, on PostgreSQL; SQLite's transactions are
serializable), so it is one consistent snapshot. It goes through the ORM's column types rather than a
database's own dump, so an archive taken on SQLite restores on PostgreSQL and the other way round.

A restore needs the same migrations applied as the archive records, and a *fresh* database: nothing in it but
what `migrate`, `bootstrap` and a first superuser leave (superusers, their platform tokens, the NATS operator
and system account, platform audit events). That residue is replaced by the archive in the same transaction,
so an operator can restore through the API on a new installation. Every account is then marked as not yet
pushed: the beat (or `manage.py nats_reconcile`) fills an empty resolver directory with them.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import decimal
import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from django.apps import apps
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.contrib.contenttypes.management import create_contenttypes
from django.contrib.contenttypes.models import ContentType
from django.core import serializers
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, models, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone
from django.utils.duration import duration_iso_string

FORMAT = 1
MANIFEST = "manifest.json"
SUFFIX = ".tar.gz"
#: Backup ids are file names under BACKUP_ROOT (without the suffix).
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")
#: Tables never backed up: sessions are short-lived bearer secrets of the old installation.
EXCLUDED = {"sessions.session"}
#: Tables that `migrate` fills: the archive's rows replace them, so primary keys stay as the data refers to them.
MIGRATE_FILLED = {"contenttypes.contenttype", "auth.permission"}
BATCH = 1000


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


class ArchiveInvalid(BackupError):
    """The file is not a readable archive of this format, or a member does not match its checksum."""


class DatabaseNotEmpty(BackupError):
    """The target database holds data a restore would overwrite."""


class KeysMissing(BackupError):
    """The archive needs secret or audit keys that are not configured."""


class SchemaMismatch(BackupError):
    """The archive was taken at another migration state than the database's."""


@dataclasses.dataclass(frozen=True)
class BackupInfo:
    id: str
    created: str
    size: int
    path: Path


@dataclasses.dataclass(frozen=True)
class RestoreResult:
    manifest: dict
    counts: dict[str, int]
    replaced: dict[str, int]
    media_files: int
    accounts_to_push: int


# --- What is backed up ---------------------------------------------------------------------------------------


def backed_up_models() -> list[type[models.Model]]:
    """Every concrete table of the project (auto-created many-to-many tables included), parents before the
    rows that refer to them."""
    found = [
        model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy and model._meta.label_lower not in EXCLUDED
    ]
    by_app: dict[Any, list] = {}
    for model in found:
        by_app.setdefault(model._meta.app_config, []).append(model)
    ordered = serializers.sort_dependencies(list(by_app.items()), allow_cycles=True)
    return ordered + [m for m in found if m not in ordered]


def columns(model: type[models.Model]) -> list[models.Field]:
    return list(model._meta.local_concrete_fields)


def migration_state(using: str = DEFAULT_DB_ALIAS) -> dict[str, list[str]]:
    state: dict[str, list[str]] = {}
    for app, name in sorted(MigrationRecorder(connections[using]).applied_migrations()):
        state.setdefault(app, []).append(name)
    return state


def application_version() -> str:
    try:
        return metadata.version("stoneage")
    except metadata.PackageNotFoundError:
        return "unknown"


# --- Encoding of column values ---------------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()  # full precision: audit hashes cover the microseconds
    if isinstance(value, dt.timedelta):
        return duration_iso_string(value)
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(f"cannot encode {type(value).__name__}")


def _decoder(field: models.Field):
    if isinstance(field, models.JSONField):
        return lambda value: value
    return lambda value: None if value is None else field.to_python(value)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- Backup ------------------------------------------------------------------------------------------------------


@contextmanager
def snapshot(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """One consistent view of the database for the block. On PostgreSQL a REPEATABLE READ, read-only
    transaction (unless the caller already opened one, whose view is then used)."""
    connection = connections[using]
    outer = connection.in_atomic_block
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql" and not outer:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _dump_table(model: type[models.Model], path: Path, using: str) -> int:
    fields = columns(model)
    rows = models.QuerySet(model, using=using).order_by("pk").values_list(*[f.attname for f in fields])
    count = 0
    with open(path, "w", encoding="utf-8") as out:
        out.write(json.dumps({"model": model._meta.label_lower, "columns": [f.attname for f in fields]}) + "\n")
        for row in rows.iterator(chunk_size=BATCH):
            out.write(json.dumps(row, default=_encode, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
    return count


def _media_names(using: str) -> set[str]:
    names = set()
    for model in backed_up_models():
        for field in columns(model):
            if isinstance(field, models.FileField):
                values = models.QuerySet(model, using=using).exclude(**{field.attname: ""})
                names.update(n for n in values.values_list(field.attname, flat=True) if n)
    return names


def _key_ids(using: str) -> tuple[list[str], list[str]]:
    """Ids of the secret keys that sealed stored values, and of the audit keys that chained events."""
    from audit.models import AuditEvent
    from credentials import secrets

    secret_ids: set[str] = set()
    for field in secrets.encrypted_fields():
        values = models.QuerySet(field.model, using=using).exclude(**{field.attname: ""})
        for token in values.values_list(field.attname, flat=True).iterator(chunk_size=BATCH):
            key = secrets.key_id_of(token)
            if key:
                secret_ids.add(key)
    audit_ids = set(
        models.QuerySet(AuditEvent, using=using).exclude(key_id="").values_list("key_id", flat=True).distinct()
    )
    return sorted(secret_ids), sorted(audit_ids)


def _write_trust_chain(directory: Path, using: str) -> dict[str, str]:
    from credentials.models import Account, Operator

    written = {}
    operator = models.QuerySet(Operator, using=using).first()
    if operator is not None and operator.jwt:
        (directory / "nats").mkdir(exist_ok=True)
        (directory / "nats" / "operator.jwt").write_text(operator.jwt)
        written["operator"] = operator.public_key
    accounts = models.QuerySet(Account, using=using).exclude(jwt="").order_by("pk")
    if accounts.exists():
        (directory / "nats" / "accounts").mkdir(parents=True, exist_ok=True)
    for account in accounts.only("public_key", "jwt"):
        (directory / "nats" / "accounts" / f"{account.public_key}.jwt").write_text(account.jwt)
    return written


def write_backup(output: Path | str, *, using: str = DEFAULT_DB_ALIAS) -> dict:
    """Write the archive to `output` (replaced atomically) and return its manifest."""
    output = Path(output)
    output.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="stoneage-backup-") as scratch:
        root = Path(scratch)
        (root / "database").mkdir()
        counts: dict[str, int] = {}
        with snapshot(using):
            created = timezone.now()
            for model in backed_up_models():
                label = model._meta.label_lower
                counts[label] = _dump_table(model, root / "database" / f"{label}.jsonl", using)
            migrations = migration_state(using)
            secret_ids, audit_ids = _key_ids(using)
            trust = _write_trust_chain(root, using)
            media = sorted(_media_names(using))
            copied = []
            for name in media:
                target = root / "media" / name
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    with default_storage.open(name, "rb") as source, open(target, "wb") as out:
                        shutil.copyfileobj(source, out)
                except FileNotFoundError:
                    continue  # a row pointing at a lost file: the row is kept, the file cannot be
                copied.append(name)
        members = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        manifest = {
            "format": FORMAT,
            "application": "stoneage",
            "version": application_version(),
            "created": created.isoformat(),
            "database_vendor": connections[using].vendor,
            "migrations": migrations,
            "order": list(counts),
            "counts": counts,
            "secret_key_ids": secret_ids,
            "audit_key_ids": audit_ids,
            "operator": trust.get("operator", ""),
            "media": copied,
            "files": {name: {"sha256": _sha256(root / name), "size": (root / name).stat().st_size} for name in members},
        }
        (root / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        partial = output.with_name(f".{output.name}.partial")
        try:
            # Sealed secrets inside: readable by the service's user only.
            partial.touch(mode=0o600)
            with tarfile.open(partial, "w:gz") as tar:
                for name in [MANIFEST, *members]:  # the manifest first, so listing reads only the start
                    tar.add(root / name, arcname=name, recursive=False)
            os.replace(partial, output)
        finally:
            partial.unlink(missing_ok=True)
    return manifest


# --- Reading an archive -------------------------------------------------------------------------------------------


def read_manifest(archive: Path | str | IO[bytes]) -> dict:
    try:
        with _open(archive) as tar:
            member = tar.next()
            if member is None or member.name != MANIFEST or not member.isfile():
                raise ArchiveInvalid("This is not a Stone Age backup: it does not start with manifest.json.")
            manifest = json.load(tar.extractfile(member))
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise ArchiveInvalid(f"This is not a readable Stone Age backup (a .tar.gz): {exc}.") from exc
    if not isinstance(manifest, dict) or manifest.get("application") != "stoneage":
        raise ArchiveInvalid("This is not a Stone Age backup: its manifest is not ours.")
    if manifest.get("format") != FORMAT:
        raise ArchiveInvalid(
            f"Backup format {manifest.get('format')!r} is not supported (this release reads {FORMAT})."
        )
    return manifest


def _open(archive: Path | str | IO[bytes]) -> tarfile.TarFile:
    if isinstance(archive, str | Path):
        return tarfile.open(archive, "r:gz")
    archive.seek(0)
    return tarfile.open(fileobj=archive, mode="r:gz")


def _extract(archive: Path | str | IO[bytes], manifest: dict, into: Path) -> None:
    """Copy every member the manifest lists into `into`, checking its size and checksum. Nothing else is
    written, and names never leave `into`."""
    expected = manifest.get("files")
    if not isinstance(expected, dict):
        raise ArchiveInvalid("The backup's manifest lists no files.")
    seen = set()
    try:
        with _open(archive) as tar:
            for member in tar:
                if member.name == MANIFEST:
                    continue
                if member.name not in expected or not member.isfile():
                    raise ArchiveInvalid(f"The backup holds {member.name!r}, which its manifest does not list.")
                target = (into / member.name).resolve()
                if into.resolve() not in target.parents:
                    raise ArchiveInvalid(f"The backup names a file outside the archive: {member.name!r}.")
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with tar.extractfile(member) as source, open(target, "wb") as out:
                    for chunk in iter(lambda: source.read(1 << 20), b""):  # noqa: B023 - consumed at once
                        digest.update(chunk)
                        out.write(chunk)
                if digest.hexdigest() != expected[member.name].get("sha256"):
                    raise ArchiveInvalid(
                        f"{member.name} in the backup does not match its checksum: the file is damaged."
                    )
                seen.add(member.name)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveInvalid(f"The backup cannot be read to the end: {exc}.") from exc
    missing = sorted(set(expected) - seen)
    if missing:
        raise ArchiveInvalid(f"The backup lacks {len(missing)} file(s) its manifest lists, e.g. {missing[0]}.")


# --- Restore -----------------------------------------------------------------------------------------------------


def _residue_filters() -> dict[str, models.Q | None]:
    """Rows a fresh installation may hold and a restore replaces: what `bootstrap`, a first superuser and their
    own sign-ins leave (None: any row of that table). Any other row makes the database not empty."""
    from audit.models import PLATFORM_CHAIN

    return {
        "auth.user": models.Q(is_superuser=True),
        "tenancy.apitoken": models.Q(platform=True),
        "audit.auditevent": models.Q(chain=PLATFORM_CHAIN),
        "audit.auditchainhead": models.Q(chain=PLATFORM_CHAIN),
        "credentials.operator": None,
        "credentials.operatorsigningkey": None,
        "credentials.account": models.Q(is_system=True),
        "credentials.accountsigningkey": models.Q(account__is_system=True),
        "credentials.natsuser": models.Q(account__is_system=True),
    }


def occupied(using: str = DEFAULT_DB_ALIAS) -> dict[str, int]:
    """Rows that make the database not empty, per model (an empty dict: a restore may proceed)."""
    filters = _residue_filters()
    found = {}
    for model in backed_up_models():
        label = model._meta.label_lower
        if label in MIGRATE_FILLED:
            continue
        rows = models.QuerySet(model, using=using)
        if label in filters:
            if filters[label] is None:
                continue
            rows = rows.exclude(filters[label])
        count = rows.count()
        if count:
            found[label] = count
    return found


def _not_empty_message(found: dict[str, int]) -> str:
    first = sorted(found.items(), key=lambda item: (item[0] != "tenancy.organization", item[0]))
    listed = ", ".join(f"{count} {label}" for label, count in first[:6])
    more = f" and {len(found) - 6} more table(s)" if len(found) > 6 else ""
    return (
        f"The database is not empty ({listed}{more}). A backup restores only into a fresh database: one that "
        "holds nothing but what `migrate`, `bootstrap` and a first superuser create. Restore into a new "
        "database, or empty this one with `manage.py flush` after making sure nothing in it is needed."
    )


def _check_keys(manifest: dict) -> None:
    from audit import keys as audit_keys
    from credentials import secrets

    configured_secrets = {key for key, _ in secrets._keys()}
    missing = sorted(set(manifest.get("secret_key_ids", [])) - configured_secrets)
    if missing:
        raise KeysMissing(
            f"The backup's secrets are sealed with key id(s) {', '.join(missing)}, which STONEAGE_SECRET_KEYS "
            "does not hold: configure the keys of the installation that made the backup, then restore again."
        )
    configured_audit = set(audit_keys.keyring())
    missing = sorted(set(manifest.get("audit_key_ids", [])) - configured_audit)
    if missing:
        raise KeysMissing(
            f"The backup's audit chains are keyed with id(s) {', '.join(missing)}, which STONEAGE_AUDIT_KEYS "
            "does not hold: add those keys (after the current one), then restore again."
        )


def _check_schema(manifest: dict, using: str) -> None:
    archived = {app: set(names) for app, names in manifest.get("migrations", {}).items()}
    current = {app: set(names) for app, names in migration_state(using).items()}
    ahead = sorted(f"{app}.{name}" for app, names in archived.items() for name in names - current.get(app, set()))
    if ahead:
        raise SchemaMismatch(
            f"The backup was taken after migrations this database lacks ({', '.join(ahead[:4])}"
            f"{' …' if len(ahead) > 4 else ''}): run `manage.py migrate` with the release that made it "
            f"({manifest.get('version', 'unknown')}) or a newer one, then restore again."
        )
    behind = sorted(f"{app}.{name}" for app, names in current.items() for name in names - archived.get(app, set()))
    if behind:
        targets = " ".join(
            f"`manage.py migrate {app} {sorted(names)[-1] if names else 'zero'}`"
            for app, names in sorted(archived.items())
            if current.get(app, set()) - names
        )
        raise SchemaMismatch(
            f"The backup was taken before migrations this database has ({', '.join(behind[:4])}"
            f"{' …' if len(behind) > 4 else ''}). Migrate this fresh database back to the backup's state "
            f"({targets or 'see the manifest'}), restore, then run `manage.py migrate` again."
        )


def _rows(path: Path) -> tuple[dict, Iterator[list]]:
    stream = open(path, encoding="utf-8")  # noqa: SIM115 - closed by the generator
    header = json.loads(stream.readline() or "{}")

    def rows() -> Iterator[list]:
        with stream:
            for line in stream:
                if line.strip():
                    yield json.loads(line)

    return header, rows()


def _insert(model: type[models.Model], path: Path, using: str) -> int:
    connection = connections[using]
    fields = columns(model)
    header, rows = _rows(path)
    names = [f.attname for f in fields]
    if header.get("columns") != names:
        raise SchemaMismatch(
            f"{model._meta.label_lower} in the backup has columns {header.get('columns')}, this release {names}: "
            "restore with the release that made the backup."
        )
    decoders = [_decoder(f) for f in fields]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    count = 0
    batch: list[list] = []
    with connection.cursor() as cursor:
        for row in rows:
            values = [
                field.get_db_prep_save(decode(value), connection)
                for field, decode, value in zip(fields, decoders, row, strict=True)
            ]
            batch.append(values)
            if len(batch) >= BATCH:
                cursor.executemany(sql, batch)
                count += len(batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
            count += len(batch)
    return count


def _delete_residue(using: str) -> dict[str, int]:
    """Empty every backed-up table (only the fresh installation's residue and migrate's rows are left)."""
    connection = connections[using]
    replaced = {}
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL stoneage.audit_prune = 'on'")  # the audit trigger lets this delete through
        for model in reversed(backed_up_models()):
            label = model._meta.label_lower
            count = models.QuerySet(model, using=using).count()
            if count:
                cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")  # noqa: S608
                if label not in MIGRATE_FILLED:
                    replaced[label] = count
        for model in (apps.get_model("sessions", "Session"),) if apps.is_installed("django.contrib.sessions") else ():
            cursor.execute(f"DELETE FROM {connection.ops.quote_name(model._meta.db_table)}")  # noqa: S608
    return replaced


def _restore_media(manifest: dict, root: Path) -> int:
    count = 0
    for name in manifest.get("media", []):
        source = root / "media" / name
        if default_storage.exists(name):
            default_storage.delete(name)
        with open(source, "rb") as stream:
            saved = default_storage.save(name, File(stream))
        if saved != name:
            raise BackupError(f"Media file {name} could not be restored under its own name (stored as {saved}).")
        count += 1
    return count


def restore_backup(
    archive: Path | str | IO[bytes], *, actor_name: str = "system:restore", using: str = DEFAULT_DB_ALIAS
) -> RestoreResult:
    """Load `archive` into this fresh database. Raises a `BackupError` subclass, with a message saying what to
    do, when the archive is unreadable, the database not fresh, the schema different or the keys missing."""
    from audit import services as audit_services
    from audit.models import Action
    from credentials.models import Account

    manifest = read_manifest(archive)
    _check_keys(manifest)
    _check_schema(manifest, using)
    found = occupied(using)
    if found:
        raise DatabaseNotEmpty(_not_empty_message(found))
    by_label = {m._meta.label_lower: m for m in backed_up_models()}
    unknown = [label for label in manifest.get("order", []) if label not in by_label]
    if unknown:
        raise SchemaMismatch(f"The backup holds tables this release does not have: {', '.join(unknown)}.")
    with tempfile.TemporaryDirectory(prefix="stoneage-restore-") as scratch:
        root = Path(scratch)
        _extract(archive, manifest, root)
        media = _restore_media(manifest, root)
        counts = {}
        try:
            with transaction.atomic(using=using):
                found = occupied(using)  # again, inside the transaction that writes
                if found:
                    raise DatabaseNotEmpty(_not_empty_message(found))
                replaced = _delete_residue(using)
                for label in manifest["order"]:
                    counts[label] = _insert(by_label[label], root / "database" / f"{label}.jsonl", using)
                _reset_sequences(using, [by_label[label] for label in manifest["order"]])
                ContentType.objects.clear_cache()
                for app_config in apps.get_app_configs():  # rows for models newer than the backup
                    create_contenttypes(app_config, verbosity=0, using=using)
                    create_permissions(app_config, verbosity=0, using=using)
                accounts = models.QuerySet(Account, using=using).update(pushed_revision=0, push_lease_until=None)
                audit_services.write_event(
                    Action.BULK_CREATE,
                    object_type="stoneage.backup",
                    object_repr=f"restore of the backup of {manifest.get('created')}",
                    actor_name=actor_name,
                    extra={
                        "restored_from": manifest.get("created"),
                        "version": manifest.get("version"),
                        "rows": sum(counts.values()),
                        "replaced": replaced,
                    },
                    using=using,
                )
        except IntegrityError as exc:
            raise ArchiveInvalid(f"The backup's rows do not fit together: {exc}.") from exc
        finally:
            ContentType.objects.clear_cache()
    return RestoreResult(manifest, counts, replaced, media, accounts)


def _reset_sequences(using: str, restored: Iterable[type[models.Model]]) -> None:
    connection = connections[using]
    statements = connection.ops.sequence_reset_sql(no_style(), list(restored))
    if statements:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)


# --- Stored backups (BACKUP_ROOT), for the API ---------------------------------------------------------------------


def backup_root() -> Path:
    return Path(settings.BACKUP_ROOT)


def _info(path: Path) -> BackupInfo:
    try:
        created = read_manifest(path).get("created", "")
    except ArchiveInvalid:
        created = dt.datetime.fromtimestamp(path.stat().st_mtime, tz=dt.UTC).isoformat()
    return BackupInfo(id=path.name[: -len(SUFFIX)], created=created, size=path.stat().st_size, path=path)


def create_stored_backup() -> BackupInfo:
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    backup_id = f"stoneage-{stamp}-{uuid.uuid4().hex[:6]}"
    path = backup_root() / f"{backup_id}{SUFFIX}"
    manifest = write_backup(path)
    return BackupInfo(id=backup_id, created=manifest["created"], size=path.stat().st_size, path=path)


def stored_backups() -> list[BackupInfo]:
    root = backup_root()
    if not root.is_dir():
        return []
    found = [_info(p) for p in root.iterdir() if p.is_file() and p.name.endswith(SUFFIX) and not p.name.startswith(".")]
    return sorted(found, key=lambda info: (info.created, info.id), reverse=True)


def stored_backup(backup_id: str) -> BackupInfo | None:
    if not isinstance(backup_id, str) or not ID_PATTERN.match(backup_id):
        return None
    path = backup_root() / f"{backup_id}{SUFFIX}"
    return _info(path) if path.is_file() else None


def summary(manifest: dict) -> str:
    total = sum(manifest.get("counts", {}).values())
    return f"{total} rows in {len(manifest.get('counts', {}))} tables, {len(manifest.get('media', []))} media file(s)"


# --- Audit ---------------------------------------------------------------------------------------------------------


def record_created(info: BackupInfo, *, manifest: dict | None = None, request=None) -> None:
    """A backup was written (by the command or the API)."""
    from audit import services as audit_services
    from audit.models import Action

    extra = {"backup": info.id, "size": info.size}
    if manifest is not None:
        extra["rows"] = sum(manifest.get("counts", {}).values())
    audit_services.write_event(
        Action.CREATE, object_type="stoneage.backup", object_repr=info.id, extra=extra, request=request
    )


def record_downloaded(info: BackupInfo, *, request=None) -> None:
    """A backup left the server: it holds every sealed secret, so it is recorded like a credential read."""
    from audit import services as audit_services
    from audit.models import Action

    audit_services.write_event(
        Action.CREDENTIAL_READ,
        object_type="stoneage.backup",
        object_repr=info.id,
        extra={"kind": "backup", "backup": info.id, "size": info.size},
        request=request,
    )
