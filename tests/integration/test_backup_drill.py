"""Restore drill with the real services: back up a running platform, lose both the database and the NATS resolver,
restore, reconcile, and the devices' existing credentials work again.

The steps are the ones docs/operations.md gives: `backup`; (disaster: database flushed, nats-server rebuilt with an
empty resolver directory); `restore`; `nats_export` for the new server; `nats_reconcile`; `verify_audit`.
"""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import call_command

from credentials.models import Account, CertificateAuthority, Host, NatsUser
from credentials.services import nats as svc
from tests.credentials.nebula_support import run, write
from tests.integration import live
from tests.integration.support import NatsServer
from tests.support.platform import build_platform, row_counts, table_rows

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def command(*args, **options) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def nebula_cert_verify(directory, ca_pem: str, cert_pem: str):
    result = run(
        "nebula-cert",
        "verify",
        "-ca",
        str(write(directory, "ca.crt", ca_pem)),
        "-crt",
        str(write(directory, "host.crt", cert_pem)),
    )
    return result.returncode, (result.stdout + result.stderr).strip()


def test_backup_lose_everything_restore_reconcile_and_the_old_credentials_work(
    nats_server, connect, tmp_path, nats_ports, settings
):
    platform = build_platform()
    command("nats_reconcile")
    # Credentials as the devices hold them, handed out before the backup.
    device_creds = svc.user_creds(NatsUser.objects.get(pk=platform.device.pk))
    thing_creds = svc.user_creds(NatsUser.objects.get(pk=platform.thing.nats_user_id))
    host_cert = Host.objects.get(pk=platform.host.pk).certificate
    connect(device_creds).close()
    connect(thing_creds).close()
    rows_before, counts_before = table_rows(), row_counts()
    archive = tmp_path / "platform.tar.gz"
    command("backup", output=str(archive))

    # The disaster: the database is emptied and the NATS server is rebuilt with an empty resolver.
    nats_server.stop()
    call_command("flush", interactive=False, verbosity=0)
    assert not Account.objects.exists() and not CertificateAuthority.objects.exists()
    directory = tmp_path / "nats-rebuilt"

    started = time.monotonic()
    restored = command("restore", str(archive))
    command("nats_export", output=str(directory), **nats_ports)
    server = NatsServer(directory, nats_ports["port"]).start()
    try:
        stored = {path.name for path in server.resolver_dir.iterdir()}
        tenants = Account.objects.filter(is_system=False).values_list("public_key", flat=True)
        assert not any(f"{key}.jwt" in stored for key in tenants), "the new resolver starts without the tenants"
        reconciled = command("nats_reconcile")
        elapsed = time.monotonic() - started
        print(f"\nrestore + nats_export + nats_reconcile: {elapsed:.2f}s")

        assert "Restored the backup" in restored
        assert reconciled == f"Pushed {Account.objects.count()} of {Account.objects.count()}.\n"
        assert live.behind() == []
        # The .creds saved before the backup connect to the new server and carry traffic.
        device = connect(device_creds)
        inbox = device.subscribe("telemetry.drill")
        device.publish("telemetry.drill", b"back")
        device.flush()
        live_wait = time.monotonic() + 5
        while not inbox.payloads and time.monotonic() < live_wait:
            time.sleep(0.02)
        assert inbox.payloads == [b"back"]
        connect(thing_creds).close()
    finally:
        server.stop()

    # The Nebula certificate verifies against the restored CA, with the real nebula-cert.
    ca = CertificateAuthority.objects.get(organization=platform.world.org)
    code, output = nebula_cert_verify(tmp_path, ca.certificate, host_cert)
    assert code == 0, output
    # The audit chains verify, and every table came back row for row.
    assert "chain(s) verified" in command("verify_audit")
    counts_after = row_counts()
    audit_added = counts_after.pop("audit.auditevent") - counts_before.pop("audit.auditevent")
    assert audit_added >= 1  # the restore event (and what reconciling recorded)
    assert counts_after == counts_before
    rows_after = table_rows()
    for label in ("tenancy.organization", "auth.user", "credentials.natsuser", "credentials.host", "inventory.thing"):
        assert rows_after[label] == rows_before[label], label
    print("rows per table after the restore:", {k: v for k, v in sorted(counts_after.items()) if v})
