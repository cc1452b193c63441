"""NATS API under `/api/v1/orgs/<slug>/nats/`: the organization's account, roles, users, exports, imports,
and `/api/v1/me/nats-creds/rotate/` for a person's own credentials.

Roles and users grant NATS permissions, so only owners and admins change them. Auditors read them (never
credentials). Members and viewers read only the NATS user linked to their own membership.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from credentials.api.serializers.nats import (
    AccountExportSerializer,
    AccountImportSerializer,
    AccountSerializer,
    NatsRoleSerializer,
    NatsUserSerializer,
    SigningKeyChangeSerializer,
)
from credentials.downloads.nats import creds_response
from credentials.filtersets.nats import (
    AccountExportFilterSet,
    AccountImportFilterSet,
    NatsRoleFilterSet,
    NatsUserFilterSet,
)
from credentials.models import Account, AccountExport, AccountImport, AccountSigningKey, NatsRole, NatsUser
from credentials.services import nats as svc
from stoneage.api import BigListMixin
from tenancy.api.base import OrgScopedViewSet, is_platform_operator, resolve_organization
from tenancy.roles import ALL_ROLES, MANAGERS, Role

#: Read NATS roles, users, exports and imports of the whole organization.
NATS_READERS = MANAGERS | {Role.AUDITOR}

CREDS_RESPONSE = {(200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="The `.creds` file.")}


class PlainTextRenderer(BaseRenderer):
    """Lets clients ask for `text/plain` (the `.creds` downloads); errors are rendered as their message."""

    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if isinstance(data, dict) and set(data) == {"detail"}:
            data = data["detail"]
        return str(data).encode(self.charset)


def organization_account(organization) -> Account:
    account = Account.objects.filter(organization=organization).first()
    if account is None:
        raise ValidationError(
            {"detail": "This organization has no NATS account yet; the platform is not bootstrapped."}
        )
    return account


# --- Account -----------------------------------------------------------------------------------------------------


class AccountViewSet(OrgScopedViewSet):
    """The organization's NATS account (one per organization). Everyone in the organization reads it; owners
    and admins manage its signing keys; only platform operators change its limits."""

    queryset = Account.objects.select_related("organization").prefetch_related("signing_keys")
    serializer_class = AccountSerializer
    pagination_class = None
    filter_backends = []
    action_roles = {
        "partial_update": MANAGERS,
        "add_signing_key": MANAGERS,
        "remove_signing_key": MANAGERS,
        "rotate_signing_keys": MANAGERS,
    }

    def get_object(self) -> Account:
        account = get_object_or_404(self.get_queryset())
        self.check_object_permissions(self.request, account)
        return account

    def partial_update(self, request, *args, **kwargs):
        """Change limits or suspend the account (platform operators only)."""
        if not is_platform_operator(request):
            raise PermissionDenied("Only platform operators change an account's limits.")
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if serializer.validated_data:
            svc.update_account(serializer.instance, **serializer.validated_data)
        return Response(self.get_serializer(self.get_object()).data)

    @extend_schema(request=None, responses={201: AccountSerializer})
    def add_signing_key(self, request, *args, **kwargs):
        """Add a signing key; it signs every user issued from now on."""
        svc.add_signing_key(self.get_object())
        return Response(self.get_serializer(self.get_object()).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=None,
        responses=SigningKeyChangeSerializer,
        parameters=[OpenApiParameter("public_key", str, OpenApiParameter.PATH)],
    )
    def remove_signing_key(self, request, *args, public_key: str, **kwargs):
        """Remove a signing key (never the last one); users it signed are reissued with the newest key."""
        reissued = svc.remove_signing_key(self.get_object(), public_key)
        return self._key_change(reissued)

    @extend_schema(request=None, responses=SigningKeyChangeSerializer)
    def rotate_signing_keys(self, request, *args, **kwargs):
        """Emergency rotation: one fresh signing key replaces all others and every active user is reissued.
        Clients must fetch their new credentials."""
        reissued = svc.rotate_signing_keys(self.get_object())
        return self._key_change(reissued)

    def _key_change(self, reissued: int) -> Response:
        data = {"reissued_users": reissued, "account": self.get_serializer(self.get_object()).data}
        return Response(data)


# --- Roles -------------------------------------------------------------------------------------------------------


class NatsRoleViewSet(OrgScopedViewSet):
    """NATS permission templates. Changing what a role grants (subjects, responses, limits) reissues the JWTs of
    its active users (their earlier JWTs are revoked when the role now grants less); a new name or description
    reissues nothing. A role still held by users cannot be deleted."""

    queryset = NatsRole.objects.annotate(user_count=Count("users"))
    serializer_class = NatsRoleSerializer
    filterset_class = NatsRoleFilterSet
    search_fields = ["name", "description"]
    ordering_fields = ["name", "created", "updated"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    read_roles = NATS_READERS

    def perform_create(self, serializer):
        role = svc.create_role(organization=self.organization, **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=role.pk)

    def perform_update(self, serializer):
        role = svc.update_role(serializer.instance, **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=role.pk)

    def perform_destroy(self, instance):
        svc.delete_role(instance)


# --- Users -------------------------------------------------------------------------------------------------------


class NatsUserViewSet(BigListMixin, OrgScopedViewSet):
    """NATS users of the organization's account.

    Owners and admins manage users and download `.creds` (audited). Auditors read every user; members and
    viewers read only the user linked to their own membership. Platform service users are read-only here.
    The list pages with cursors (`next`, `previous`).
    """

    queryset = NatsUser.objects.select_related("role", "membership__user", "signing_key", "account")
    serializer_class = NatsUserSerializer
    filterset_class = NatsUserFilterSet
    search_fields = ["name", "description", "public_key"]
    ordering_fields = ["name", "created", "updated", "expires_at"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    read_roles = ALL_ROLES  # narrowed to the caller's own user below for roles outside NATS_READERS
    action_roles = {"creds": MANAGERS}

    def get_queryset(self):
        queryset = super().get_queryset()
        if self.role not in NATS_READERS:
            queryset = queryset.filter(membership__user=self.request.user)
        return queryset

    def shape_list(self, queryset):
        # A page's users share one account and a few roles and signing keys: each is fetched once (the account
        # without its JWT, seed and revocations), not joined into every row. The users' own JWTs and seeds stay
        # behind too.
        return (
            queryset.select_related(None)
            .select_related("membership__user")
            .prefetch_related(
                "role",
                Prefetch("account", queryset=Account.objects.only("id", "name", "public_key")),
                Prefetch(
                    "signing_key",
                    queryset=AccountSigningKey.objects.only("id", "public_key", "scope_role", "scope_template"),
                ),
            )
            .defer("seed", "jwt", "membership__user__password")
        )

    def get_managed_object(self) -> NatsUser:
        """The user for a change: platform service users are changed by the platform only."""
        user = self.get_object()
        self.check_manageable(user)
        return user

    def check_manageable(self, user: NatsUser) -> None:
        if user.owner_kind == NatsUser.OwnerKind.SERVICE and not is_platform_operator(self.request):
            raise PermissionDenied("Platform service users are managed by the platform.")

    def perform_create(self, serializer):
        data = dict(serializer.validated_data)
        account = organization_account(self.organization)
        user = svc.create_user(account=account, name=data.pop("name"), **data)
        serializer.instance = self.get_queryset().get(pk=user.pk)

    def perform_update(self, serializer):
        self.check_manageable(serializer.instance)
        user = svc.update_user(serializer.instance, **serializer.validated_data)
        serializer.instance = self.get_queryset().get(pk=user.pk)

    @transaction.atomic
    def perform_destroy(self, instance):
        self.check_manageable(instance)
        instance.delete()  # the pre_delete signal revokes the key on the account

    def _act(self, change) -> Response:
        user = self.get_managed_object()
        change(user)
        return Response(self.get_serializer(self.get_queryset().get(pk=user.pk)).data)

    @extend_schema(request=None, responses=NatsUserSerializer)
    @action(detail=True, methods=["post"])
    def regenerate(self, request, *args, **kwargs):
        """A new JWT for the same key (rotation); the previous JWT stays valid until it expires."""
        return self._act(svc.regenerate_user)

    @extend_schema(request=None, responses=NatsUserSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, *args, **kwargs):
        """Credentials leaked: the current key is revoked on the account and a new key pair is issued."""
        return self._act(svc.revoke_user)

    @extend_schema(request=None, responses=NatsUserSerializer)
    @action(detail=True, methods=["post"])
    def deactivate(self, request, *args, **kwargs):
        """Revoke the current key and issue nothing; connected clients are dropped."""
        return self._act(lambda user: svc.deactivate_user(user) if user.active else user)

    @extend_schema(request=None, responses=NatsUserSerializer)
    @action(detail=True, methods=["post"])
    def reactivate(self, request, *args, **kwargs):
        """Issue a new key pair and JWT; the old key stays revoked, so earlier `.creds` never work again."""
        return self._act(lambda user: user if user.active else svc.reactivate_user(user))

    @extend_schema(responses=CREDS_RESPONSE)
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer, PlainTextRenderer])
    def creds(self, request, *args, **kwargs):
        """The user's `.creds` file: its seed and a JWT issued now, valid for the lifetime of its owner kind
        (devices download it again before it expires). Owners and admins only; every download is audited."""
        return creds_response(request, self.get_managed_object())


# --- Exports and imports -----------------------------------------------------------------------------------------


class AccountLinkViewSet(OrgScopedViewSet):
    """Exports and imports belong to the organization's account; every change re-signs it."""

    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    read_roles = NATS_READERS

    def perform_create(self, serializer):
        link = self.queryset.model(
            organization=self.organization,
            account=organization_account(self.organization),
            **serializer.validated_data,
        )
        serializer.instance = svc.save_account_link(link)

    def perform_update(self, serializer):
        link = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(link, name, value)
        serializer.instance = svc.save_account_link(link)

    def perform_destroy(self, instance):
        svc.delete_account_link(instance)


