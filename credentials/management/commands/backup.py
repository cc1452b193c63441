from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from stoneage import backup


class Command(BaseCommand):
    help = (
        "Write one archive (tar.gz) of the whole platform: the database as one consistent snapshot, the operator "
        "and account JWTs, the uploaded media and a manifest. Secrets stay sealed: keep STONEAGE_SECRET_KEYS "
        "and STONEAGE_AUDIT_KEYS apart from the archive."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", required=True, help="Archive to write (e.g. stoneage-2025-01-31.tar.gz).")

    def handle(self, *args, output, **options):
        path = Path(output).expanduser()
        if path.is_dir():
            raise CommandError(f"{path} is a directory: name the archive file to write.")
        try:
            manifest = backup.write_backup(path)
        except OSError as exc:
            raise CommandError(f"Cannot write {path}: {exc.strerror or exc}.") from exc
        info = backup.BackupInfo(
            id=path.name.removesuffix(backup.SUFFIX), created=manifest["created"], size=path.stat().st_size, path=path
        )
        backup.record_created(info, manifest=manifest)
        self.stdout.write(self.style.SUCCESS(f"Wrote {path} ({info.size} bytes): {backup.summary(manifest)}."))
