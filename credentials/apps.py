from django.apps import AppConfig


class CredentialsConfig(AppConfig):
    name = "credentials"
    verbose_name = "Credentials"

    def ready(self) -> None:
        from credentials import push, signals  # noqa: F401 - connects the signal handlers
        from stoneage.health import register_check

        register_check("nats", push.check_nats)
        self.register_nats_audit()

        from credentials import signals_nebula  # noqa: F401 - connects the Nebula signal handlers
        from credentials.services import nebula

        register_check("nebula", nebula.check_nebula)
        nebula.register_audit()

    @staticmethod
    def register_nats_audit() -> None:
        """Every change to the NATS trust chain is in the audit log. Seeds are redacted by their field class;
        a user JWT is redacted too (a bearer JWT connects on its own), an account JWT is public but left out
        as derived data (its revision is logged)."""
        from audit.registry import register
        from credentials import models as m

        register(m.Operator, exclude=["jwt"])
        register(m.OperatorSigningKey)
        register(m.Account, exclude=["jwt"], noise=["pushed_revision", "pushed_at", "push_error"])
        register(m.AccountSigningKey)
        register(m.AccountTombstone, noise=["attempts", "last_error"])
        register(m.NatsRole)
        register(m.NatsUser, redact=["jwt"])
        register(m.AccountExport)
        register(m.AccountImport, redact=["token"])
