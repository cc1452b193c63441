#!/usr/bin/env python3
"""Reference device agent for Stone Age: enrolls a device with keys it generates itself and keeps its files current.

Standard library plus nats-py and nkeys (and `cryptography` when `nebula-cert` is not installed). No Django.

    device_agent.py enroll --url https://control.example --token sae_… --dir /var/lib/stoneage
    device_agent.py run --dir /var/lib/stoneage [--interval 300]
    device_agent.py publish --dir /var/lib/stoneage --subject acme.hq.sensor.s-01.temp --data 21.5

`enroll` generates an nkey user seed and a Nebula X25519 key pair, keeps both private keys in files of mode 0600,
and posts only the public keys with the one-time token. `run` proves the device's identity with its nkey (signing a
server nonce), fetches its config with `If-None-Match` (a 304 when nothing changed), writes its files atomically,
subscribes on NATS to its notification subject (`_SA.config.<code>`) and fetches again on every message, polls
every `--interval` seconds in case a notification was missed, and renews its JWT and certificate before they
expire. The private keys never leave the directory.

Files in `--dir`: `nats.seed` and `nebula.key` (private, 0600), `nebula.pub`, `user.creds` (0600: JWT and seed, for
NATS clients), `host.crt`, `ca.crt`, `config.yml` (Nebula, `pki.key` = `nebula.key` here), `blocklist.json`,
`state.json` (what was fetched: version, subjects, expiries).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import nats
import nkeys

log = logging.getLogger("device-agent")

SEED, NEBULA_KEY, NEBULA_PUB = "nats.seed", "nebula.key", "nebula.pub"
CREDS, HOST_CRT, CA_CRT, CONFIG, BLOCKLIST, STATE = (
    "user.creds",
    "host.crt",
    "ca.crt",
    "config.yml",
    "blocklist.json",
    "state.json",
)
#: Renew when this fraction of a credential's lifetime is left.
RENEW_FRACTION = 0.2
PRIVATE = 0o600


class AgentError(Exception):
    """Something the operator of the device must fix; printed as one sentence."""


# --- Files -------------------------------------------------------------------------------------------------------


def write_atomic(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    """Write `path` so that a reader sees the old file or the new one, never half of one."""
    data = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_state(directory: Path) -> dict:
    try:
        return json.loads((directory / STATE).read_text())
    except (OSError, ValueError):
        return {}


# --- Keys --------------------------------------------------------------------------------------------------------


def generate_nkey(directory: Path) -> str:
    """A new nkey user seed in `nats.seed` (0600); returns its public key."""
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    seed = seed.decode() if isinstance(seed, bytes) else seed
    write_atomic(directory / SEED, seed + "\n", PRIVATE)
    return nkeys.from_seed(seed.encode()).public_key.decode()


def keypair(directory: Path) -> nkeys.KeyPair:
    try:
        return nkeys.from_seed((directory / SEED).read_text().strip().encode())
    except OSError:
        raise AgentError(f"No nkey seed in {directory}: enroll first.") from None


def _pem(label: str, raw: bytes) -> str:
    body = base64.b64encode(raw).decode()
    return f"-----BEGIN NEBULA X25519 {label} KEY-----\n{body}\n-----END NEBULA X25519 {label} KEY-----\n"


def generate_nebula_key(directory: Path) -> str:
    """A new X25519 key pair (`nebula-cert keygen` when installed); returns the public key's PEM."""
    key, pub = directory / NEBULA_KEY, directory / NEBULA_PUB
    for path in (key, pub):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    tool = shutil.which("nebula-cert")
    if tool:
        keygen = [tool, "keygen", "-out-key", str(key), "-out-pub", str(pub)]
        subprocess.run(keygen, check=True, capture_output=True)  # noqa: S603 - nebula-cert from PATH
        os.chmod(key, PRIVATE)
    else:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

        private = X25519PrivateKey.generate()
        raw = serialization.Encoding.Raw
        write_atomic(
            key,
            _pem("PRIVATE", private.private_bytes(raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())),
            PRIVATE,
        )
        write_atomic(pub, _pem("PUBLIC", private.public_key().public_bytes(raw, serialization.PublicFormat.Raw)))
    return pub.read_text()


