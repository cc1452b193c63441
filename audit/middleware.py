"""Per-request audit context, the `X-Request-ID` header, and the API request log.

Settings:
- `AUDIT_TRUSTED_PROXIES`: addresses or networks of reverse proxies whose `X-Forwarded-For` is believed.
  Empty (the default) means the client address is `REMOTE_ADDR`.
- `AUDIT_API_READS`: also record safe (GET/HEAD/OPTIONS) API requests, not only mutating ones.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import uuid
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from audit import services
from audit.context import AuditContext, activate, current, deactivate

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,63}$")
_ORG_PATH = re.compile(r"^/api/v1/orgs/(?P<slug>[-\w]+)/")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuditContextMiddleware:
    """Opens the audit context of each request (after `AuthenticationMiddleware`) and, once the response
    is ready, records mutating API requests."""

    def __init__(self, get_response):
        self.get_response = get_response
        try:
            _trusted_networks(tuple(settings.AUDIT_TRUSTED_PROXIES))
        except ValueError as exc:
            raise ImproperlyConfigured(f"AUDIT_TRUSTED_PROXIES: {exc}") from exc

    def __call__(self, request):
        context = context_from_request(request)
        token = activate(context)
        started = time.monotonic()
        try:
            response = self.get_response(request)
            if self._records(request):
                self._record(request, response, started)
        finally:
            deactivate(token)
        response[REQUEST_ID_HEADER] = context.request_id
        return response

    @staticmethod
    def _records(request) -> bool:
        if not request.path.startswith("/api/"):
            return False
        return request.method not in SAFE_METHODS or settings.AUDIT_API_READS

    @staticmethod
    def _record(request, response, started: float) -> None:
        try:
            services.record_api_request(
                request=request,
                status=response.status_code,
                duration_ms=(time.monotonic() - started) * 1000,
                organization_id=current().organization_id or _organization_from_path(request),
            )
        except Exception:
            # The response is already decided (and any change committed); losing this line is logged loudly
            # rather than turning a successful request into an error.
            logger.exception("Could not record the API request %s %s in the audit log", request.method, request.path)


def context_from_request(request) -> AuditContext:
    request = getattr(request, "_request", request)  # a DRF Request wraps Django's
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    return AuditContext(
        request_id=incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex,
        ip=client_ip(request),
        user_agent=services.clean_text(request.headers.get("User-Agent", ""))[:300],
        request=request,
    )


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
    return any(address in network for network in _trusted_networks(tuple(settings.AUDIT_TRUSTED_PROXIES)))


@lru_cache(maxsize=8)
def _trusted_networks(proxies: tuple[str, ...]):
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def _organization_from_path(request) -> int | None:
    """For API views outside the org-scoped base (e.g. `/api/v1/orgs/<slug>/` itself): the organization
    named in the path, when the caller can see it."""
    match = _ORG_PATH.match(request.path)
    user = getattr(request, "user", None)
    if match is None or user is None:
        return None
    from tenancy.models import Organization

    return Organization.objects.for_user(user).filter(slug=match["slug"]).values_list("pk", flat=True).first()
