"""Helpers for audit tests: tampering as a database writer would, running `verify_audit`, and reaching the
test database from another process (a Celery worker, `manage.py`)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit.models import AuditEvent


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


@contextmanager
def trigger_bypassed() -> Iterator[None]:
    """What an attacker with table-owner rights can do; the hash chain must still tell."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_append_only")
        yield
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_auditevent_append_only")
    else:
        yield


def tamper(sql: str, params: list) -> None:
    with trigger_bypassed(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def verify(*, stderr: io.StringIO | None = None, **options) -> str:
    out = io.StringIO()
    call_command("verify_audit", stdout=out, stderr=stderr or io.StringIO(), **options)
    return out.getvalue()


def verify_fails(**options) -> str:
    """The command's error, then every broken chain it reported."""
    err = io.StringIO()
    with pytest.raises(CommandError) as failure:
        verify(stderr=err, **options)
    return f"{failure.value}\n{err.getvalue()}"


def chain_of(organization) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(chain=f"org:{organization.pk}").order_by("sequence"))