def creds_text(jwt: str, seed: str) -> str:
    return (
        "-----BEGIN NATS USER JWT-----\n"
        f"{jwt}\n"
        "------END NATS USER JWT------\n\n"
        "************************* IMPORTANT *************************\n"
        "NKEY Seed printed below can be used to sign and prove identity.\n"
        "NKEYs are sensitive and should be treated as secrets.\n\n"
        "-----BEGIN USER NKEY SEED-----\n"
        f"{seed}\n"
        "------END USER NKEY SEED------\n\n"
        "*************************************************************\n"
    )


# --- HTTP --------------------------------------------------------------------------------------------------------


def http(method: str, url: str, body: dict | None = None, headers: dict | None = None, timeout: float = 15):
    """(status, headers, JSON or None). A 4xx/5xx is returned, not raised; an unreachable server raises."""
    data = json.dumps(body).encode() if body is not None else None
    if not url.startswith(("http://", "https://")):
        raise AgentError(f"{url} is not an http(s) URL.")
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - checked above
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - checked above
            raw = response.read()
            return response.status, dict(response.headers), json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = {"detail": raw[:200].decode(errors="replace")}
        return exc.code, dict(exc.headers or {}), payload


def explain(payload) -> str:
    if isinstance(payload, dict):
        return (
            "; ".join(f"{field}: {' '.join(v) if isinstance(v, list) else v}" for field, v in payload.items())
            or "no detail"
        )
    return str(payload)


