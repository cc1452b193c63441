"""The live twin: KV put → websocket message latency through daphne, and NATS connections held.

Run: ``.venv/bin/python bench/bench_twin.py [--viewers 1,50,200] [--puts 100]``

Starts what production runs, on free ports: nats-server in operator mode from ``nats_export`` (with monitoring),
a private redis-server (the push outbox's broker; nothing consumes it) and daphne serving ``stoneage.asgi``. The
database is a throwaway ``test_bench_twin_<pid>`` next to BENCH_DATABASE_URL (default: PostgreSQL on 127.0.0.1).
One organization, its account pushed and its twin buckets created, one thing with its own ``.creds``.

For each number of viewers, that many websocket clients (autobahn, one asyncio loop, signed in with a session
cookie) watch the thing's Live state; the device puts ``--puts`` values into ``twin`` with its own credentials,
each carrying its send time; every viewer's receipt of every put is a sample (put → websocket message, measured
on one clock). Goal: p95 <= 50 ms with 200 viewers. NATS connections held by daphne (nats-server's ``/connz``,
client name ``stoneage-twin``) while they watch: goal 1 (one per organization per process), and 0 once they
have all left.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
P95_GOAL_MS = 50.0
CONNECTIONS_GOAL = 1


# --- The viewers: a process of their own, without Django (daphne's Twisted reactor would claim autobahn) ----------


def viewers_main(port: int, path: str, cookie: str, count: int) -> int:
    """Open `count` viewers, print READY, wait for a line on stdin, then print the update frames' latencies."""
    from autobahn.asyncio.websocket import WebSocketClientFactory, WebSocketClientProtocol

    class Viewer(WebSocketClientProtocol):
        # Records (receipt time, frame) and parses later, so that parsing does not delay the other viewers.
        def onOpen(self):
            self.factory.opened.set_result(self)

        def onMessage(self, payload, is_binary):
            self.factory.frames.append((time.time(), payload))
            if not self.factory.ready.done() and b'"snapshot"' in payload:
                self.factory.ready.set_result(True)

        def onClose(self, was_clean, code, reason):
            if not self.factory.opened.done():
                self.factory.opened.set_exception(RuntimeError(f"refused: {code} {reason}"))

    async def open_viewer() -> WebSocketClientFactory:
        loop = asyncio.get_running_loop()
        factory = WebSocketClientFactory(
            f"ws://127.0.0.1:{port}{path}", origin=f"http://127.0.0.1:{port}", headers={"Cookie": f"sessionid={cookie}"}
        )
        factory.protocol = Viewer
        factory.frames, factory.opened, factory.ready = [], loop.create_future(), loop.create_future()
        await loop.create_connection(factory, "127.0.0.1", port)
        factory.client = await asyncio.wait_for(factory.opened, 10)
        await asyncio.wait_for(factory.ready, 20)
        return factory

    async def run() -> None:
        viewers = []
        for start in range(0, count, 25):  # in batches: a burst of handshakes is setup, not measured
            viewers += await asyncio.gather(*(open_viewer() for _ in range(start, min(count, start + 25))))
        for factory in viewers:
            factory.frames.clear()
        print("READY", flush=True)
        expected = int(await asyncio.to_thread(sys.stdin.readline))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(
            sum(b'"update"' in f for _, f in factory.frames) < expected for factory in viewers
        ):
            await asyncio.sleep(0.05)
        samples = []
        for factory in viewers:
            for received, frame in factory.frames:
                message = json.loads(frame)
                if message.get("type") == "update" and isinstance(message.get("value"), dict):
                    samples.append(round((received - message["value"]["sent"]) * 1000, 3))
        for factory in viewers:
            factory.client.sendClose()
        await asyncio.sleep(0.5)
        print(json.dumps(samples), flush=True)

    asyncio.run(run())
    return 0


if __name__ == "__main__" and sys.argv[1:2] == ["--viewers-process"]:
    sys.exit(viewers_main(int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])))

os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_twin")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stoneage.settings")
os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("STONEAGE_SECRET_KEYS", base64.urlsafe_b64encode(os.urandom(32)).decode())
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client as DjangoClient  # noqa: E402

from bench.report import result  # noqa: E402
from credentials import push  # noqa: E402
from credentials.models import Account  # noqa: E402
from credentials.services import nats as nats_svc  # noqa: E402
from inventory.twin import store  # noqa: E402
from tests.integration.support import (  # noqa: E402
    NatsServer,
    Process,
    RedisServer,
    database_url,
    free_port,
    port_open,
    use_broker,
    wait_until,
)
from tests.integration.twin_support import Device, creds_of, make_device, make_sensor  # noqa: E402
from tests.support.world import make_org, make_user  # noqa: E402


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def twin_connections(http_port: int) -> int:
    connz = httpx.get(f"http://127.0.0.1:{http_port}/connz?limit=10000", timeout=5).json()
    return sum(1 for c in connz.get("connections", []) if c.get("name") == "stoneage-twin")