class AccountExportViewSet(AccountLinkViewSet):
    """Subjects the organization's account exports to other accounts."""

    queryset = AccountExport.objects.all()
    serializer_class = AccountExportSerializer
    filterset_class = AccountExportFilterSet
    search_fields = ["name", "subject", "description"]
    ordering_fields = ["name", "subject", "created"]


class AccountImportViewSet(AccountLinkViewSet):
    """Subjects the organization's account imports from the platform's system account or its own accounts;
    imports from another organization are refused."""

    queryset = AccountImport.objects.select_related("exporter")
    serializer_class = AccountImportSerializer
    filterset_class = AccountImportFilterSet
    search_fields = ["name", "subject", "local_subject"]
    ordering_fields = ["name", "subject", "created"]


# --- My own credentials ------------------------------------------------------------------------------------------


class RotateMyCredsSerializer(serializers.Serializer):
    organization = serializers.SlugField(required=False, help_text="Slug of the organization (or pass `?org=<slug>`).")


class RotateMyNatsCredsView(APIView):
    """Issue a fresh JWT for the NATS user linked to my membership and return my new `.creds`.

    The key pair stays (this is a rotation, never a revocation). 404 when no user is linked to my membership
    in that organization."""

    renderer_classes = [JSONRenderer, PlainTextRenderer]

    @extend_schema(
        parameters=[OpenApiParameter("org", str, OpenApiParameter.QUERY, description="Organization slug.")],
        request=RotateMyCredsSerializer,
        responses=CREDS_RESPONSE,
    )
    def post(self, request):
        body = RotateMyCredsSerializer(data=request.data if isinstance(request.data, dict) else {})
        body.is_valid(raise_exception=True)
        slug = request.query_params.get("org") or body.validated_data.get("organization")
        if not slug:
            raise ValidationError({"organization": "Name the organization: `?org=<slug>` or `organization`."})
        organization, _ = resolve_organization(request, slug)
        user = (
            NatsUser.objects.for_organization(organization)
            .filter(membership__user=request.user, membership__organization=organization)
            .select_related("account", "role")
            .first()
        )
        if user is None:
            raise Http404("No NATS user is linked to your membership in this organization.")
        with transaction.atomic():
            svc.regenerate_user(user)
            return creds_response(request, user)
