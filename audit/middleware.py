"""Per-request audit context, the `X-Request-ID` header, and the API request log.

Settings:
- `AUDIT_TRUSTED_PROXIES`: addresses or networks of reverse proxies whose `X-Forwarded-For` is believed.
  Empty (the default) means the client address is `REMOTE_ADDR` (see `audit.context.client_ip`).
- `AUDIT_API_READS`: also record safe (GET/HEAD/OPTIONS) API requests, not only mutating ones.
"""

from __future__ import annotations

import logging
import re
import time

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from audit import services
from audit.context import REQUEST_ID_HEADER, activate, context_from_request, current, deactivate, trusted_networks
from tenancy.models import Organization

logger = logging.getLogger(__name__)

_ORG_PATH = re.compile(r"^/api/v1/orgs/(?P<slug>[-\w]+)/")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuditContextMiddleware:
    """Opens the audit context of each request (after `AuthenticationMiddleware`) and, once the response
    is ready, records mutating API requests."""

    def __init__(self, get_response):
        self.get_response = get_response
        try:
            trusted_networks(tuple(settings.AUDIT_TRUSTED_PROXIES))
        except ValueError as exc:
            raise ImproperlyConfigured(f"AUDIT_TRUSTED_PROXIES: {exc}") from exc

    def __call__(self, request):
        context = context_from_request(request)
        request.request_id = context.request_id  # for the lines Django logs once this context has closed
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
        if not request.path.startswith("/api/") or getattr(request, "audit_skip", False):
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


def _organization_from_path(request) -> int | None:
    """For API views outside the org-scoped base (e.g. `/api/v1/orgs/<slug>/` itself): the organization
    named in the path, when the caller can see it."""
    match = _ORG_PATH.match(request.path)
    user = getattr(request, "user", None)
    if match is None or user is None:
        return None
    return Organization.objects.for_user(user).filter(slug=match["slug"]).values_list("pk", flat=True).first()
