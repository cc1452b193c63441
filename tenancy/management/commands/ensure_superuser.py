import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Create the first platform superuser if none exists. Credentials come from DJANGO_SUPERUSER_USERNAME, "
        "DJANGO_SUPERUSER_EMAIL and DJANGO_SUPERUSER_PASSWORD (options override); a generated password is "
        "printed once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username")
        parser.add_argument("--email")
        parser.add_argument("--password")

    def handle(self, *args, **options):
        import os

        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("A superuser already exists; nothing to do.")
            return
        username = options["username"] or os.environ.get("DJANGO_SUPERUSER_USERNAME") or "admin"
        email = options["email"] or os.environ.get("DJANGO_SUPERUSER_EMAIL") or "admin@localhost"
        password = options["password"] or os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        if User.objects.filter(username=username).exists():
            raise CommandError(
                f"A user named {username!r} exists but is not a superuser; choose another name with --username "
                "or DJANGO_SUPERUSER_USERNAME."
            )
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email=email, password=password)
        self.stdout.write(self.style.SUCCESS(f"Created superuser {username!r} <{email}>."))
        if generated:
            self.stdout.write(f"Generated password (shown once): {password}")
