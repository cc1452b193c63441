"""The reference device agent (`deploy/device_agent.py`, run as a subprocess) against the real thing: the control
plane over HTTP (a live server), an operator-mode nats-server, the Celery worker and `nebula-cert`.

The agent enrolls with keys it generates, connects to NATS with its own key and publishes within its contract (and
not outside it); a certificate renewed here reaches its files through a notification on `_SA.config.<code>` and
`nebula-cert verify` accepts it; a blocklisted peer's fingerprint reaches its Nebula config; its private keys appear
in no response, log, audit event or database row.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import sys
import time

import pytest
from django.core import serializers

from audit.models import AuditEvent
from credentials.models import Account, Host, NatsUser
from credentials.services import nats as nats_svc
from credentials.services import nebula as nebula_svc
from inventory.services import enrollment, things, types
from tests.integration import live
from tests.integration.support import ROOT, log_tail, wait_until
from tests.support.world import make_org, make_user

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

AGENT = ROOT / "deploy" / "device_agent.py"
OPERATIONS = [{"name": "temp", "capability": "publish", "subject_suffix": "telemetry.temp"}]


def agent(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(AGENT), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def running_agents():
    processes: list[subprocess.Popen] = []
    yield processes
    for process in processes:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.mark.skipif(shutil.which("nebula-cert") is None, reason="nebula-cert is not installed")
def test_the_agent_enrolls_publishes_and_follows_renewals_and_blocklists(
    nats_server, celery_worker, live_server, connect, tmp_path, running_agents, caplog
):
    org = make_org("acme", make_user("acme-owner"))
    account = Account.objects.get(organization=org, is_system=False)
    sensor = types.create_type(organization=org, code="sensor", name="Sensor", operations=OPERATIONS)
    network = nebula_svc.create_network(organization=org, name="mesh", cidr="10.42.0.0/24")
    thing = things.create_thing(
        organization=org, code="s-01", thing_type=sensor, nats_mode="auto", nebula_mode="auto", network=network
    )
    peer = nebula_svc.create_host(network=network, hostname="peer")
    observer = nats_svc.create_user(account=account, name="observer", publish_allow=[">"], subscribe_allow=[">"])
    live.wait_pushed(10)
    seen = connect(nats_svc.user_creds(observer)).subscribe("acme.>")
    _, token = enrollment.issue_token(thing)

    # Enroll: the agent makes its keys and sends only the public halves.
    device = tmp_path / "device"
    enrolled = agent("enroll", "--url", live_server.url, "--token", token, "--dir", str(device))
    assert enrolled.returncode == 0, enrolled.stderr
    for private in ("nats.seed", "nebula.key", "user.creds"):
        assert mode(device / private) == 0o600, private
    seed = (device / "nats.seed").read_text().strip()
    nebula_key = (device / "nebula.key").read_text()
    user = NatsUser.objects.get(pk=thing.nats_user_id)
    assert user.seed == "" and Host.objects.get(pk=thing.nebula_host_id).private_key == ""
    state = json.loads((device / "state.json").read_text())
    assert state["notify_subject"] == "_SA.config.s-01"

    # A replayed token is refused with a sentence, and the agent says so.
    again = agent("enroll", "--url", live_server.url, "--token", token, "--dir", str(tmp_path / "copy"))
    assert again.returncode == 2 and "used already" in again.stderr

    # Its own key on NATS, within its contract only.
    live.wait_pushed(10)  # the key generated at creation was revoked by the enrollment
    own = "acme._.sensor.s-01.telemetry.temp"
    published = agent("publish", "--dir", str(device), "--subject", own, "--data", "21.5")
    assert published.returncode == 0, published.stderr
    wait_until(lambda: any(m.subject == own for m in seen.messages), 5, what="the device's telemetry")
    foreign = agent("publish", "--dir", str(device), "--subject", "acme._.sensor.s-02.telemetry.temp")
    assert foreign.returncode == 2 and "permissions violation" in foreign.stderr.lower()

    # Running: subscribed to its notification subject.
    log = tmp_path / "agent.log"
    with open(log, "wb") as out:
        running_agents.append(
            subprocess.Popen(
                [sys.executable, str(AGENT), "run", "--dir", str(device), "--interval", "600"],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        )
    wait_until(lambda: "listening on _SA.config.s-01" in log.read_text(), 15, what=f"the agent: {log_tail(log)}")

    # A certificate renewed here reaches the device's files by notification (the poll interval is 10 minutes).
    time.sleep(1.1)  # certificates are signed to the second: the renewed one must differ
    before = (device / "host.crt").read_text()
    host = nebula_svc.renew_host(Host.objects.get(pk=thing.nebula_host_id))
    assert host.certificate != before
    wait_until(
        lambda: (device / "host.crt").read_text() == host.certificate,
        10,
        what=f"the renewed certificate on the device: {log_tail(log)}",
    )
    verified = subprocess.run(
        ["nebula-cert", "verify", "-ca", str(device / "ca.crt"), "-crt", str(device / "host.crt")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "notified on _SA.config.s-01" in log.read_text()

    # A blocklisted peer reaches the device's Nebula config.
    nebula_svc.deactivate_host(peer)
    wait_until(lambda: peer.fingerprint in (device / "config.yml").read_text(), 10, what="the blocklist")
    assert peer.fingerprint in json.loads((device / "blocklist.json").read_text())
    assert str((device / "nebula.key").resolve()) in (device / "config.yml").read_text()

    # The device's private keys are nowhere but on the device.
    nebula_body = nebula_key.strip().splitlines()[1]
    places = {
        "agent log": log.read_text() + enrolled.stdout + enrolled.stderr,
        "control plane log": caplog.text,
        "worker log": "\n".join(p.read_text(errors="replace") for p in live.WORKER_LOGS),
        "audit": json.dumps(list(AuditEvent.objects.values_list("before", "after", "extra", "object_repr"))),
        "database": serializers.serialize("json", [*NatsUser.objects.all(), *Host.objects.all()]),
    }
    for place, text in places.items():
        assert seed not in text and nebula_body not in text, f"a device private key in the {place}"
