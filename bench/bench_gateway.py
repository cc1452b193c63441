"""HTTP gateway: publishes per second through daphne and the Django stack, and latency to a NATS subscriber,
against raw nats-py publishes in the same run.

Run: ``.venv/bin/python bench/bench_gateway.py [--seconds 10] [--clients 8]``

Starts on free ports: nats-server in operator mode from ``nats_export``, a private redis-server (the cache: replay
window and throttles), and daphne serving ``stoneage.asgi`` (one process, as deployed per worker). The database is
a throwaway: a temporary SQLite file by default, or ``test_bench_gateway_<pid>`` next to DATABASE_URL.

* HTTP: ``--clients`` threads, each a thing of its own with keep-alive connections, post
  ``{"operation": "temp", "payload": {...}}`` for ``--seconds``; once with a bearer token, once signing every
  request with the thing's nkey (`Authorization: NKey …`). The payload carries a sequence number; a subscriber
  on the organization's subjects records when each message arrives. Latency = request sent → message received.
* Raw: one nats-py connection publishes the same payloads one by one, each confirmed with a flush (what the
  gateway does for a message outside any stream), and then pipelined (publish all, one flush). Same subscriber.

The ratio is HTTP publishes per second over raw confirmed publishes per second (informational: HTTPS, the Django
stack, authentication, the contract and schema checks cost what they cost; the figure says how much).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stoneage.settings")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("STONEAGE_SECRET_KEYS", base64.urlsafe_b64encode(os.urandom(32)).decode())
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from bench.report import result  # noqa: E402
from credentials.models import Account, NatsUser  # noqa: E402
from credentials.secrets import reveal  # noqa: E402
from credentials.services import nats as svc  # noqa: E402
from inventory.devices.gateway_auth import issue_token, sign_request  # noqa: E402
from inventory.models import MessageSchema, Thing  # noqa: E402
from inventory.services import contracts as contract_svc  # noqa: E402
from inventory.services import types  # noqa: E402
from tenancy.models import Organization  # noqa: E402
from tests.integration.support import (  # noqa: E402
    Client,
    EventLoopThread,
    NatsServer,
    RedisServer,
    database_url,
    free_port,
    port_open,
    use_broker,
    wait_until,
)

PATH = "/api/v1/devices/publish/"
SCHEMA = {
    "type": "object",
    "properties": {"celsius": {"type": "number"}, "n": {"type": "integer"}},
    "required": ["celsius", "n"],
}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


class Receiver:
    """Arrival time of each message by its sequence number `n`."""

    def __init__(self, client: Client, subject: str):
        self.arrived: dict[int, float] = {}
        client.loop.run(self._subscribe(client, subject))

    async def _subscribe(self, client: Client, subject: str) -> None:
        await client.nc.subscribe(subject, cb=self._on)
        await client.nc.flush()

    async def _on(self, msg) -> None:
        self.arrived[json.loads(msg.data)["n"]] = time.perf_counter()


class Sequence:
    def __init__(self, start: int) -> None:
        self.value, self.lock = start, threading.Lock()

    def next(self) -> int:
        with self.lock:
            self.value += 1
            return self.value


def fleet(clients: int) -> tuple[Organization, list[tuple[Thing, str, str]]]:
    organization = Organization.objects.create(name="Bench", slug="bench")
    schema = types.save_message_schema(
        MessageSchema(organization=organization, namespace="bench", name="reading", version="1.0.0", schema=SCHEMA)
    )
    sensor = types.create_type(
        organization=organization,
        code="sensor",
        name="Sensor",
        operations=[{"name": "temp", "capability": "publish", "subject_suffix": "temp", "message_schema": schema}],
    )
    things = []
    for i in range(clients):
        thing = Thing.objects.create(organization=organization, code=f"t-{i}", thing_type=sensor)
        thing.nats_user = contract_svc.provision_thing_user(thing)
        thing.save()
        _, token = issue_token(thing)
        things.append((thing, token, reveal(NatsUser.objects.get(pk=thing.nats_user_id), "seed")))
    return organization, things


def http_phase(port: int, things, seconds: float, mode: str, seq: Sequence) -> tuple[int, float, dict[int, float]]:
    sent: dict[int, float] = {}
    errors: list[str] = []
    deadline = time.perf_counter() + seconds

    def worker(token: str, seed: str) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < deadline:
            n = seq.next()
            body = json.dumps({"operation": "temp", "payload": {"celsius": 21.5, "n": n}}).encode()
            auth = f"Bearer {token}" if mode == "bearer" else sign_request(seed, "POST", f"{PATH}?n={n}", body)
            path = PATH if mode == "bearer" else f"{PATH}?n={n}"
            sent[n] = time.perf_counter()
            conn.request("POST", path, body, {"Authorization": auth, "Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status != 202:
                errors.append(f"{response.status}")
                sent.pop(n, None)
        conn.close()

    threads = [threading.Thread(target=worker, args=(token, seed)) for _, token, seed in things]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        print(f"{mode}: {len(errors)} failed requests, e.g. {errors[:3]}")
    return len(sent), elapsed, sent


def raw_phase(loop: EventLoopThread, client: Client, count: int, seq: Sequence, subject: str):
    sent: dict[int, float] = {}

    async def confirmed() -> float:
        started = time.perf_counter()
        for _ in range(count):
            n = seq.next()
            sent[n] = time.perf_counter()
            await client.nc.publish(subject, json.dumps({"celsius": 21.5, "n": n}).encode())
            await client.nc.flush()
        return time.perf_counter() - started

    async def pipelined() -> float:
        started = time.perf_counter()
        for _ in range(count):
            await client.nc.publish(subject, json.dumps({"celsius": 21.5, "n": seq.next()}).encode())
        await client.nc.flush()
        return time.perf_counter() - started

    return loop.run(confirmed(), timeout=120), sent, loop.run(pipelined(), timeout=120)


def latencies(sent: dict[int, float], receiver: Receiver) -> tuple[list[float], int]:
    wait_until(lambda: all(n in receiver.arrived for n in sent), 10, interval=0.05, what="every message")
    return [receiver.arrived[n] - t for n, t in sent.items()], 0


def report(name: str, count: int, elapsed: float, lat: list[float]) -> float:
    rate = count / elapsed
    result(
        name,
        f"{rate:,.0f}/s (n={count}); latency p50 {statistics.median(lat) * 1000:.1f} ms, "
        f"p95 {percentile(lat, 95) * 1000:.1f} ms",
    )
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="seconds per HTTP phase (default 10)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients, one thing each (default 8)")
    args = parser.parse_args()
    seconds, clients = max(2.0, min(args.seconds, 120.0)), max(1, min(args.clients, 64))

    work = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    if connection.vendor == "sqlite":
        connection.settings_dict["TEST"]["NAME"] = str(work / "db.sqlite3")
    else:
        connection.settings_dict["TEST"]["NAME"] = f"test_bench_gateway_{os.getpid()}"
    database = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    loop = EventLoopThread()
    redis = server = daphne = None
    try:
        redis = RedisServer(work).start()
        port = free_port()
        with use_broker(redis.url):
            svc.bootstrap()
            call_command("nats_export", output=str(work / "nats"), port=port, websocket_port=0, stdout=io.StringIO())
            server = NatsServer(work / "nats", port).start()
            settings.NATS_URL = server.url
            organization, things = fleet(clients)
            call_command("nats_reconcile", stdout=io.StringIO())
        account = Account.objects.get(organization=organization)
        observer = svc.create_user(account=account, name="observer", publish_allow=[">"], subscribe_allow=[">"])
        call_command("nats_reconcile", stdout=io.StringIO())

        http_port = free_port()
        env = dict(
            os.environ,
            DATABASE_URL=database_url(connection.settings_dict),
            REDIS_URL=redis.url,
            CACHE_URL=redis.url,
            CELERY_BROKER_URL=redis.url,
            NATS_URL=server.url,
            DEVICE_GATEWAY_RATE="1000000/second",
            PYTHONPATH=str(ROOT),
        )
        log = open(work / "daphne.log", "wb")  # noqa: SIM115 - closed with the process
        daphne = subprocess.Popen(  # noqa: S603
            [
                str(Path(sys.executable).parent / "daphne"),
                "-b",
                "127.0.0.1",
                "-p",
                str(http_port),
                "stoneage.asgi:application",
            ],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: port_open(http_port), 30, what="daphne")

        client = Client(loop).connect(server.url, svc.user_creds(observer))
        receiver = Receiver(client, "bench.>")
        print(f"database {connection.vendor}; nats-server {server.url}; daphne :{http_port}; {clients} clients")

        seq = Sequence(0)
        http_phase(http_port, things[:1], 1.0, "bearer", seq)  # warm-up: the pool connects, caches fill
        rates = {}
        for mode in ("bearer", "nkey"):
            count, elapsed, sent = http_phase(http_port, things, seconds, mode, seq)
            lat, _ = latencies(sent, receiver)
            rates[mode] = report(f"HTTP publish via daphne, {mode} ({clients} clients)", count, elapsed, lat)

        subject = "bench._.sensor.t-0.temp"
        count = max(1000, int(rates["bearer"] * seconds))
        elapsed, sent, pipelined = raw_phase(loop, client, count, seq, subject)
        lat, _ = latencies(sent, receiver)
        raw = report("raw nats-py publish + flush, one by one", count, elapsed, lat)
        result("raw nats-py publish, pipelined (one flush)", f"{count / pipelined:,.0f}/s (n={count})")
        result(
            "HTTP (bearer) / raw confirmed publishes",
            f"{rates['bearer']:,.0f}/s vs {raw:,.0f}/s",
            ratio=rates["bearer"] / raw,
        )
        client.close()
    finally:
        if daphne is not None:
            daphne.terminate()
            daphne.wait(10)
        for process in (server, redis):
            if process is not None:
                process.stop()
        loop.close()
        connection.creation.destroy_test_db(database, verbosity=0)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
