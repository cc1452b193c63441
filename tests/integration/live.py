"""Django-aware helpers for the integration tests: credentials, what the server holds, convergence."""

from __future__ import annotations

from pathlib import Path

from credentials.codecs import natsjwt as nj
from credentials.models import Account, AccountTombstone
from credentials.services import nats as svc
from tests.integration.support import log_tail, wait_until

#: Logs of the session's Celery processes, quoted when a convergence wait times out.
WORKER_LOGS: list[Path] = []


def system_creds() -> str:
    """`.creds` of a short-lived system-account user (what the pusher uses)."""
    jwt, seed = svc.system_push_credentials()
    return nj.format_user_creds(jwt, seed)


def server_jwt(system_client, account: Account) -> str:
    """The account JWT the server's resolver holds ('' when it has none)."""
    reply = system_client.request(f"$SYS.REQ.ACCOUNT.{account.public_key}.CLAIMS.LOOKUP")
    return reply.data.decode()


def behind() -> list[str]:
    return [f"{a.name}: r{a.pushed_revision}/{a.revision} {a.push_error}" for a in Account.objects.behind()]


def wait_pushed(timeout: float = 10) -> None:
    """Wait until every account's newest revision is on the server (`pushed_revision == revision`)."""
    try:
        wait_until(lambda: not Account.objects.behind().exists(), timeout, what="every account pushed")
    except AssertionError as exc:
        logs = "\n".join(log_tail(p, 30) for p in WORKER_LOGS)
        raise AssertionError(f"{exc}; still behind: {behind()}\n{logs}") from None


def refused(connect, creds: str) -> str:
    """Connect with `creds`, expecting the server to refuse; returns the error text (lower case)."""
    try:
        client = connect(creds)
    except Exception as exc:
        return str(exc).lower() or type(exc).__name__
    client.close()
    raise AssertionError("the server accepted credentials it should refuse")


def pending_deletions() -> list[str]:
    return list(AccountTombstone.objects.filter(done_at__isnull=True).values_list("name", flat=True))
