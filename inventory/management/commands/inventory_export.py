"""`manage.py inventory_export --org SLUG`: write an organization's inventory as JSON (one document) or CSV (one
file per kind, into a directory; or one kind with --kind), in the format `inventory_import` reads."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from inventory import bulk
from tenancy.models import Organization


class Command(BaseCommand):
    help = "Export an organization's inventory as a JSON document or CSV files, as inventory_import reads them."

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Slug of the organization.")
        parser.add_argument("--format", choices=bulk.FORMATS, default="json")
        parser.add_argument("--kind", choices=bulk.KINDS, help="CSV: one kind only (to stdout without --output).")
        parser.add_argument(
            "--output", help="File to write (JSON, or CSV with --kind); a directory for CSV of every kind."
        )

    def handle(self, *args, **o):
        organization = Organization.objects.filter(slug=o["org"]).first()
        if organization is None:
            raise CommandError(f"No organization has the slug {o['org']!r}.", returncode=2)
        output = Path(o["output"]).expanduser() if o["output"] else None
        if o["format"] == "json":
            self.emit(bulk.export_json(organization), output)
        elif o["kind"]:
            self.emit(bulk.export_csv(organization, o["kind"]), output)
        else:
            if output is None:
                raise CommandError("CSV of every kind is one file per kind: give --output DIR, or --kind.")
            try:
                output.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CommandError(f"Cannot create {output}: {exc.strerror}.", returncode=2) from None
            for kind in bulk.KINDS:
                self.emit(bulk.export_csv(organization, kind), output / f"{kind}.csv")

    def emit(self, text: str, output: Path | None) -> None:
        if output is None:
            self.stdout.write(text, ending="")
            return
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror}.", returncode=2) from None
        self.stderr.write(f"Wrote {output}.")
