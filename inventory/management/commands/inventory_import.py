"""`manage.py inventory_import --org SLUG FILE`: import an inventory file (or a directory of CSV files) into one
organization, all or nothing. Exit status 0 when imported (or a clean dry run), 1 when rows are bad (each listed
with its line), 2 for a file or organization that cannot be used (one sentence)."""

from __future__ import annotations

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from inventory import bulk
from tenancy.models import Organization

#: CSV files of a directory, in the order their rows refer to each other.
ORDER = {kind: i for i, kind in enumerate(bulk.KINDS)}


class Command(BaseCommand):
    help = (
        "Import thing types, location types, locations and things into an organization from a JSON document, a "
        "CSV file of one kind, or a directory of <kind>.csv files. All or nothing: every bad row is listed."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="A .json or .csv file, or a directory of <kind>.csv files.")
        parser.add_argument("--org", required=True, help="Slug of the organization to import into.")
        parser.add_argument("--format", choices=bulk.FORMATS, help="Default: from the file name.")
        parser.add_argument("--kind", choices=bulk.KINDS, help="What a CSV file holds (default: from its name).")
        parser.add_argument("--dry-run", action="store_true", help="Check every row and report; write nothing.")

    def handle(self, *args, **o):
        organization = Organization.objects.filter(slug=o["org"]).first()
        if organization is None:
            raise CommandError(f"No organization has the slug {o['org']!r}.", returncode=2)
        path = Path(o["file"]).expanduser()
        try:
            source = self.read(path, o["format"], o["kind"])
            result = bulk.import_inventory(organization, source, dry_run=o["dry_run"], filename=path.name)
        except bulk.FileError as exc:
            raise CommandError(str(exc), returncode=2) from None
        if result.errors:
            for error in result.errors:
                self.stderr.write(str(error))
            raise CommandError(
                f"{len(result.errors)} bad row(s); nothing was imported into {organization.slug}.", returncode=1
            )
        verb = "Would import" if result.dry_run else "Imported"
        self.stdout.write(f"{verb} {result.summary()} into {organization.slug}.")

    def read(self, path: Path, fmt: str | None, kind: str | None) -> bulk.Source:
        if path.is_dir():
            files = sorted(
                (p for p in path.iterdir() if bulk.guess_kind(p.name) and p.suffix.lower() == ".csv"),
                key=lambda p: ORDER[bulk.guess_kind(p.name)],
            )
            if not files:
                raise bulk.FileError(f"{path} holds no <kind>.csv file ({', '.join(bulk.KINDS)}).")
            source = bulk.Source()
            for file in files:
                source.extend(bulk.read_csv(self.content(file), bulk.guess_kind(file.name)))
            return source
        fmt = fmt or bulk.guess_format(path.name)
        if fmt is None:
            raise bulk.FileError("Give --format json or csv (the file name does not tell).")
        kind = kind or (bulk.guess_kind(path.name) if fmt == "csv" else None)
        return bulk.read(self.content(path), fmt, kind)

    @staticmethod
    def content(path: Path) -> bytes:
        try:
            return sys.stdin.buffer.read() if str(path) == "-" else path.read_bytes()
        except OSError as exc:
            raise bulk.FileError(f"Cannot read {path}: {exc.strerror}.") from None
