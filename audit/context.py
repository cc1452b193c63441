"""Who is acting, from where, as part of which request: the context every audit event is stamped with.

The context lives in a `contextvars.ContextVar`, so it follows the code that handles one request, one
Celery task or one management command, threads and asyncio tasks included, without being passed around.

- `AuditContextMiddleware` opens a context per HTTP request. The actor is read lazily from the request, so
  a user that Django REST framework authenticates inside the view (API token, forced authentication in
  tests) is the actor of every change the view makes.
- Celery tasks run in the context of the request that queued them (see `audit.signals`).
- Management commands run as `system:<command>` unless a context is already open (see `audit.signals`).
- `audit_context(...)` opens a context explicitly; `set_actor` / `set_organization` refine the current one.
- `disabled()` turns the audit log off for its block: for benchmarks and data migrations only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Any

SYSTEM = "system"
ANONYMOUS = "anonymous"


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
