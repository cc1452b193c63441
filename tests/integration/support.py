"""Real services for the integration tests and the benchmarks: nats-server, redis-server, Celery processes and
a nats-py client driven from synchronous code. No Django imports at module level, so `bench/` can use it too.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import nats
from nats.aio.client import RawCredentials

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def wait_until(predicate: Callable[[], object], timeout: float = 10, interval: float = 0.05, what: str = ""):
    """Poll `predicate` until it returns something truthy (which is returned) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _binary(name: str) -> str:
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found (install it, or run `make test` which does)")
    return found


class Process:
    """A subprocess with its output in a log file; `stop()` is idempotent."""

    def __init__(self, name: str, log: Path):
        self.name = name
        self.log = log
        self.proc: subprocess.Popen | None = None

    def _spawn(self, args: list[str], env: dict | None = None) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True
            )

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{log_tail(self.log)}")

    def kill(self) -> None:
        """SIGKILL the process and its children at once: no shutdown, nothing flushed or acknowledged."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self, timeout: float = 10) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None


class NatsServer(Process):
    """nats-server run from a `nats_export` directory; stop and start it again with the same config and store."""

    def __init__(self, directory: Path, port: int):
        super().__init__("nats-server", directory / "nats-server.log")
        self.directory = directory
        self.port = port

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def resolver_dir(self) -> Path:
        return self.directory / "jwt"

    def start(self, timeout: float = 10) -> NatsServer:
        self._spawn([_binary("nats-server"), "-c", str(self.directory / "nats.conf")])
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"nats-server did not listen on {self.port}:\n{log_tail(self.log)}")
            time.sleep(0.01)
        return self

    def wipe_resolver(self) -> None:
        """Empty the full resolver's directory (the server must be stopped: it keeps accounts in memory)."""
        for path in self.resolver_dir.iterdir():
            path.unlink()


class RedisServer(Process):
    """A private, memory-only redis-server, so drills can stop it without touching anything else."""

    def __init__(self, directory: Path, port: int | None = None):
        super().__init__("redis-server", directory / "redis-server.log")
        self.directory = directory
        self.port = port or free_port()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> RedisServer:
        self._spawn(
            [
                _binary("redis-server"),
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(self.directory),
            ]
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not listen on {self.port}:\n{log_tail(self.log)}")
            time.sleep(0.01)
        return self


class CeleryProcess(Process):
    """`celery -A stoneage worker|beat` with the given environment; `start()` returns once it is ready."""

    def __init__(self, kind: str, directory: Path, env: dict, *extra: str):
        super().__init__(f"celery {kind}", directory / f"celery-{kind}.log")
        self.kind = kind
        self.directory = directory
        self.env = env
        self.extra = list(extra)

    def start(self, timeout: float = 30) -> CeleryProcess:
        args = [sys.executable, "-m", "celery", "-A", "stoneage", self.kind, "--loglevel", "INFO"]
        if self.kind == "worker":
            args += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"test-{os.getpid()}@%h"]
            ready = " ready."
        else:
            args += ["--schedule", str(self.directory / "celerybeat-schedule"), "--pidfile="]
            ready = "beat: Starting"
        start = self.log.stat().st_size if self.log.exists() else 0
        self._spawn(args + self.extra, env=self.env)
        deadline = time.monotonic() + timeout
        while ready not in self.log.read_text(errors="replace")[start:]:
            self.check_alive()
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not become ready:\n{log_tail(self.log)}")
            time.sleep(0.05)
        return self


