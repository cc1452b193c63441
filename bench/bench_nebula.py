"""Nebula host certificate issuance throughput (pure codec, no Django).

Run: ``.venv/bin/python bench/bench_nebula.py [--seconds 2.0]``

Measures, on this machine and in one run:

* raw Ed25519 signatures per second (cryptography, key already loaded, a host-sized message): the floor
  cost of any certificate;
* host certificates issued per second by the codec: X25519 keygen + ``sign_host`` (v1, with the CA key as
  the 64 stored bytes, and again with a preloaded key object) + PEM of certificate and key;
* ``nebula-cert sign`` run as a subprocess (keygen + sign + files), the reference tool.

Runtime is bounded: every phase is time-boxed (default 2 s each, well under 30 s in total).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: E402

from credentials.codecs import nebulacert as nc  # noqa: E402


def rate(fn: Callable[[int], object], seconds: float, max_iterations: int = 10_000_000) -> tuple[float, int]:
    """Call ``fn(i)`` repeatedly for about ``seconds``; return (calls per second, calls)."""
    fn(max_iterations)  # warm-up, with an index the timed loop never uses
    n = 0
    start = time.perf_counter()
    deadline = start + seconds
    while n < max_iterations:
        fn(n)
        n += 1
        if n % 16 == 0 and time.perf_counter() >= deadline:
            break
    elapsed = time.perf_counter() - start
    return n / elapsed, n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time box per phase (default 2.0)")
    args = parser.parse_args()
    seconds = max(0.2, min(args.seconds, 5.0))

    now = int(time.time())
    ca, ca_key = nc.create_ca("bench-ca", now - 60, now + 365 * 86400, groups=["web", "ops"])
    ca_key_obj = ed25519.Ed25519PrivateKey.from_private_bytes(ca_key[:32])

    # A host-sized signing input: the details of a typical issued certificate.
    _priv, pub = nc.generate_host_keypair()
    sample = nc.sign_host(ca, ca_key, "host-00000", ["10.128.0.5/16"], ["web"], now, now + 86400, pub)
    message = sample.signing_input()

    def raw_sign(_i: int) -> object:
        return ca_key_obj.sign(message)

    def issue_with(key: bytes | ed25519.Ed25519PrivateKey) -> Callable[[int], object]:
        def issue(i: int) -> object:
            priv, public = nc.generate_host_keypair()
            ip = f"10.128.{(i >> 8) & 0xFF}.{(i & 0xFF) or 1}/16"
            cert = nc.sign_host(ca, key, f"host-{i:05d}", [ip], ["web"], now, now + 86400, public)
            return cert.to_pem(), nc.x25519_private_key_to_pem(priv)

        return issue

    raw_rate, raw_n = rate(raw_sign, seconds)
    issue_rate, issue_n = rate(issue_with(ca_key), seconds)
    issue_obj_rate, issue_obj_n = rate(issue_with(ca_key_obj), seconds)

    print(f"python {sys.version.split()[0]}, cryptography-backed Ed25519/X25519, certificate v1")
    print(f"raw Ed25519 sign ({len(message)}-byte message):       {raw_rate:10.0f} /s  ({raw_n} ops)")
    print(f"host cert issue (keygen+sign+PEM, 64-byte CA key): {issue_rate:10.0f} /s  ({issue_n} certs)")
    print(
        f"host cert issue (preloaded CA key object):         {issue_obj_rate:10.0f} /s  ({issue_obj_n} certs)"
    )
    print(f"ratio issue / raw sign:                            {issue_rate / raw_rate:10.3f}")
    print(f"ratio issue (preloaded key) / raw sign:            {issue_obj_rate / raw_rate:10.3f}")

    nebula_cert = shutil.which("nebula-cert")
    if nebula_cert is None:
        print("nebula-cert not found on PATH (apt-get install nebula): subprocess comparison not run")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "ca.crt").write_text(ca.to_pem())
        (work / "ca.key").write_text(nc.ed25519_private_key_to_pem(ca_key))

        def nebula_sign(i: int) -> object:
            name = f"n{i:05d}"
            r = subprocess.run(
                [
                    nebula_cert, "sign", "-ca-crt", str(work / "ca.crt"), "-ca-key", str(work / "ca.key"),
                    "-name", name, "-ip", f"10.129.{(i >> 8) & 0xFF}.{(i & 0xFF) or 1}/16", "-groups", "web",
                    "-duration", "1h",
                    "-out-crt", str(work / f"{name}.crt"), "-out-key", str(work / f"{name}.key"),
                ],
                capture_output=True,
                check=False,
            )  # fmt: skip
            if r.returncode != 0:
                raise RuntimeError(f"nebula-cert sign failed: {r.stderr.decode(errors='replace')}")
            return r

        sub_rate, sub_n = rate(nebula_sign, seconds, max_iterations=2000)
    print(f"nebula-cert sign (subprocess, keygen+sign+files):  {sub_rate:10.1f} /s  ({sub_n} certs)")
    print(f"ratio codec issue / nebula-cert subprocess:        {issue_rate / sub_rate:10.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
