"""No secret reaches the logs: a representative run of the platform, logged at DEBUG as production formats it,
holds no seed, private key, API token, invitation token or password. (Every other test's log lines are scanned
too, at the configured level, by tests/support/secret_scan.py.)"""

import io
import logging
import logging.config
import re

import pytest
from django.conf import settings
from django.core.management import call_command

from credentials.models import (
    Account,
    AccountSigningKey,
    CertificateAuthority,
    Host,
    NatsUser,
    Operator,
    OperatorSigningKey,
)
from inventory.models import Thing
from stoneage import logs
from stoneage.celery import app
from tests.integration.support import free_port
from tests.inventory.api_support import make_type
from tests.support.secret_scan import scan_text

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "Root-pass-for-the-logs-7319"
WRONG_PASSWORD = "Wrong-pass-for-the-logs-5521"
SEED = re.compile(r"S[OAU][A-Z2-7]{54}")


@pytest.fixture
def debug_log():
    """The production logging configuration at LOG_LEVEL=DEBUG (JSON with the request id), captured. Levels and
    switches other code left on loggers (libraries, earlier tests) are lifted for the test and restored."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.RequestIdFilter())
    root = logging.getLogger()
    loggers = [root, *(lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger))]
    saved = [(lg, lg.level, lg.disabled, lg.propagate) for lg in loggers]
    disabled_below = logging.root.manager.disable
    logging.disable(logging.NOTSET)
    for lg in loggers:
        lg.setLevel(logging.NOTSET)
        lg.disabled, lg.propagate = False, True
    logging.config.dictConfig(logs.config("json", "DEBUG"))
    root.addHandler(handler)
    yield stream
    root.removeHandler(handler)
    logging.config.dictConfig(settings.LOGGING)
    for lg, level, disabled, propagate in saved:
        lg.setLevel(level)
        lg.disabled, lg.propagate = disabled, propagate
    logging.disable(disabled_below)


def _text(secret) -> str:
    return secret.hex() if isinstance(secret, bytes) else str(secret or "")


def ok(response, status: int = 200):
    assert response.status_code == status, response.content[:500]
    return response


def test_a_representative_run_logs_no_secret(client, debug_log, mailoutbox, settings, monkeypatch):
    # Pushes run inline and fail (nothing listens at NATS_URL): their lines, retries and failure count too.
    monkeypatch.setitem(app.conf, "task_always_eager", True)
    settings.NATS_URL = f"nats://127.0.0.1:{free_port()}"
    secrets: list[str] = [PASSWORD, WRONG_PASSWORD]

    call_command("bootstrap", username="root", email="root@example.com", password=PASSWORD, stdout=io.StringIO())
    assert client.post("/admin/login/", {"username": "root", "password": WRONG_PASSWORD}).status_code == 200
    ok(client.post("/admin/login/", {"username": "root", "password": PASSWORD}), 302)

    ok(client.post("/api/v1/orgs/", {"name": "Acme", "slug": "acme", "owner": "root@example.com"}), 201)
    user = ok(client.post("/api/v1/orgs/acme/nats/users/", {"name": "svc-1"}), 201).json()
    creds = ok(client.get(f"/api/v1/orgs/acme/nats/users/{user['id']}/creds/", HTTP_ACCEPT="text/plain")).content
    ok(client.post(f"/api/v1/orgs/acme/nats/users/{user['id']}/regenerate/"))
    secrets += SEED.findall(creds.decode())

    network = ok(client.post("/api/v1/orgs/acme/nebula/networks/", {"name": "mesh", "cidr": "10.42.0.0/24"}), 201)
    host = ok(client.post("/api/v1/orgs/acme/nebula/hosts/", {"network": network.json()["id"], "hostname": "h1"}), 201)
    config = ok(
        client.get(f"/api/v1/orgs/acme/nebula/hosts/{host.json()['id']}/config/", HTTP_ACCEPT="application/yaml")
    )
    key = re.search(rb"-----BEGIN NEBULA X25519 PRIVATE KEY-----\n(.+?)\n", config.content)
    assert key, config.content[:300]
    secrets.append(key.group(1).decode())

    # A thing provisioned with its own NATS user (what enrollment hands a device), and its credentials.
    sensor = make_type(Account.objects.get(name="acme").organization)
    body = {"code": "s-01", "thing_type": sensor.pk, "nats": {"mode": "auto"}}
    thing = ok(client.post("/api/v1/orgs/acme/things/", body, content_type="application/json"), 201).json()
    thing_creds = ok(client.get(f"/api/v1/orgs/acme/things/{thing['id']}/creds/", HTTP_ACCEPT="text/plain"))
    secrets += SEED.findall(thing_creds.content.decode())

    token = ok(client.post("/api/v1/tokens/", {"name": "ci", "organization": "acme"}), 201).json()["token"]
    secrets.append(token)
    client.logout()
    ok(client.get("/api/v1/orgs/acme/things/", HTTP_AUTHORIZATION=f"Bearer {token}"))
    assert client.get("/api/v1/orgs/acme/things/", HTTP_AUTHORIZATION=f"Bearer {token}x").status_code == 401

    response = client.post(
        "/api/v1/orgs/acme/invitations/",
        {"email": "new@example.com", "role": "member"},
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    ok(response, 201)
    invitation_token = re.search(r"token=([\w-]+)", mailoutbox[-1].body).group(1)
    secrets.append(invitation_token)
    client.get(f"/invitations/accept/?token={invitation_token}")  # not signed in: sent to sign in first

    # The keys held here, decrypted, for the grep.
    secrets.append(Operator.objects.get().seed)
    for model in (OperatorSigningKey, AccountSigningKey, NatsUser):
        secrets += [row.seed for row in model.objects.all()]
    secrets += [_text(ca.key) for ca in CertificateAuthority.objects.all()]
    secrets += [_text(host.private_key) for host in Host.objects.all()]
    assert Thing.objects.filter(code="s-01").exists()

    text = debug_log.getvalue()
    # The capture works: Django's line about the refused token, the pushes' failures.
    assert "Unauthorized: /api/v1/orgs/acme/things/" in text
    assert "cannot reach NATS" in text
    assert scan_text(text) == []
    leaked = [secret[:12] + "…" for secret in secrets if secret and secret in text]
    assert leaked == [], f"secrets in the logs: {leaked}"
