"""Who is acting, from where, as part of which request: the context every audit event is stamped with.

The context lives in a `contextvars.ContextVar`, so it follows the code that handles one request, one
Celery task or one management command, threads and asyncio tasks included, without being passed around.

- `AuditContextMiddleware` opens a context per HTTP request (`context_from_request`). The actor is read
  lazily from the request, so a user that Django REST framework authenticates inside the view (API token,
  forced authentication in tests) is the actor of every change the view makes.
- Celery tasks run in the context of the request that queued them (see `audit.signals`).
- Management commands run as `system:<command>` unless a context is already open (see `audit.signals`).
- `audit_context(...)` opens a context explicitly; `set_actor` / `set_organization` refine the current one.
- `disabled()` turns the audit log off for its block: for benchmarks and data migrations only.

`AUDIT_TRUSTED_PROXIES` (addresses or networks of reverse proxies whose `X-Forwarded-For` is believed; empty
by default) decides the client address of a request.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from functools import lru_cache
from typing import Any

from django.conf import settings

SYSTEM = "system"
ANONYMOUS = "anonymous"
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,63}$")


@dataclasses.dataclass(frozen=True)
class AuditContext:
    request_id: str = ""
    actor_id: int | None = None
    actor_name: str = ""
    organization_id: int | None = None
    ip: str | None = None
    user_agent: str = ""
    #: The HTTP request being handled; its user is resolved when an event is written, not before.
    request: Any = dataclasses.field(default=None, compare=False, repr=False)

    def actor(self) -> tuple[int | None, str]:
        """(user id, display name) of whoever acts: an explicit actor, else the request's user, else system."""
        if self.actor_id is not None or self.actor_name:
            return self.actor_id, self.actor_name
        if self.request is not None:
            user = getattr(self.request, "user", None)
            if user is not None and user.is_authenticated:
                if not hasattr(user, "get_username"):  # a device's session (inventory.devices.auth.Device)
                    return None, str(user)
                return user.pk, user.get_username()
            return None, ANONYMOUS
        return None, SYSTEM

    def is_open(self) -> bool:
        """Whether some request, task or command opened this context (the blank default is not open)."""
        return bool(self.request_id or self.actor_name or self.actor_id is not None or self.request is not None)

    def as_headers(self) -> dict[str, Any]:
        """A JSON-safe snapshot with the actor resolved, for handing the context to a Celery task."""
        actor_id, actor_name = self.actor()
        return {
            "request_id": self.request_id,
            "actor_id": actor_id,
            "actor_name": actor_name,
            "organization_id": self.organization_id,
            "ip": self.ip,
            "user_agent": self.user_agent,
        }

    @classmethod
    def from_headers(cls, headers: dict[str, Any]) -> AuditContext:
        names = {f.name for f in dataclasses.fields(cls)} - {"request"}
        return cls(**{key: value for key, value in headers.items() if key in names})


_BLANK = AuditContext()  # frozen, so one instance serves as everyone's default
_current: ContextVar[AuditContext] = ContextVar("stoneage_audit_context", default=_BLANK)
_disabled: ContextVar[bool] = ContextVar("stoneage_audit_disabled", default=False)


def current() -> AuditContext:
    return _current.get()


def activate(context: AuditContext) -> Token:
    """Make `context` current; hand the token to `deactivate` when the unit of work ends."""
    return _current.set(context)


def deactivate(token: Token) -> None:
    _current.reset(token)


@contextmanager
def audit_context(**values: Any) -> Iterator[AuditContext]:
    """Run a block in a context of its own, e.g. `audit_context(actor_name="system:importer")`."""
    token = _current.set(dataclasses.replace(_BLANK, **values))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def set_actor(user=None, *, name: str = "") -> None:
    """Name the actor of the rest of the current context (until the enclosing context ends)."""
    if user is not None:
        _current.set(dataclasses.replace(current(), actor_id=user.pk, actor_name=name or user.get_username()))
    else:
        _current.set(dataclasses.replace(current(), actor_id=None, actor_name=name))


def set_organization(organization) -> None:
    """Record the organization the current request acts in (the org-scoped API base calls this)."""
    _current.set(dataclasses.replace(current(), organization_id=getattr(organization, "pk", organization)))


def is_enabled() -> bool:
    return not _disabled.get()


@contextmanager
def disabled() -> Iterator[None]:
    """Write no audit events in the block. For benchmarks and data migrations only: what happens inside
    leaves no trace in the audit log."""
    token = _disabled.set(True)
    try:
        yield
    finally:
        _disabled.reset(token)


# --- The context of an HTTP request --------------------------------------------------------------------------


def context_from_request(request) -> AuditContext:
    request = getattr(request, "_request", request)  # a DRF Request wraps Django's
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    return AuditContext(
        request_id=incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex,
        ip=client_ip(request),
        user_agent=clean_text(request.headers.get("User-Agent", ""))[:300],
        request=request,
    )


def clean_text(text: str) -> str:
    """Text from a request, without the NUL characters PostgreSQL refuses to store."""
    return text.replace("\x00", "")


def client_ip(request) -> str | None:
    """The client's address: `REMOTE_ADDR`, or the nearest untrusted hop of `X-Forwarded-For` when the
    request came through a trusted proxy."""
    remote = _parse_ip(request.META.get("REMOTE_ADDR", ""))
    if remote is None or not _trusted(remote):
        return str(remote) if remote else None
    hops = [_parse_ip(part) for part in request.headers.get("X-Forwarded-For", "").split(",")]
    for hop in reversed([hop for hop in hops if hop is not None]):
        if not _trusted(hop):
            return str(hop)
    return str(remote)


def _parse_ip(value: str):
    try:
        address = ipaddress.ip_address(value.strip().split("%", 1)[0])  # without an IPv6 zone
    except ValueError:
        return None
    # A dual-stack listener sees IPv4 clients as `::ffff:a.b.c.d`: record (and match proxies against) the IPv4
    # address. The same for the deprecated IPv4-compatible `::a.b.c.d`, which PostgreSQL hands back spelled
    # differently from Python: the stored address must read back exactly as hashed, or the event fails to verify.
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if 0xFFFF < int(address) < 2**32:
            return ipaddress.IPv4Address(int(address))
    return address


def _trusted(address) -> bool:
    return any(address in network for network in trusted_networks(tuple(settings.AUDIT_TRUSTED_PROXIES)))


@lru_cache(maxsize=8)
def trusted_networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The networks of `AUDIT_TRUSTED_PROXIES`; raises ValueError for an entry that is not one."""
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)