class Session:
    """A device session opened by signing the server's nonce with the device's nkey."""

    def __init__(self, url: str, directory: Path):
        self.url, self.directory = url.rstrip("/"), directory
        self.token: str | None = None
        self.expires = 0.0

    def authenticate(self) -> str:
        kp = keypair(self.directory)
        public_key = kp.public_key.decode()
        status, _, body = http("POST", f"{self.url}/api/v1/devices/challenge/", {"public_key": public_key})
        if status != 200:
            raise AgentError(f"The control plane refused the challenge ({status}): {explain(body)}")
        nonce = body["nonce"]
        signature = base64.urlsafe_b64encode(kp.sign(nonce.encode())).decode().rstrip("=")
        status, _, body = http(
            "POST",
            f"{self.url}/api/v1/devices/session/",
            {"public_key": public_key, "nonce": nonce, "signature": signature},
        )
        if status != 201:
            raise AgentError(f"The control plane refused the device ({status}): {explain(body)}")
        self.token, self.expires = body["token"], time.monotonic() + 600
        return self.token

    def call(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        if self.token is None or time.monotonic() > self.expires:
            self.authenticate()
        for attempt in (1, 2):
            sent = {**(headers or {}), "Authorization": f"Device {self.token}"}
            status, response_headers, payload = http(method, f"{self.url}{path}", body, sent)
            if status != 401 or attempt == 2:
                return status, response_headers, payload
            self.authenticate()
        raise AssertionError("unreachable")


# --- The device's files ------------------------------------------------------------------------------------------


def apply_bundle(directory: Path, url: str, bundle: dict) -> None:
    """Write what the control plane sent: each file atomically, the state last."""
    seed = (directory / SEED).read_text().strip()
    nats_part = bundle["nats"]
    write_atomic(directory / CREDS, creds_text(nats_part["jwt"], seed), PRIVATE)
    nebula_part = bundle.get("nebula")
    if nebula_part:
        write_atomic(directory / CA_CRT, nebula_part["ca"])
        write_atomic(directory / HOST_CRT, nebula_part["certificate"])
        write_atomic(directory / BLOCKLIST, json.dumps(nebula_part["blocklist"], indent=2) + "\n")
        write_atomic(directory / CONFIG, nebula_part["config"], PRIVATE)
    state = {
        "url": url,
        "version": bundle["version"],
        "organization": bundle["organization"],
        "code": bundle["code"],
        "nats_urls": nats_part["urls"],
        "subjects": nats_part["subjects"],
        "inbox_prefix": nats_part["inbox_prefix"],
        "notify_subject": nats_part["notify_subject"],
        "jwt_expires_at": nats_part["jwt_expires_at"],
        "certificate_not_before": (nebula_part or {}).get("not_before"),
        "certificate_not_after": (nebula_part or {}).get("not_after"),
        "fetched_at": datetime.now(UTC).isoformat(),
    }
    write_atomic(directory / STATE, json.dumps(state, indent=2) + "\n")
    log.info("config version %s written", bundle["version"][:12])


# --- Commands ----------------------------------------------------------------------------------------------------


def enroll(url: str, token: str, directory: Path) -> dict:
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    nats_public = generate_nkey(directory)
    nebula_public = generate_nebula_key(directory)
    body = {
        "token": token,
        "nats_public_key": nats_public,
        "nebula_public_key": nebula_public,
        "nebula_key_path": str((directory / NEBULA_KEY).resolve()),
    }
    status, _, payload = http("POST", f"{url.rstrip('/')}/api/v1/enroll/", body)
    if status != 201:
        raise AgentError(f"Enrollment refused ({status}): {explain(payload)}")
    apply_bundle(directory, url.rstrip("/"), payload)
    log.info("enrolled as %s in %s", payload["code"], payload["organization"])
    return payload


def _seconds_left(start: str | None, end: str | None, fallback_lifetime: float) -> tuple[float, float] | None:
    if not end:
        return None
    end_ts = datetime.fromisoformat(end.replace("Z", "+00:00")).timestamp()
    start_ts = datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp() if start else end_ts - fallback_lifetime
    return end_ts - time.time(), max(end_ts - start_ts, 1)


def _jwt_times(directory: Path) -> tuple[str | None, str | None]:
    try:
        text = (directory / CREDS).read_text()
        jwt = text.split("-----BEGIN NATS USER JWT-----")[1].split("------END")[0].strip()
        claims = json.loads(base64.urlsafe_b64decode(jwt.split(".")[1] + "=="))
    except (OSError, IndexError, ValueError):
        return None, None
    iat, exp = claims.get("iat"), claims.get("exp")
    iso = lambda t: datetime.fromtimestamp(t, UTC).isoformat() if t else None  # noqa: E731
    return iso(iat), iso(exp)


def renewal_wanted(directory: Path) -> tuple[bool, bool]:
    """(renew the JWT, renew the certificate too): when at most RENEW_FRACTION of a lifetime is left."""
    state = read_state(directory)
    iat, exp = _jwt_times(directory)
    jwt = _seconds_left(iat, exp, 365 * 86400)
    cert = _seconds_left(state.get("certificate_not_before"), state.get("certificate_not_after"), 365 * 86400)
    cert_due = bool(cert and cert[0] <= cert[1] * RENEW_FRACTION)
    jwt_due = bool(jwt and jwt[0] <= jwt[1] * RENEW_FRACTION)
    return jwt_due or cert_due, cert_due


class Agent:
    def __init__(self, directory: Path, interval: float):
        self.directory = directory
        state = read_state(directory)
        if not state.get("url"):
            raise AgentError(f"{directory} holds no enrolled device: run `enroll` first.")
        self.session = Session(state["url"], directory)
        self.interval = interval
        self.wake = asyncio.Event()
        self.stopping = asyncio.Event()

    def fetch(self) -> bool:
        """Fetch the config; returns whether something new was written."""
        version = read_state(self.directory).get("version")
        headers = {"If-None-Match": f'"{version}"'} if version else {}
        status, _, payload = self.session.call("GET", "/api/v1/devices/config/", headers=headers)
        if status == 304:
            return False
        if status != 200:
            raise AgentError(f"Config fetch refused ({status}): {explain(payload)}")
        apply_bundle(self.directory, self.session.url, payload)
        return True

    def renew_if_due(self) -> bool:
        due, nebula = renewal_wanted(self.directory)
        if not due:
            return False
        status, _, payload = self.session.call("POST", "/api/v1/devices/renew/", {"nebula": nebula})
        if status != 200:
            raise AgentError(f"Renewal refused ({status}): {explain(payload)}")
        apply_bundle(self.directory, self.session.url, payload)
        log.info("renewed (certificate too: %s)", nebula)
        return True

    async def http_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                await asyncio.to_thread(self.fetch)
                await asyncio.to_thread(self.renew_if_due)
            except (AgentError, OSError) as exc:
                log.warning("%s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.interval)
            self.wake.clear()

    async def nats_loop(self) -> None:
        """Stay subscribed to the notification subject; each message wakes the fetch loop."""
        while not self.stopping.is_set():
            state = read_state(self.directory)
            nc = nats.NATS()
            try:
                await nc.connect(
                    servers=state["nats_urls"],
                    user_credentials=str(self.directory / CREDS),
                    inbox_prefix=(state.get("inbox_prefix") or "_INBOX").encode(),
                    name=f"device-agent {state['code']}",
                    connect_timeout=2,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    allow_reconnect=True,
                )

                async def notified(msg) -> None:
                    log.info("notified on %s", msg.subject)
                    self.wake.set()

                await nc.subscribe(state["notify_subject"], cb=notified)
                await nc.flush()
                log.info("listening on %s", state["notify_subject"])
                self.wake.set()  # fetch once more: a change may have happened before the subscription
                await self.stopping.wait()
            except Exception as exc:  # noqa: BLE001 - NATS unreachable or refusing: retry
                log.warning("NATS: %s", exc or type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), 1)
            finally:
                with contextlib.suppress(Exception):
                    await nc.close()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        tasks = [asyncio.create_task(self.http_loop()), asyncio.create_task(self.nats_loop())]
        await self.stopping.wait()
        self.wake.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def publish(directory: Path, subject: str, data: str) -> None:
    """Publish one message with the device's own credentials; fails on a permissions violation."""
    state = read_state(directory)
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    nc = await nats.connect(
        servers=state["nats_urls"],
        user_credentials=str(directory / CREDS),
        inbox_prefix=(state.get("inbox_prefix") or "_INBOX").encode(),
        error_cb=on_error,
        connect_timeout=3,
        max_reconnect_attempts=1,
    )
    try:
        await nc.publish(subject, data.encode())
        await nc.flush(timeout=3)
        await asyncio.sleep(0.2)  # a permissions violation arrives asynchronously
    finally:
        await nc.close()
    violations = [e for e in errors if "permissions violation" in e.lower()]
    if violations:
        raise AgentError(f"NATS refused the publish: {violations[0]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("enroll", help="generate keys and enroll with a one-time token")
    p.add_argument("--url", required=True, help="the control plane's base URL")
    p.add_argument("--token", required=True, help="the one-time enrollment token")
    p.add_argument("--dir", required=True, type=Path)
    p = commands.add_parser("run", help="keep the device's credentials and configs current")
    p.add_argument("--dir", required=True, type=Path)
    p.add_argument("--interval", type=float, default=300, help="seconds between polls (notifications come sooner)")
    p = commands.add_parser("fetch", help="fetch the config once (and renew if due)")
    p.add_argument("--dir", required=True, type=Path)
    p = commands.add_parser("publish", help="publish one message with the device's credentials")
    p.add_argument("--dir", required=True, type=Path)
    p.add_argument("--subject", required=True)
    p.add_argument("--data", default="")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "enroll":
            enroll(args.url, args.token, args.dir)
        elif args.command == "run":
            asyncio.run(Agent(args.dir, args.interval).run())
        elif args.command == "fetch":
            agent = Agent(args.dir, 0)
            agent.fetch()
            agent.renew_if_due()
        else:
            asyncio.run(publish(args.dir, args.subject, args.data))
    except AgentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