def database_url(settings_dict: dict) -> str:
    """DATABASE_URL for a subprocess that must use the same database as this process (the test database)."""
    engine = settings_dict["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(settings_dict['NAME']).resolve()}"
    if engine == "django.db.backends.postgresql":
        user = quote(settings_dict.get("USER") or "", safe="")
        password = quote(settings_dict.get("PASSWORD") or "", safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = settings_dict.get("HOST") or "127.0.0.1"
        port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
        return f"postgres://{auth}{host}{port}/{settings_dict['NAME']}"
    raise RuntimeError(f"no DATABASE_URL form for {engine}")


def celery_env(*, settings_module: str, database: str, broker: str, nats_url: str, **extra: str) -> dict:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        DATABASE_URL=database,
        REDIS_URL=broker,
        CELERY_BROKER_URL=broker,
        NATS_URL=nats_url,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


@contextmanager
def use_broker(url: str):
    """Point this process's Celery app (`.delay()`) at another broker for the duration."""
    from stoneage.celery import app

    def reset() -> None:
        # Forget, don't close: kombu's pools are global, keyed by URL, and a closed one stays closed.
        app._pool = None
        app.amqp._producer_pool = None

    previous = app.conf.broker_url
    app.conf.broker_url = url
    reset()
    try:
        yield
    finally:
        app.conf.broker_url = previous
        reset()


# --- nats-py from synchronous code ------------------------------------------------------------------------------


class EventLoopThread:
    """An asyncio loop in a daemon thread, so synchronous tests (and the Django ORM) can drive nats-py clients."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="nats-client-loop", daemon=True)
        self.thread.start()

    def run(self, coro, timeout: float = 15):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class Inbox:
    """Messages received by one subscription."""

    def __init__(self) -> None:
        self.messages: list = []

    async def handler(self, msg) -> None:
        self.messages.append(msg)

    @property
    def payloads(self) -> list[bytes]:
        return [m.data for m in self.messages]


class Client:
    """A nats-py connection that records its errors and when it was disconnected and closed. By default it never
    reconnects: a dropped connection stays dropped, which is what the revocation tests observe. With
    `reconnect=True` it comes back with the same credentials, as a device does (`reconnected` counts it)."""

    def __init__(self, loop: EventLoopThread):
        self.loop = loop
        self.nc: nats.NATS | None = None
        self.errors: list[Exception] = []
        self.disconnected = threading.Event()
        self.closed = threading.Event()
        self.disconnected_at: float | None = None
        self.reconnections = 0

    async def _error(self, exc: Exception) -> None:
        self.errors.append(exc)

    async def _disconnected(self) -> None:
        self.disconnected_at = self.disconnected_at or time.monotonic()
        self.disconnected.set()

    async def _closed(self) -> None:
        self.closed.set()

    async def _reconnected(self) -> None:
        self.reconnections += 1

    def connect(self, url: str, creds: str, *, reconnect: bool = False, **options) -> Client:
        self.nc = self.loop.run(
            nats.connect(
                servers=[url],
                user_credentials=RawCredentials(creds),  # nats-py parses the .creds text itself
                error_cb=self._error,
                disconnected_cb=self._disconnected,
                closed_cb=self._closed,
                reconnected_cb=self._reconnected,
                allow_reconnect=reconnect,
                max_reconnect_attempts=-1 if reconnect else 1,  # 0 would retry the first connect forever
                reconnect_time_wait=0.05 if reconnect else 0,
                connect_timeout=2,
                **options,
            )
        )
        return self

    @property
    def error_texts(self) -> list[str]:
        return [str(e).lower() for e in self.errors]

    def subscribe(self, subject: str) -> Inbox:
        inbox = Inbox()
        self.loop.run(self._subscribe(subject, inbox))
        return inbox

    async def _subscribe(self, subject: str, inbox: Inbox) -> None:
        await self.nc.subscribe(subject, cb=inbox.handler)
        await self.nc.flush(timeout=2)

    def publish(self, subject: str, data: bytes = b"") -> None:
        self.loop.run(self._publish(subject, data))

    async def _publish(self, subject: str, data: bytes) -> None:
        await self.nc.publish(subject, data)
        await self.nc.flush(timeout=2)

    def request(self, subject: str, data: bytes = b"", timeout: float = 2):
        return self.loop.run(self.nc.request(subject, data, timeout=timeout))

    def flush(self) -> None:
        self.loop.run(self.nc.flush(timeout=2))

    def close(self) -> None:
        if self.nc is not None and not self.nc.is_closed:
            self.loop.run(self.nc.close())
