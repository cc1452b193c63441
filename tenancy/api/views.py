from django.contrib.auth import get_user_model
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import MethodNotAllowed, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from tenancy import services
from tenancy.api.base import OrgScopedViewSet, is_platform_operator, org_token_of, token_of
from tenancy.api.serializers import (
    AcceptInvitationSerializer,
    ApiTokenCreatedSerializer,
    ApiTokenSerializer,
    InvitationSerializer,
    MembershipSerializer,
    MeSerializer,
    OrganizationSerializer,
    PersonSerializer,
    PersonUpdateSerializer,
)
from tenancy.filtersets import (
    ApiTokenFilterSet,
    InvitationFilterSet,
    MembershipFilterSet,
    OrganizationFilterSet,
    PersonFilterSet,
)
from tenancy.models import ApiToken, Invitation, Membership, Organization
from tenancy.roles import ALL_ROLES, MANAGERS

User = get_user_model()


class OrganizationViewSet(viewsets.ModelViewSet):
    """Organizations I belong to. Platform operators create, update, deactivate and delete."""

    serializer_class = OrganizationSerializer
    lookup_field = "slug"
    lookup_value_regex = r"[-\w]+"  # as in the organization's nested routes; anything else is a 404
    filterset_class = OrganizationFilterSet
    search_fields = ["name", "slug", "description"]
    ordering_fields = ["name", "slug", "created"]

    def get_queryset(self):
        queryset = Organization.objects.for_user(self.request.user)
        token = org_token_of(self.request)
        if token is not None:
            return queryset.filter(pk=token.organization_id)
        return queryset

    def check_permissions(self, request):
        super().check_permissions(request)
        if request.method not in permissions.SAFE_METHODS and not is_platform_operator(request):
            # Tenants may not learn whether a foreign organization exists: unknown slugs stay 404.
            if self.kwargs.get("slug") and not self.get_queryset().filter(slug=self.kwargs["slug"]).exists():
                raise Http404
            raise PermissionDenied("Only platform operators manage organizations.")

    def perform_create(self, serializer):
        data = serializer.validated_data
        serializer.instance = services.create_organization(
            name=data["name"],
            slug=data["slug"],
            description=data.get("description", ""),
            owner=data.get("owner"),
            acting_user=self.request.user,
        )

    def perform_update(self, serializer):
        serializer.instance = services.update_organization(
            serializer.instance, acting_user=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        """Deleting an organization deletes its NATS account from NATS and all its NATS users with it."""
        services.delete_organization(instance, acting_user=self.request.user)


class MembershipViewSet(OrgScopedViewSet):
    """Members of an organization. Owners and admins manage; anyone may leave. People join by accepting an
    invitation (`…/invitations/`), never by being added."""

    queryset = Membership.objects.select_related("user", "invited_by")
    serializer_class = MembershipSerializer
    filterset_class = MembershipFilterSet
    search_fields = ["user__username", "user__email", "user__first_name", "user__last_name"]
    ordering_fields = ["created", "role", "user__username"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    # Removing a membership is checked by the service: managers remove others, anyone removes their own.
    action_roles = {"destroy": ALL_ROLES, "leave": ALL_ROLES}

    @extend_schema(exclude=True)
    def create(self, request, *args, **kwargs):
        raise MethodNotAllowed(
            request.method,
            detail=f"Members are not added: invite them with POST /api/v1/orgs/{self.organization.slug}/invitations/ "
            "and they join when they accept.",
        )

    def perform_update(self, serializer):
        role = serializer.validated_data.get("role", serializer.instance.role)
        serializer.instance = services.change_role(
            membership=serializer.instance,
            role=role,
            acting_user=self.request.user,
            as_operator=is_platform_operator(self.request),
        )

    def perform_destroy(self, instance):
        services.remove_member(
            membership=instance, acting_user=self.request.user, as_operator=is_platform_operator(self.request)
        )

    @extend_schema(request=None, responses={204: None})
    @action(detail=False, methods=["post"])
    def leave(self, request, org_slug=None):
        membership = self.get_queryset().filter(user=request.user).first()
        if membership is None:
            raise Http404
        services.remove_member(membership=membership, acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationViewSet(OrgScopedViewSet):
    """How people join an organization: owners and admins invite an address, whether or not it belongs to an
    account (the answer does not tell), and the person joins by accepting (`POST /api/v1/invitations/accept/`).
    DELETE revokes: the invitation stays listed with status `revoked` and its link answers 410."""

    queryset = Invitation.objects.select_related("invited_by")
    serializer_class = InvitationSerializer
    filterset_class = InvitationFilterSet
    search_fields = ["email"]
    ordering_fields = ["created", "expires_at", "email"]
    http_method_names = ["get", "post", "delete", "head", "options"]
    read_roles = MANAGERS

    def perform_create(self, serializer):
        serializer.instance, _ = services.invite(
            organization=self.organization, acting_user=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.revoke_invitation(invitation=instance, acting_user=self.request.user)

    @extend_schema(request=None, responses=InvitationSerializer)
    @action(detail=True, methods=["post"])
    def resend(self, request, org_slug=None, pk=None):
        invitation = self.get_object()
        services.resend_invitation(invitation=invitation, acting_user=request.user)
        return Response(self.get_serializer(invitation).data)


class AcceptInvitationView(APIView):
    """Accept an invitation as the signed-in user (whose email must match)."""

    @extend_schema(request=AcceptInvitationSerializer, responses={201: MeSerializer})
    def post(self, request):
        if token_of(request) is not None:
            # A token acts in its one organization only; joining another takes the person, signed in.
            raise PermissionDenied("Accept invitations signed in, not with an API token.")
        serializer = AcceptInvitationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.accept_invitation(token=serializer.validated_data["token"], user=request.user)
        except services.InvitationNotFound as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)
        except services.InvitationGone as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_410_GONE)
        return Response(MeSerializer(request.user).data, status=status.HTTP_201_CREATED)


class ApiTokenViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """My API tokens. The secret is returned once, at creation. Deleting a token revokes it.

    A token names one of my organizations and acts with my role there; platform operators may instead create
    a platform token (`"platform": true`, no organization), which acts with operator powers everywhere."""

    serializer_class = ApiTokenSerializer
    filterset_class = ApiTokenFilterSet
    search_fields = ["name", "prefix"]
    ordering_fields = ["created", "name", "last_used_at", "expires_at"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        queryset = ApiToken.objects.filter(user=self.request.user).select_related("organization")
        token = org_token_of(self.request)
        if token is not None:
            queryset = queryset.filter(organization_id=token.organization_id)
        return queryset

    @extend_schema(responses={201: ApiTokenCreatedSerializer})
    def create(self, request, *args, **kwargs):
        if token_of(request) is not None:
            # Otherwise a leaked token could outlive its expiry and its revocation through tokens it minted.
            raise PermissionDenied("API tokens are created signed in, not with another API token.")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data["platform"]:
            instance, secret = services.create_platform_token(
                user=request.user, name=data["name"], expires_at=data.get("expires_at")
            )
        else:
            instance, secret = services.create_api_token(
                user=request.user,
                organization=data["organization"],
                name=data["name"],
                expires_at=data.get("expires_at"),
            )
        instance.token = secret
        return Response(ApiTokenCreatedSerializer(instance).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.revoke_api_token(token=instance)


class IsPlatformOperator(permissions.IsAuthenticated):
    message = "Only platform operators (superusers, signed in or with a platform token) manage people."

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and is_platform_operator(request)


class PersonViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """People (user accounts), for platform operators. People are never deleted: deactivate them
    (`POST …/deactivate/`, or `"is_active": false`), which also revokes their API tokens and NATS users."""

    queryset = User.objects.order_by("username")
    permission_classes = [IsPlatformOperator]
    filterset_class = PersonFilterSet
    search_fields = ["username", "email", "first_name", "last_name"]
    ordering_fields = ["username", "email", "last_name", "date_joined", "last_login"]

    def get_serializer_class(self):
        return PersonUpdateSerializer if self.action in {"update", "partial_update"} else PersonSerializer

    @extend_schema(responses={201: PersonSerializer})
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        person = services.create_person(acting_user=request.user, **serializer.validated_data)
        return Response(PersonSerializer(person).data, status=status.HTTP_201_CREATED)

    def perform_update(self, serializer):
        serializer.instance = services.update_person(
            person=serializer.instance, acting_user=self.request.user, **serializer.validated_data
        )

    @extend_schema(request=None, responses=PersonSerializer)
    @action(detail=True, methods=["post"])
    def deactivate(self, request, pk=None):
        person = services.deactivate_person(person=self.get_object(), acting_user=request.user)
        return Response(PersonSerializer(person).data)

    @extend_schema(request=None, responses=PersonSerializer)
    @action(detail=True, methods=["post"])
    def reactivate(self, request, pk=None):
        person = services.reactivate_person(person=self.get_object(), acting_user=request.user)
        return Response(PersonSerializer(person).data)


class MeView(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user, context={"request": request}).data)
