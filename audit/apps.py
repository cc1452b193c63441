from django.apps import AppConfig
from django.core import checks

from audit.checks import audit_keys


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model

        from audit import capture, signals
        from audit.registry import register
        from tenancy.models import ApiToken, Invitation, Membership, Organization

        # Apps register their own models in their ready(); tenancy and auth predate the audit log.
        register(get_user_model(), redact=["password"], noise=["last_login"])
        register(Organization)
        register(Membership)
        register(Invitation, redact=["token_hash"])
        register(ApiToken, redact=["secret_hash"], noise=["last_used_at"])
        capture.connect()
        signals.connect()
        checks.register(audit_keys, checks.Tags.security)
