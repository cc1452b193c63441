from django.apps import AppConfig


class CredentialsConfig(AppConfig):
    name = "credentials"
    verbose_name = "Credentials"

    def ready(self) -> None:
        # `signals` connects the receivers; `tasks` registers the push tasks in every process, so that what
        # `credentials.outbox` queues by name runs eagerly when Celery is told to.
        from credentials import auditing, push, signals, tasks  # noqa: F401
        from credentials.services import nebula
        from stoneage.health import register_check

        auditing.register_nats()
        auditing.register_nebula()
        register_check("nats", push.check_nats)
        register_check("nebula", nebula.check_nebula)