async def measure_level(count: int, puts: int, port: int, path: str, cookie: str, device: Device, http_port: int):
    """(samples in ms, NATS connections held while watching, after they left)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--viewers-process", str(port), path, cookie, str(count),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=64 * 1024 * 1024,
    )  # fmt: skip
    line = await asyncio.wait_for(child.stdout.readline(), 120)
    assert line.strip() == b"READY", line
    held = await asyncio.to_thread(twin_connections, http_port)
    for i in range(puts):
        await device.report("temperature", {"i": i, "sent": time.time()})
        await asyncio.sleep(0.02)
    child.stdin.write(f"{puts}\n".encode())
    await child.stdin.drain()
    samples = json.loads(await asyncio.wait_for(child.stdout.readline(), 60))
    await child.wait()
    left = await asyncio.to_thread(
        lambda: wait_until(lambda: twin_connections(http_port) == 0 or "none", 10) and twin_connections(http_port)
    )
    return samples, held, left


def measure(server: NatsServer, daphne_port: int, http_port: int, args) -> bool:
    owner = make_user("olivia")
    organization = make_org("acme", owner)
    thing = make_device(organization, make_sensor(organization), "s-01")
    creds = creds_of(thing)
    account = Account.objects.get(organization=organization)
    push.push(list(Account.objects.behind()))
    nats_svc.ensure_platform_service_user(account)
    store.create_buckets(account)
    client = DjangoClient()
    client.force_login(owner)
    cookie = client.cookies["sessionid"].value
    path = f"/ws/orgs/{organization.slug}/twin/thing/s-01/"

    async def run() -> bool:
        device = await Device(server.url, creds, "s-01").connect()
        await device.report("temperature", {"i": -1, "sent": time.time()})
        met = True
        for count in args.viewers:
            samples, held, left = await measure_level(count, args.puts, daphne_port, path, cookie, device, http_port)
            expected = count * args.puts
            p50, p95, p99 = (percentile(samples, q) for q in (50, 95, 99))
            print(f"{count} viewers: {len(samples)}/{expected} messages, p50 {p50:.1f} ms, p95 {p95:.1f} ms, "
                  f"p99 {p99:.1f} ms, max {max(samples):.1f} ms, mean {statistics.mean(samples):.1f} ms; "
                  f"NATS connections held {held}, after all left {left}")  # fmt: skip
            goal_met = p95 <= P95_GOAL_MS if count >= 200 else None
            result(
                f"twin: KV put -> websocket message, {count} viewers of one organization ({len(samples)} messages)",
                f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms",
                goal=f"p95 <= {P95_GOAL_MS:.0f} ms at 200 viewers" if count >= 200 else "measured only",
                met=None if goal_met is None else goal_met and len(samples) == expected,
            )
            result(
                f"twin: NATS connections held by daphne with {count} viewers of one organization",
                f"{held} while watching, {left} after they left",
                goal=f"{CONNECTIONS_GOAL} per organization per process",
                met=held == CONNECTIONS_GOAL and left == 0,
            )
            met &= held == CONNECTIONS_GOAL and left == 0 and (goal_met is not False)
        await device.close()
        return met

    return asyncio.run(run())


class Daphne(Process):
    def __init__(self, directory: Path, env: dict):
        super().__init__("daphne", directory / "daphne.log")
        self.port = free_port()
        self.env = env

    def start(self) -> Daphne:
        args = ["-b", "127.0.0.1", "-p", str(self.port), "stoneage.asgi:application"]
        self._spawn([sys.executable, "-m", "daphne", *args], env=self.env)
        wait_until(lambda: port_open(self.port) or self.check_alive(), 20, what="daphne listening")
        return self


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", default="1,50,200", help="viewer counts (default 1,50,200)")
    parser.add_argument("--puts", type=int, default=100, help="puts per viewer count (default 100)")
    args = parser.parse_args()
    args.viewers = [max(1, min(int(v), 2000)) for v in args.viewers.split(",")]
    args.puts = max(10, min(args.puts, 10000))

    work = Path(tempfile.mkdtemp(prefix="bench-twin-"))
    if connection.vendor == "sqlite":
        connection.settings_dict["TEST"]["NAME"] = str(work / "db.sqlite3")
    else:
        connection.settings_dict["TEST"]["NAME"] = f"test_bench_twin_{os.getpid()}"
    database = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    redis = server = daphne = None
    met = False
    try:
        nats_svc.bootstrap()
        port, http_port = free_port(), free_port()
        call_command(
            "nats_export", output=str(work / "nats"), port=port, http_port=http_port, websocket_port=0,
            stdout=io.StringIO(),
        )  # fmt: skip
        server = NatsServer(work / "nats", port).start()
        settings.NATS_URL = server.url
        redis = RedisServer(work).start()
        with use_broker(redis.url):
            call_command("nats_reconcile", stdout=io.StringIO())
            env = {
                **os.environ,
                "DATABASE_URL": database_url(connection.settings_dict),
                "NATS_URL": server.url,
                "REDIS_URL": redis.url,
                "CELERY_BROKER_URL": redis.url,
                "PYTHONPATH": str(ROOT),
            }
            daphne = Daphne(work, env).start()
            print(f"database {connection.vendor}; nats-server {server.url}; daphne on {daphne.port}")
            met = measure(server, daphne.port, http_port, args)
    finally:
        if daphne is not None and not met:
            lines = daphne.log.read_text(errors="replace").splitlines()
            errors = [line for line in lines if "WS" not in line and "HTTP" not in line]
            print("daphne's log (no access lines):\n" + "\n".join(errors[-80:]))
        for process in (daphne, server, redis):
            if process is not None:
                process.stop()
        connection.creation.destroy_test_db(database, verbosity=0)
        shutil.rmtree(work, ignore_errors=True)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
