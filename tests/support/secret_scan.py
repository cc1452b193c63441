"""A pytest plugin: after every test, no audit event and no log line may hold a secret.

It scans the JSON of every event (before, after, extra and the object's description) for nkey seeds and
private keys, PEM and Nebula private keys, `.creds` banners and API token secrets, and checks that the
stored hashes of invitation tokens, API tokens and passwords never appear unredacted. Every log record the test
produced (at the configured level) is scanned for the same patterns.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re

import pytest

PATTERNS = [
    ("nkey seed", re.compile(r"(?<![A-Z2-7])S[OAUNCX][A-Z2-7]{50,}")),
    ("nkey private key", re.compile(r"(?<![A-Z2-7])P[A-Z2-7]{100,}")),
    ("private key", re.compile(r"PRIVATE KEY-----")),
    (".creds file", re.compile(r"BEGIN NATS USER JWT|USER NKEY SEED")),
    ("API token", re.compile(r"sat_[0-9a-f]{8}_")),
]
SECRET_FIELDS = ("password", "token_hash", "secret_hash")
DB_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback"}


def scan_text(text: str) -> list[str]:
    """The kinds of secret found in `text`, one finding per line that holds one (quoting what precedes it)."""
    findings = []
    for number, line in enumerate(text.splitlines(), 1):
        for name, pattern in PATTERNS:
            match = pattern.search(line)
            if match:
                findings.append(f"line {number} holds a {name} after: {line[: match.start()][-80:]}")
    return findings


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):  # a record that cannot be formatted is not the scan's business
            self.lines.append(self.format(record))


def find_secrets() -> list[str]:
    """One line per leak found, naming the event."""
    from django.contrib.auth import get_user_model

    from audit.models import AuditEvent
    from audit.registry import REDACTED
    from tenancy.models import ApiToken, Invitation

    stored = {
        *Invitation.objects.values_list("token_hash", flat=True),
        *ApiToken.objects.values_list("secret_hash", flat=True),
        *get_user_model().objects.exclude(password="").values_list("password", flat=True),
    }
    findings = []
    rows = AuditEvent.objects.values_list("id", "action", "object_type", "before", "after", "extra", "object_repr")
    for pk, action, object_type, before, after, extra, object_repr in rows:
        label = f"event {pk} ({action} {object_type})".replace(" )", ")")
        text = json.dumps([before, after, extra, object_repr])
        findings += [f"{label} holds a {name}" for name, pattern in PATTERNS if pattern.search(text)]
        for side in (before, after):
            for field in SECRET_FIELDS:
                if isinstance(side, dict) and side.get(field) not in (None, "", REDACTED):
                    findings.append(f"{label} holds an unredacted {field}")
        findings += [f"{label} holds a stored secret hash" for value in stored if value and value in text]
    return findings


def _uses_db(item) -> bool:
    return item.get_closest_marker("django_db") is not None or bool(DB_FIXTURES & set(item.fixturenames))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    collector = _Collector()
    collector.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(collector)
    try:
        result = yield
    finally:
        root.removeHandler(collector)
    findings = scan_text("\n".join(collector.lines))
    if findings:
        pytest.fail("Secrets reached the logs:\n" + "\n".join(findings), pytrace=False)
    if _uses_db(item):
        findings = find_secrets()
        if findings:
            pytest.fail("Secrets reached the audit log:\n" + "\n".join(findings), pytrace=False)
    return result
