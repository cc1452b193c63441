from django.apps import AppConfig


class CredentialsConfig(AppConfig):
    name = "credentials"
    verbose_name = "Credentials"

    def ready(self) -> None:
        from credentials import auditing, push, signals  # noqa: F401 - signals connects the receivers
        from credentials.services import nebula
        from stoneage.health import register_check

        auditing.register_nats()
        auditing.register_nebula()
        register_check("nats", push.check_nats)
        register_check("nebula", nebula.check_nebula)
