from django.apps import AppConfig


class CredentialsConfig(AppConfig):
    name = "credentials"
    verbose_name = "Credentials"

    def ready(self) -> None:
        from credentials import push, signals  # noqa: F401 - connects the signal handlers
        from stoneage.health import register_check

        register_check("nats", push.check_nats)

        from credentials import signals_nebula  # noqa: F401 - connects the Nebula signal handlers
        from credentials.services import nebula

        register_check("nebula", nebula.check_nebula)
        nebula.register_audit()
