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
