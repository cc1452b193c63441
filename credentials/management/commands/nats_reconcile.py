from django.core.management.base import BaseCommand, CommandError

from credentials import push
from credentials.models import Account


class Command(BaseCommand):
    help = (
        "Push every account (active ones as JWTs, inactive ones as deletions) and every pending account "
        "deletion to NATS, e.g. to repopulate an empty resolver directory. Exits non-zero naming failures."
    )

    def handle(self, *args, **options):
        accounts = list(Account.objects.all())
        _, tombstones = push.pending()
        report = push.push(accounts, tombstones)
        self.stdout.write(f"Pushed {len(report.pushed)} of {len(accounts) + len(tombstones)}.")
        if report.failed:
            for label, error in sorted(report.failed.items()):
                self.stderr.write(f"{label}: {error}")
            raise CommandError(f"{len(report.failed)} push(es) failed: {', '.join(sorted(report.failed))}.")
