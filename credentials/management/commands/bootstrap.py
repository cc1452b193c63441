from django.core.management import call_command
from django.core.management.base import BaseCommand

from credentials.services import nats as svc


class Command(BaseCommand):
    help = (
        "Create the NATS operator, the system account SYS, the system user and the first platform superuser. "
        "Idempotent and non-interactive: running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--operator-name", help="Operator name (default: NATS_OPERATOR_NAME).")
        parser.add_argument("--username", help="Superuser name (default: DJANGO_SUPERUSER_USERNAME or 'admin').")
        parser.add_argument("--email", help="Superuser email (default: DJANGO_SUPERUSER_EMAIL).")
        parser.add_argument("--password", help="Superuser password (default: DJANGO_SUPERUSER_PASSWORD or generated).")
        parser.add_argument("--no-superuser", action="store_true", help="Skip the superuser.")

    def handle(self, *args, **options):
        result = svc.bootstrap(operator_name=options["operator_name"])
        operator = svc.get_operator()
        sys_account = svc.system_account()
        done = [
            ("operator", result.operator_created),
            ("system account SYS", result.system_account_created),
            ("system user", result.system_user_created),
        ]
        for label, created in done:
            self.stdout.write(f"{label}: {'created' if created else 'exists'}")
        self.stdout.write(f"operator {operator.name} {operator.public_key}")
        self.stdout.write(f"system account {sys_account.public_key}")
        if not options["no_superuser"]:
            call_command(
                "ensure_superuser",
                username=options["username"],
                email=options["email"],
                password=options["password"],
                stdout=self.stdout,
            )
