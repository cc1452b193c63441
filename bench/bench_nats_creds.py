"""NATS user credentials minted per second, against raw nkeys key generation + signing on the same machine.

Run: ``.venv/bin/python bench/bench_nats_creds.py [--seconds 2.0] [--service-users 200]``

Measures, in one run:

* the floor: the reference ``nkeys`` package generating a user key pair (seed, key object, public key) and
  signing one user-JWT-sized message with an account key;
* the codec: ``natsjwt.mint_user_credentials`` (key pair, claims JSON, JWT signed by the account signing key,
  ``.creds`` text), the same work plus everything a usable credential needs. Goal: at least 0.5 of the floor;
* the full service path (informational): ``create_user`` + ``user_creds`` with a database (throwaway in-memory
  SQLite), i.e. the seed encrypted at rest, the row saved, then decrypted into the ``.creds`` text.

Runtime is bounded: each timed phase lasts about ``--seconds`` (best of three), well under a minute in all.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nkeys  # noqa: E402

from credentials.codecs import natsjwt as nj  # noqa: E402

GOAL = 0.5


def rate(fn: Callable[[], object], seconds: float) -> float:
    """Calls of `fn` per second: best of three runs of about `seconds` / 3 each."""
    fn()  # warm-up
    best = 0.0
    for _ in range(3):
        n, start = 0, time.perf_counter()
        deadline = start + seconds / 3
        while True:
            for _ in range(50):
                fn()
            n += 50
            now = time.perf_counter()
            if now >= deadline:
                break
        best = max(best, n / (now - start))
    return best


def device_claims(account_public_key: str) -> nj.UserClaims:
    """A typical thing's user: a few publish and subscribe subjects, request/reply inbox."""
    return nj.UserClaims(
        name="sensor-0001",
        pub_allow=["acme.telemetry.sensor-0001.>", "acme.events.sensor-0001", "_INBOX.>"],
        sub_allow=["acme.commands.sensor-0001.>", "_INBOX.>"],
        sub_deny=[],
        issuer_account=account_public_key,
    )


def codec_rates(seconds: float) -> tuple[float, float, int]:
    account, signer = nj.create_account(), nj.create_account()
    claims = device_claims(account.public_key)
    sample = nj.mint_user_credentials(claims, signer)
    signing_input = sample.jwt.rsplit(".", 1)[0].encode()  # what the raw floor signs: same size

    raw_signer = nkeys.from_seed(signer.seed.encode())

    def raw() -> None:
        seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
        nkeys.from_seed(seed).public_key  # noqa: B018 - deriving the public key is part of keygen
        raw_signer.sign(signing_input)

    def mint() -> None:
        nj.mint_user_credentials(claims, signer)

    return rate(raw, seconds), rate(mint, seconds), len(signing_input)


def service_rate(users: int) -> tuple[float, str]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stoneage.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("STONEAGE_SECRET_KEYS", base64.urlsafe_b64encode(os.urandom(32)).decode())
    os.environ["DATABASE_URL"] = "sqlite://:memory:"  # throwaway, whatever the environment points at
    import django

    django.setup()
    from django.db import connection

    from credentials import outbox
    from credentials.services import nats as svc
    from tenancy.models import Organization

    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    outbox.push_account = lambda account_id: None  # no broker here; pushing is bench_nats_push's subject
    svc.bootstrap()
    account = Organization.objects.create(name="Bench", slug="bench").nats_account  # provisioned by the signal
    start = time.perf_counter()
    for i in range(users):
        user = svc.create_user(
            account=account,
            name=f"sensor-{i:04}",
            publish_allow=[f"telemetry.sensor-{i:04}.>"],
            subscribe_allow=[f"commands.sensor-{i:04}.>"],
        )
        svc.user_creds(user)
    return users / (time.perf_counter() - start), connection.vendor


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per codec phase (default 2)")
    parser.add_argument("--service-users", type=int, default=200, help="users through the service path (0 = skip)")
    args = parser.parse_args()
    seconds = max(0.3, min(args.seconds, 10.0))

    raw, mint, size = codec_rates(seconds)
    ratio = mint / raw
    print(f"python {sys.version.split()[0]}, nkeys {nkeys.__version__}, user JWT signing input {size} bytes")
    print(f"raw nkeys keygen + sign:                    {raw:10.0f} /s")
    print(f"mint_user_credentials (key, JWT, .creds):   {mint:10.0f} /s")
    verdict = "met" if ratio >= GOAL else "NOT met"
    print(f"ratio mint / raw:                           {ratio:10.2f}   goal >= {GOAL}: {verdict}")
    if args.service_users > 0:
        users = min(args.service_users, 5000)
        service, vendor = service_rate(users)
        label = f"create_user + user_creds ({vendor}, {users} users):"
        print(f"{label:<44}{service:8.0f} /s   (ratio to raw {service / raw:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
