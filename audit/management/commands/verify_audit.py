from django.core.management.base import BaseCommand, CommandError

from audit import integrity


class Command(BaseCommand):
    help = "Walk the audit log's hash chains and report the first broken event of each; exits 1 if any is broken."

    def add_arguments(self, parser):
        parser.add_argument("--org", metavar="SLUG", help="Only the chain of this organization.")

    def handle(self, *args, org=None, **options):
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
                self.stdout.write(f"Chain {chain}: {report.events} events verified.")
        if broken:
            raise CommandError(f"The audit log failed verification in {len(broken)} chain(s). First: {broken[0]}")
        self.stdout.write(self.style.SUCCESS(f"{len(chains)} chain(s) verified."))
