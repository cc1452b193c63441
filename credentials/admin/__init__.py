from credentials.admin import nats, nebula  # noqa: F401
