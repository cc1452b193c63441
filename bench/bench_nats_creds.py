"""NATS users created with their `.creds` per second, against raw nkeys key generation + signing on the same machine.

Run: ``.venv/bin/python bench/bench_nats_creds.py [--seconds 2.0] [--service-users 200]``

Measures, in one run:

* the floor: the reference ``nkeys`` package generating a user key pair (seed, key object, public key) and
  signing one user-JWT-sized message with an account key;
* the codec path of a new user: the codec calls the platform makes when a user is created and its ``.creds``
  downloaded, with the account signing key at hand: ``create_user()`` (a new key pair), ``encode()`` of the
  user claims signed by the account signing key, ``format_user_creds(verify=False)`` (the ``.creds`` text,
  without re-verifying what was just signed). Goal: at least 0.5 of the floor;
* the full service path (informational): ``create_user`` + ``user_creds`` with a database (throwaway in-memory
  SQLite), i.e. also the signing key's seed decrypted, the user's seed encrypted at rest, the row saved, then
  decrypted into the ``.creds`` text.

The floor and the codec path are timed in alternating samples of a few calls and the fastest sample of each
counts, which keeps the ratio steady on a busy machine. Runtime is bounded: about ``--seconds`` per path, well
under a minute in all.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import nkeys  # noqa: E402

from bench.report import result  # noqa: E402
from bench.support import best_rates, throwaway_django  # noqa: E402
from credentials.codecs import natsjwt as nj  # noqa: E402

GOAL = 0.5
ROUND = 10  # calls per timed round


def device_claims(public_key: str, account_public_key: str) -> nj.UserClaims:
    """A typical thing's user, as the service builds it: a few publish and subscribe subjects, inbox replies."""
    return nj.UserClaims(
        subject=public_key,
        name="sensor-0001",
        pub_allow=["acme.telemetry.sensor-0001.>", "acme.events.sensor-0001", "_INBOX.>"],
        sub_allow=["acme.commands.sensor-0001.>", "_INBOX.>"],
        issuer_account=account_public_key,
    )


def codec_rates(seconds: float) -> tuple[float, float, int]:
    account, signer = nj.create_account(), nj.create_account()
    sample = nj.encode(device_claims(nj.create_user().public_key, account.public_key), signer)
    signing_input = sample.rsplit(".", 1)[0].encode()  # what the floor signs: same size

    raw_signer = nkeys.from_seed(signer.seed.encode())

    def raw(_i: int) -> None:
        seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
        nkeys.from_seed(seed).public_key  # noqa: B018 - deriving the public key is part of keygen
        raw_signer.sign(signing_input)

    def new_user(_i: int) -> None:
        user = nj.create_user()
        token = nj.encode(device_claims(user.public_key, account.public_key), signer)
        nj.format_user_creds(token, user.seed, verify=False)

    rates = best_rates({"raw": raw, "codec": new_user}, 2 * seconds, ROUND)
    return rates["raw"], rates["codec"], len(signing_input)


def service_rate(users: int) -> tuple[float, str]:
    vendor = throwaway_django()
    from credentials import outbox
    from credentials.services import nats as svc
    from tenancy.models import Organization

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
    return users / (time.perf_counter() - start), vendor


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per codec path (default 2)")
    parser.add_argument("--service-users", type=int, default=200, help="users through the service path (0 = skip)")
    args = parser.parse_args()
    seconds = max(0.3, min(args.seconds, 10.0))

    raw, codec, size = codec_rates(seconds)
    ratio = codec / raw
    print(f"python {sys.version.split()[0]}, nkeys {nkeys.__version__}, user JWT signing input {size} bytes")
    result("raw nkeys key pair + one signature", f"{raw:,.0f}/s", goal="physical limit")
    result(
        "new NATS user + .creds in the codec (keys, JWT, .creds)",
        f"{codec:,.0f}/s",
        goal=f">= {GOAL} x raw",
        ratio=ratio,
        met=ratio >= GOAL,
    )
    if args.service_users > 0:
        users = min(args.service_users, 5000)
        service, vendor = service_rate(users)
        result(f"create_user + user_creds through the service ({vendor}, {users} users)", f"{service:,.0f}/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
