from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from stoneage import backup

#: Exit code when the database is not empty (1: anything else that stops the restore).
NOT_EMPTY = 3


class Command(BaseCommand):
    help = (
        "Restore an archive written by `backup` into a fresh database (nothing but what migrate, bootstrap and a "
        "first superuser create). Needs the same STONEAGE_SECRET_KEYS and STONEAGE_AUDIT_KEYS as the installation "
        "that wrote it. Then run `nats_reconcile` to fill the NATS resolver. Exit code 3: the database is not empty."
    )

    def add_arguments(self, parser):
        parser.add_argument("archive", help="The .tar.gz written by `manage.py backup`.")

    def handle(self, *args, archive, **options):
        path = Path(archive).expanduser()
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        try:
            result = backup.restore_backup(path)
        except backup.DatabaseNotEmpty as exc:
            raise CommandError(str(exc), returncode=NOT_EMPTY) from exc
        except backup.BackupError as exc:
            raise CommandError(str(exc)) from exc
        manifest = result.manifest
        self.stdout.write(
            f"Restored the backup of {manifest.get('created')} (release {manifest.get('version')}): "
            f"{sum(result.counts.values())} rows, {result.media_files} media file(s)."
        )
        if result.replaced:
            replaced = ", ".join(f"{count} {label}" for label, count in sorted(result.replaced.items()))
            self.stdout.write(f"Replaced the fresh installation's {replaced}.")
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.accounts_to_push} NATS account(s) are marked for pushing: run `manage.py nats_export` "
                "for the servers' configuration, then `manage.py nats_reconcile` (or let the beat push them)."
            )
        )
