from credentials.admin import nebula  # noqa: F401
