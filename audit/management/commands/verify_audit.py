from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from audit import integrity, keys


def _summary(report: integrity.ChainReport) -> str:
    details = []
    if report.key_ids:
        details.append(f"key ids {', '.join(report.key_ids)}")
    if report.unkeyed_through is not None:
        details.append(f"unkeyed through sequence {report.unkeyed_through}, from before the audit key")
    suffix = f" ({'; '.join(details)})" if details else ""
    return f"Chain {report.chain}: {report.events} events verified{suffix}."


class Command(BaseCommand):
    help = (
        "Walk the audit log's keyed hash chains and report the first broken event of each; exits 1 if any is "
        "broken or no audit key is configured."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", metavar="SLUG", help="Only the chain of this organization.")

    def handle(self, *args, org=None, **options):
        try:
            keys.configured()
        except ImproperlyConfigured as exc:
            raise CommandError(f"Cannot verify the audit log: {exc}") from exc
        chains = integrity.chains(organization_slug=org)
        if org and not chains:
            raise CommandError(f"No audit events for organization {org!r}.")
        broken = []
        for chain in chains:
            report = integrity.verify_chain(chain)
            if report.broken:
                broken.append(report.broken)
                self.stderr.write(str(report.broken))
            else:
                self.stdout.write(_summary(report))
        if broken:
            raise CommandError(f"The audit log failed verification in {len(broken)} chain(s). First: {broken[0]}")
        self.stdout.write(self.style.SUCCESS(f"{len(chains)} chain(s) verified."))
