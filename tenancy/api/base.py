"""The org-scoped API base: URL-scoped tenant resources at `/api/v1/orgs/<org_slug>/...`.

Every tenant viewset subclasses `OrgScopedViewSet`. It resolves the organization from the URL for the
caller (404 when the caller cannot see it), checks the caller's role against the roles the action admits
(403), and narrows the queryset to that organization. No view does its own tenant check.
"""

from __future__ import annotations

from django.core.validators import slug_re
from django.db.models import OuterRef, Subquery
from django.http import Http404
from rest_framework import permissions, serializers, viewsets
from rest_framework.exceptions import PermissionDenied

from audit.context import set_organization
from tenancy.models import ApiToken, Membership, Organization
from tenancy.roles import ALL_ROLES, MANAGERS, Role


def token_of(request) -> ApiToken | None:
    return request.auth if isinstance(request.auth, ApiToken) else None


def org_token_of(request) -> ApiToken | None:
    """The request's organization token: it confines the request to its organization and role there."""
    token = token_of(request)
    return token if token is not None and not token.platform else None


def is_platform_operator(request) -> bool:
    """A superuser signed in with a session or with a platform token. Organization tokens act only with their
    user's role in their organization."""
    return bool(request.user and request.user.is_superuser and org_token_of(request) is None)


def resolve_organization(request, slug: str) -> tuple[Organization, str]:
    """The organization named in the URL and the caller's role in it; 404 when the caller cannot see it.

    An organization token's authentication already read its organization and its user's role there
    (`ApiTokenAuthentication`): no query here. Anyone else costs one query."""
    if not isinstance(slug, str) or not slug_re.match(slug):
        raise Http404  # no organization has such a slug (and a NUL in it would be a database error)
    token = org_token_of(request)
    if token is not None and hasattr(token, "member_role"):
        if token.organization.slug != slug or token.member_role is None:
            raise Http404
        return token.organization, token.member_role
    role = Membership.objects.filter(user=request.user, organization=OuterRef("pk")).order_by().values("role")[:1]
    organization = Organization.objects.annotate(member_role=Subquery(role)).filter(slug=slug).first()
    if organization is None:
        raise Http404
    if token is not None and token.organization_id != organization.pk:
        raise Http404
    if is_platform_operator(request):
        return organization, Role.OWNER
    if not organization.active or organization.member_role is None:
        raise Http404
    return organization, organization.member_role


class OrgScopedViewSet(viewsets.ModelViewSet):
    """Base viewset for resources owned by one organization.

    `read_roles` admit safe methods, `write_roles` admit the rest; `action_roles` overrides per action.
    """

    permission_classes = [permissions.IsAuthenticated]
    read_roles: frozenset[str] = ALL_ROLES
    write_roles: frozenset[str] = MANAGERS
    action_roles: dict[str, frozenset[str]] = {}
    organization: Organization | None = None
    role: str | None = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.organization, self.role = resolve_organization(request, kwargs["org_slug"])
        set_organization(self.organization)  # the API request's audit event belongs to this organization
        if self.role not in self.roles_for_action():
            raise PermissionDenied("Your role in this organization does not allow this action.")

    def roles_for_action(self) -> frozenset[str]:
        if self.action in self.action_roles:
            return self.action_roles[self.action]
        return self.read_roles if self.request.method in permissions.SAFE_METHODS else self.write_roles

    def get_queryset(self):
        queryset = super().get_queryset()
        if getattr(self, "swagger_fake_view", False) or self.organization is None:
            return queryset.none()
        return queryset.for_organization(self.organization)

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["organization"] = self.organization
        context["role"] = self.role
        return context

    def perform_create(self, serializer):
        serializer.save(organization=self.organization)


class OrgScopedRelatedField(serializers.PrimaryKeyRelatedField):
    """A relation limited to rows of the request's organization: another organization's id is rejected
    exactly like a missing one."""

    def get_queryset(self):
        queryset = super().get_queryset()
        organization = self.context.get("organization")
        if organization is None:
            return queryset.none()
        return queryset.for_organization(organization)
