"""Helpers for audit tests that involve another process (a Celery worker, `manage.py`)."""

from __future__ import annotations

import os
from urllib.parse import quote

from django.db import connection


def shared_database_url() -> str | None:
    """A DATABASE_URL another process can use to reach the test database; None when it lives in memory."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return None if connection.is_in_memory_db() else f"sqlite:///{settings['NAME']}"
    if connection.vendor == "postgresql":
        auth = quote(settings["USER"] or "")
        if settings["PASSWORD"]:
            auth += ":" + quote(settings["PASSWORD"])
        host = settings["HOST"] or "localhost"
        return f"postgres://{auth}@{host}:{settings['PORT'] or 5432}/{settings['NAME']}"
    return None


def subprocess_env(database_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url, **extra}
