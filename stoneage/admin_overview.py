"""The organization overview in the admin: `/admin/orgs/<slug>/`.

One page per organization for every member (any role) and for platform operators: counts, the NATS push
backlog, certificates and CAs nearing expiry, the latest audit events for those who may read the log, and
links into each section filtered to the organization. It reads a fixed number of queries whatever the size
of the organization. It sits above tenancy, credentials and audit, which is why it lives in the project
package rather than in one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.db.models import Model
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from credentials.models import Account, AccountTombstone, CertificateAuthority, Host, NatsRole, NatsUser, Network
from credentials.services import nebula as nebula_svc
from tenancy.admin_mixins import roles_by_organization
from tenancy.models import ApiToken, Invitation, Membership, Organization
from tenancy.roles import AUDIT_READERS, Role

#: Host certificates that end within this window are listed (with whether renewal is already due).
HOST_EXPIRY_WINDOW = timedelta(days=30)
#: At most this many expiring hosts and audit events are listed; the links lead to the rest.
LISTED_HOSTS = 20
LISTED_EVENTS = 10
#: The inventory's device model, counted once the inventory defines it.
THING_MODEL = ("inventory", "Thing")


@dataclass(frozen=True)
class Section:
    label: str
    count: int | None
    url: str | None


@dataclass(frozen=True)
class ExpiringHost:
    host: Host
    days_left: int
    renewal_due: bool
    url: str | None

    @property
    def expired(self) -> bool:
        return self.days_left < 0


def _model_admin(model: type[Model]) -> admin.ModelAdmin | None:
    return admin.site._registry.get(model)


def _may_view(request: HttpRequest, model: type[Model], role: str | None) -> bool:
    """Whether the model's admin lets this role (in this organization) read its rows."""
    model_admin = _model_admin(model)
    if model_admin is None:
        return False
    if request.user.is_superuser:
        return True
    return role in getattr(model_admin, "view_roles", frozenset())


def _changelist(request: HttpRequest, model: type[Model], role: str | None, **lookups) -> str | None:
    """The model's changelist narrowed by `lookups`, which must be lookups its list filters offer (the
    changelist refuses any other)."""
    if not _may_view(request, model, role):
        return None
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    return f"{url}?{urlencode(lookups)}" if lookups else url


def _change(request: HttpRequest, obj: Model | None, role: str | None) -> str | None:
    if obj is None or not _may_view(request, type(obj), role):
        return None
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def _filters_by_organization(model: type[Model]) -> bool:
    """Whether the model's changelist offers the `organization` list filter (the only lookups it accepts)."""
    model_admin = _model_admin(model)
    names = [item[0] if isinstance(item, tuple) else item for item in getattr(model_admin, "list_filter", ())]
    return "organization" in names


def _thing_model() -> type[Model] | None:
    try:
        return apps.get_model(*THING_MODEL)
    except LookupError:
        return None


def _sections(request: HttpRequest, organization: Organization, role: str | None, account: Account | None):
    org = {"organization__id__exact": organization.pk}
    sections = [
        Section(
            "Members",
            Membership.objects.filter(organization=organization).count(),
            _changelist(request, Membership, role, **org),
        ),
        Section(
            "Pending invitations",
            Invitation.objects.filter(organization=organization).pending().count(),
            _changelist(request, Invitation, role, **org),
        ),
        Section(
            "NATS users",
            NatsUser.objects.filter(organization=organization).count(),
            _changelist(request, NatsUser, role, **org),
        ),
        Section(
            "Nebula hosts",
            Host.objects.filter(organization=organization).count(),
            _changelist(request, Host, role, **org),
        ),
    ]
    thing = _thing_model()
    if thing is not None:
        sections.append(
            Section(
                thing._meta.verbose_name_plural.capitalize(),
                thing._default_manager.filter(organization=organization).count(),
                _changelist(request, thing, role, **(org if _filters_by_organization(thing) else {})),
            )
        )
    links = [
        ("NATS account", _change(request, account, role)),
        ("NATS roles", _changelist(request, NatsRole, role, **org)),
        ("Nebula networks", _changelist(request, Network, role, **org)),
        ("API tokens", _changelist(request, ApiToken, role, **org)),
    ]
    return sections, [(label, url) for label, url in links if url]


def _expiring_hosts(request: HttpRequest, organization: Organization, role: str | None, now: datetime):
    rows = (
        Host.objects.filter(organization=organization, active=True, not_after__lte=now + HOST_EXPIRY_WINDOW)
        .select_related("ca")
        .order_by("not_after", "pk")
    )
    total = rows.count()
    listed = [
        ExpiringHost(
            host=host,
            days_left=(host.not_after - now).days,
            renewal_due=nebula_svc.renewal_due(host, host.ca, now),
            url=_change(request, host, role),
        )
        for host in rows[:LISTED_HOSTS]
    ]
    return total, listed


def organization_overview(request: HttpRequest, slug: str) -> TemplateResponse:
    """The overview page; organizations the user is not a member of answer 404 (superusers see every one)."""
    organization = get_object_or_404(Organization, slug=slug)
    role = roles_by_organization(request).get(organization.pk)
    if role is None and not request.user.is_superuser:
        raise Http404("No organization matches the given query.")
    now = timezone.now()
    account = Account.objects.filter(organization=organization).first()
    sections, links = _sections(request, organization, role, account)
    hosts_total, expiring_hosts = _expiring_hosts(request, organization, role, now)
    may_see_hosts = _may_view(request, Host, role)
    cas = nebula_svc.expiring_cas(CertificateAuthority.objects.filter(organization=organization), now=now)
    may_read_audit = request.user.is_superuser or role in AUDIT_READERS
    events = []
    if may_read_audit:
        events = list(
            AuditEvent.objects.filter(organization=organization)
            .only("pk", "timestamp", "action", "object_type", "object_repr", "actor_name")
            .order_by("-timestamp", "-id")[:LISTED_EVENTS]
        )
    tombstones = None
    if request.user.is_superuser:
        tombstones = AccountTombstone.objects.filter(done_at__isnull=True).count()
    context = {
        **admin.site.each_context(request),
        "title": organization.name,
        "subtitle": "Overview",
        "overview_organization": organization,
        "role": Role(role).label if role else "Platform operator",
        "sections": sections,
        "links": links,
        "account": account,
        "account_url": _change(request, account, role),
        "tombstones": tombstones,
        "tombstones_url": _changelist(request, AccountTombstone, role, done_at__isempty=1),
        "expiring_cas": [(item, _ca_url(request, item.ca_id, role)) for item in cas],
        "ca_warning_days": settings.NEBULA_CA_EXPIRY_WARNING_DAYS,
        "host_window_days": HOST_EXPIRY_WINDOW.days,
        "expiring_hosts_total": hosts_total,
        "expiring_hosts": expiring_hosts if may_see_hosts else [],
        "expiring_hosts_url": _changelist(
            request, Host, role, organization__id__exact=organization.pk, active__exact=1
        ),
        "may_read_audit": may_read_audit,
        "events": [(event, _change(request, event, role)) for event in events],
        "events_url": _changelist(request, AuditEvent, role, organization__id__exact=organization.pk),
    }
    return TemplateResponse(request, "admin/tenancy/organization/overview.html", context)


def _ca_url(request: HttpRequest, ca_id: int, role: str | None) -> str | None:
    if not _may_view(request, CertificateAuthority, role):
        return None
    return reverse("admin:credentials_certificateauthority_change", args=[ca_id])
