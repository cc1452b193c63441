"""Nebula host certificates issued per second, against the cryptography no certificate can do without.

Run: ``.venv/bin/python bench/bench_nebula.py [--seconds 3.0] [--service-hosts 100]``

Measures, side by side in one run, in CPU time of this process (the phases alternate in short rounds and the best
round of each counts, which keeps the ratios steady on a busy machine):

* device-supplied public key. Limit: one raw Ed25519 signature (cryptography, key loaded, a message the size of
  a host certificate's details). Measured: what ``issue_certificate`` runs for a certificate, i.e.
  ``HostSigner.sign`` with the CA loaded once for the operation, then the certificate's PEM and fingerprint.
  Goal: at least 0.5 of the limit.
* generated key. Limit: X25519 key generation + one Ed25519 signature. Measured: what ``create_host`` adds,
  i.e. ``generate_host_keypair`` + the same issuance + the private key's PEM. Goal: at least 0.5 of the limit.
* informational: loading a ``HostSigner`` (CA certificate and key), paid once per operation; the full service
  path ``renew_due_hosts`` with a database (throwaway in-memory SQLite, wall clock: the CA key decrypted once,
  then per host a row lock, the revocation lookup, the save and its audit event); and ``nebula-cert sign`` run
  as a subprocess, the reference tool.

Runtime is bounded: well under a minute with the defaults.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric import ed25519, x25519  # noqa: E402

from bench.report import result  # noqa: E402
from bench.support import best_rates, throwaway_django  # noqa: E402
from credentials.codecs import nebulacert as nc  # noqa: E402

GOAL = 0.5
ROUND = 100  # calls per round


def codec_figures(seconds: float) -> None:
    now = datetime.now(UTC)
    ca, ca_key = nc.create_ca("bench-ca", now - timedelta(minutes=5), now + timedelta(days=3650))
    signer = nc.HostSigner(ca, ca_key)
    not_before, not_after = now - timedelta(minutes=5), now + timedelta(days=365)
    _, device_key = nc.generate_host_keypair()

    def issue(i: int, public_key: bytes) -> nc.NebulaCertificate:
        ip = f"10.128.{i >> 8 & 0xFF}.{i & 0xFF or 1}/16"
        cert = signer.sign(f"host-{i:06d}", [ip], ["web"], not_before, not_after, public_key)
        cert.to_pem(), cert.fingerprint()
        return cert

    message = issue(0, device_key).signing_input()
    raw_key = ed25519.Ed25519PrivateKey.from_private_bytes(ca_key[:32])

    def raw_sign(_i: int) -> None:
        raw_key.sign(message)

    def raw_keygen_sign(_i: int) -> None:
        x25519.X25519PrivateKey.generate().public_key().public_bytes_raw()
        raw_key.sign(message)

    def device(i: int) -> None:
        issue(i, device_key)

    def generated(i: int) -> None:
        private, public = nc.generate_host_keypair()
        issue(i, public)
        nc.x25519_private_key_to_pem(private)

    def load_signer(_i: int) -> None:
        nc.HostSigner(nc.load_certificate(ca.to_pem()), nc.load_ca_key(nc.ed25519_private_key_to_pem(ca_key)))

    rates = best_rates(
        {"raw": raw_sign, "device": device, "raw_keygen": raw_keygen_sign, "generated": generated}, seconds, ROUND
    )
    load = best_rates({"load": load_signer}, min(seconds, 1.0), ROUND)["load"]
    print(f"python {sys.version.split()[0]}, certificate v1, signing input {len(message)} bytes")
    result("raw Ed25519 signature", f"{rates['raw']:,.0f}/s", goal="physical limit")
    device = rates["device"] / rates["raw"]
    result(
        "Nebula host certificate, device-supplied key", f"{rates['device']:,.0f}/s",
        goal=f">= {GOAL} x raw signature", ratio=device, met=device >= GOAL,
    )  # fmt: skip
    result("raw X25519 key generation + Ed25519 signature", f"{rates['raw_keygen']:,.0f}/s", goal="physical limit")
    generated = rates["generated"] / rates["raw_keygen"]
    result(
        "Nebula host certificate, generated key", f"{rates['generated']:,.0f}/s",
        goal=f">= {GOAL} x (keygen + signature)", ratio=generated, met=generated >= GOAL,
    )  # fmt: skip
    result("Nebula CA signer load (once per operation)", f"{1e6 / load:,.1f} µs")


def service_rate(hosts: int) -> tuple[float, str]:
    """Certificates per second renewed by `renew_due_hosts`, database included."""
    vendor = throwaway_django()
    from credentials.models import Host
    from credentials.services import nebula as svc
    from tenancy.models import Organization

    organization = Organization.objects.create(name="Bench", slug="bench")  # its CA comes with it
    network = svc.create_network(organization=organization, name="mesh", cidr="10.128.0.0/16")
    for i in range(hosts):
        svc.create_host(network=network, hostname=f"host-{i:05d}")
    now = datetime.now(UTC)
    Host.objects.update(not_before=now - timedelta(days=360), not_after=now + timedelta(days=5))  # all due
    start = time.perf_counter()
    report = svc.renew_due_hosts(now=now)
    elapsed = time.perf_counter() - start
    assert len(report.renewed) == hosts and not report.failed, report
    return hosts / elapsed, vendor


def nebula_cert_rate(seconds: float) -> float | None:
    nebula_cert = shutil.which("nebula-cert")
    if nebula_cert is None:
        return None
    now = datetime.now(UTC)
    ca, ca_key = nc.create_ca("bench-ca", now - timedelta(minutes=5), now + timedelta(days=3650))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "ca.crt").write_text(ca.to_pem())
        (work / "ca.key").write_text(nc.ed25519_private_key_to_pem(ca_key))
        n, start = 0, time.perf_counter()
        while n < 20 or time.perf_counter() - start < seconds:
            name = f"n{n:05d}"
            subprocess.run(
                [
                    nebula_cert, "sign", "-ca-crt", str(work / "ca.crt"), "-ca-key", str(work / "ca.key"),
                    "-name", name, "-ip", f"10.129.{n >> 8 & 0xFF}.{n & 0xFF or 1}/16", "-groups", "web",
                    "-duration", "1h", "-out-crt", str(work / f"{name}.crt"), "-out-key", str(work / f"{name}.key"),
                ],
                capture_output=True,
                check=True,
            )  # fmt: skip
            n += 1
        return n / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time for the codec phases (default 3)")
    parser.add_argument("--service-hosts", type=int, default=100, help="hosts renewed by the service (0 = skip)")
    args = parser.parse_args()
    seconds = max(0.5, min(args.seconds, 20.0))

    codec_figures(seconds)
    if args.service_hosts > 0:
        hosts = min(args.service_hosts, 2000)
        rate, vendor = service_rate(hosts)
        result(f"renew_due_hosts ({vendor}, {hosts} hosts)", f"{rate:,.0f}/s")
    subprocess_rate = nebula_cert_rate(min(seconds, 2.0))
    if subprocess_rate is None:
        print("nebula-cert not found on PATH (apt-get install nebula): subprocess comparison not run")
    else:
        result("nebula-cert sign as a subprocess", f"{subprocess_rate:,.1f}/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
