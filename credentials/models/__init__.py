from credentials.models.nats import (  # noqa: F401
    Account,
    AccountExport,
    AccountImport,
    AccountSigningKey,
    AccountTombstone,
    NatsRole,
    NatsUser,
    Operator,
    OperatorSigningKey,
)
from credentials.models.nebula import CertificateAuthority, Host, Network, RevokedCertificate  # noqa: F401
