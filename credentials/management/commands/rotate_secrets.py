from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from credentials import secrets


class Command(BaseCommand):
    help = "Re-encrypt every stored secret under the first key of STONEAGE_SECRET_KEYS."

    def handle(self, *args, **options):
        primary = secrets.primary_key_id()
        total = 0
        for field in secrets.encrypted_fields():
            model = field.model
            stale = model._default_manager.exclude(**{field.name: ""}).exclude(
                **{f"{field.name}__startswith": f"{secrets.VERSION}:{primary}:"}
            )
            with transaction.atomic():
                for obj in stale.select_for_update().only("pk", field.name).iterator():
                    associated = field.associated_data(obj.pk)
                    try:
                        plaintext = secrets.decrypt(getattr(obj, field.name), associated)
                    except secrets.SecretError as exc:
                        raise CommandError(str(exc)) from exc
                    model._default_manager.filter(pk=obj.pk).update(
                        **{field.name: secrets.encrypt(plaintext, associated)}
                    )
                    total += 1
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {total} secret(s) under key {primary}."))
