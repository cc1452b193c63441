import re
from datetime import timedelta

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from audit import integrity

_AGE = re.compile(r"^(?P<amount>\d+)(?P<unit>[dh])$")


def parse_age(value: str) -> timedelta:
    match = _AGE.match(value.strip())
    if match is None or int(match["amount"]) == 0:
        raise CommandError(f"--older-than takes a positive number of days or hours, like 365d or 12h; got {value!r}.")
    amount = int(match["amount"])
    return timedelta(days=amount) if match["unit"] == "d" else timedelta(hours=amount)


class Command(BaseCommand):
    help = (
        "Delete audit events older than the given age. Each pruned chain gets a checkpoint event carrying "
        "the hash of the last deleted event, so it still verifies."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", required=True, metavar="AGE", help="e.g. 365d or 48h")

    def handle(self, *args, older_than, **options):
        age = parse_age(older_than)
        try:
            reports = integrity.prune(age)
        except integrity.PruneRefused as exc:
            raise CommandError(str(exc)) from exc
        except ImproperlyConfigured as exc:
            raise CommandError(f"Cannot prune the audit log: {exc}") from exc
        for report in reports:
            self.stdout.write(
                f"Chain {report.chain}: deleted {report.deleted} events, checkpoint {report.checkpoint.pk}."
            )
        self.stdout.write(self.style.SUCCESS(f"Pruned {len(reports)} chain(s)."))
