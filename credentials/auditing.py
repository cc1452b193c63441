"""What of the credentials models the audit log records, one function per half (called from `apps.py`)."""

from audit.registry import register


def register_nats() -> None:
    """Every change to the NATS trust chain is in the audit log. Seeds are redacted by their field class; a user
    JWT is redacted too (a bearer JWT connects on its own), an account JWT is public but left out as derived
    data (its revision is logged), and so are the expiries kept to prune revocations and the push pipeline's lease."""
    from credentials.models import nats as m

    register(m.Operator, exclude=["jwt"])
    register(m.OperatorSigningKey)
    register(
        m.Account,
        exclude=["jwt", "revocation_expiries", "push_lease_until"],
        noise=["pushed_revision", "pushed_at", "push_error"],
    )
    register(m.AccountSigningKey)
    register(m.AccountTombstone, noise=["attempts", "last_error"])
    register(m.NatsRole)
    register(m.NatsUser, redact=["jwt"])
    register(m.AccountExport)
    register(m.AccountImport, redact=["token"])


def register_nebula() -> None:
    """Every change to the Nebula PKI is in the audit log (private keys redacted by their field class)."""
    from credentials.models import nebula as m

    for model in (m.CertificateAuthority, m.Network, m.Host, m.RevokedCertificate):
        register(model)
