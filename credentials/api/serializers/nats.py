"""Serializers of the NATS API. Seeds are never serialized; user JWTs only leave through the audited
`.creds` download (a bearer JWT alone is a credential)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from credentials.models import Account, AccountExport, AccountImport, AccountSigningKey, NatsRole, NatsUser
from credentials.models.nats import validate_subject
from credentials.services import nats as svc
from stoneage.api import FieldPlanMixin, SlugRelatedField
from tenancy.api.base import OrgScopedRelatedField
from tenancy.models import Membership


def _validate_subject(value: str) -> str:
    try:
        validate_subject(value)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.messages) from exc
    return value


@extend_schema_field(OpenApiTypes.STR)
class SubjectField(serializers.Field):
    """One NATS subject: a JSON string, taken as is (no trimming, no number coercion)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError(f"{data!r} is not a string.")
        return _validate_subject(data)

    def to_representation(self, value):
        return value


class SubjectListField(serializers.ListField):
    """A list of NATS subjects; each is validated and a bad one is named in the error."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_empty", True)
        super().__init__(child=SubjectField(), **kwargs)

    def to_internal_value(self, data):
        return list(dict.fromkeys(super().to_internal_value(data)))


SUBJECT_LISTS = ("publish_allow", "publish_deny", "subscribe_allow", "subscribe_deny")


# --- Account -----------------------------------------------------------------------------------------------------


class SigningKeySerializer(serializers.ModelSerializer):
    scope_role = serializers.CharField(
        read_only=True, help_text="The scope of a scoped key (e.g. a thing type); empty for an unscoped key."
    )
    scope_template = serializers.JSONField(
        read_only=True, help_text="What the users of a scoped key may do (null for an unscoped key)."
    )

    class Meta:
        model = AccountSigningKey
        fields = ["public_key", "scope_role", "scope_template", "scope_description", "created"]
        read_only_fields = fields


class AccountSerializer(serializers.ModelSerializer):
    """The organization's NATS account. Limits and the suspension are changed by platform operators only.

    `active` is derived (the organization is active and the account not suspended); it cannot be written, and a
    request that tries is refused rather than ignored: the caller would believe the account suspended.
    """

    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    signing_keys = SigningKeySerializer(many=True, read_only=True)
    push_pending = serializers.BooleanField(read_only=True)

    class Meta:
        model = Account
        fields = [
            "id",
            "name",
            "organization",
            "public_key",
            "active",
            "suspended",
            *Account.LIMIT_FIELDS,
            "signing_keys",
            "revocations",
            "jwt",
            "revision",
            "pushed_revision",
            "pushed_at",
            "push_error",
            "push_pending",
            "created",
            "updated",
        ]
        read_only_fields = [f for f in fields if f not in Account.EDITABLE_FIELDS]

    def validate(self, attrs):
        if isinstance(self.initial_data, dict) and "active" in self.initial_data:
            raise serializers.ValidationError(
                {"active": "Derived from the organization and the suspension; set `suspended` to withdraw the account."}
            )
        return attrs


class SigningKeyChangeSerializer(serializers.Serializer):
    reissued_users = serializers.IntegerField(help_text="Active users whose JWTs were signed anew.")
    account = AccountSerializer()


# --- Roles -------------------------------------------------------------------------------------------------------


class NatsRoleSerializer(serializers.ModelSerializer):
    publish_allow = SubjectListField(help_text="Subjects this role may publish to; empty = nothing.")
    publish_deny = SubjectListField(help_text="Denied even when allowed.")
    subscribe_allow = SubjectListField(help_text="Subjects this role may subscribe to; empty = nothing.")
    subscribe_deny = SubjectListField(help_text="Denied even when allowed.")
    user_count = serializers.IntegerField(read_only=True, help_text="NATS users holding this role.")

    class Meta:
        model = NatsRole
        fields = [
            "id",
            "name",
            "description",
            *NatsRole.JWT_FIELDS,
            "user_count",
            "created",
            "updated",
        ]
        read_only_fields = ["id", "user_count", "created", "updated"]


# --- Users -------------------------------------------------------------------------------------------------------


class EffectivePermissionsSerializer(serializers.Serializer):
    pub_allow = serializers.ListField(child=serializers.CharField())
    pub_deny = serializers.ListField(child=serializers.CharField())
    sub_allow = serializers.ListField(child=serializers.CharField())
    sub_deny = serializers.ListField(child=serializers.CharField())
    scope = serializers.CharField(
        help_text="The scope (e.g. the thing type) these permissions come from, expanded for the user's name and "
        "tags; empty when they are the user's own role and lists."
    )


class NatsUserSerializer(FieldPlanMixin, serializers.ModelSerializer):
    """A NATS user. `membership` links a person's membership (owners and admins only, same organization)."""

    role = OrgScopedRelatedField(queryset=NatsRole.objects.all(), required=False, allow_null=True)
    role_name = serializers.CharField(source="role.name", read_only=True, allow_null=True)
    membership = OrgScopedRelatedField(
        queryset=Membership.objects.all(),
        required=False,
        allow_null=True,
        help_text="Membership of the person this user belongs to (implies owner_kind `membership`).",
    )
    membership_username = serializers.CharField(source="membership.user.username", read_only=True, allow_null=True)
    # Every kind, so that the schema admits the platform service users a list shows; creating one is refused.
    owner_kind = serializers.ChoiceField(
        choices=NatsUser.OwnerKind.choices,
        required=False,
        help_text="Platform service users (`service`) are managed by the platform and cannot be created here.",
    )
    publish_allow = SubjectListField(help_text="Added to the role's publish allow list.")
    publish_deny = SubjectListField(help_text="Added to the role's publish deny list.")
    subscribe_allow = SubjectListField(help_text="Added to the role's subscribe allow list.")
    subscribe_deny = SubjectListField(help_text="Added to the role's subscribe deny list.")
    effective_permissions = serializers.SerializerMethodField(
        help_text="What the user may do: role and user lists merged, or the scope of its signing key (`scope`); "
        "an empty allow list denies `>`."
    )
    tags = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="`name:value` tags of the user's JWT (a scoped key's template expands them).",
    )
    signing_key = serializers.CharField(source="signing_key.public_key", read_only=True, allow_null=True)
    account = serializers.CharField(source="account.public_key", read_only=True)

    class Meta:
        model = NatsUser
        fields = [
            "id",
            "name",
            "description",
            "owner_kind",
            "membership",
            "membership_username",
            "role",
            "role_name",
            *SUBJECT_LISTS,
            "effective_permissions",
            "tags",
            "bearer",
            "expires_at",
            "active",
            "public_key",
            "account",
            "signing_key",
            "created",
            "updated",
        ]
        read_only_fields = ["id", "active", "public_key", "created", "updated"]

    @extend_schema_field(EffectivePermissionsSerializer)
    def get_effective_permissions(self, obj: NatsUser) -> dict:
        # Lists of strings already: a plain dict, not a serializer (or a deep copy) per row.
        perms = svc.effective_permissions(obj)
        return {
            "pub_allow": perms.pub_allow,
            "pub_deny": perms.pub_deny,
            "sub_allow": perms.sub_allow,
            "sub_deny": perms.sub_deny,
            "scope": perms.scope,
        }

    def get_fields(self):
        fields = super().get_fields()
        # The owner of a user is fixed: a device's identity never becomes a person's, nor the reverse.
        if self.instance is not None:
            fields["owner_kind"].read_only = True
        return fields

    def validate_owner_kind(self, value: str) -> str:
        if value == NatsUser.OwnerKind.SERVICE:
            raise serializers.ValidationError("Platform service users are managed by the platform; pick another kind.")
        return value

    def validate(self, attrs):
        # A linked membership implies the kind; the model's rules (names, links, kinds) are checked by the action.
        if attrs.get("membership") is not None and self.instance is None:
            attrs.setdefault("owner_kind", NatsUser.OwnerKind.MEMBERSHIP)
        return attrs


# --- Exports and imports -----------------------------------------------------------------------------------------


class AccountExportSerializer(serializers.ModelSerializer):
    class Meta:
        model = AccountExport
        fields = [
            "id",
            "name",
            "subject",
            "kind",
            "token_required",
            "response_type",
            "response_threshold_ms",
            "account_token_position",
            "advertise",
            "description",
            "created",
            "updated",
        ]
        read_only_fields = ["id", "created", "updated"]


class ExporterField(SlugRelatedField):
    """An exporting account named by public key, looked up only among the accounts the organization may import
    from: any other key, another tenant's included, gets the answer of a key that does not exist."""

    def get_queryset(self):
        return AccountImport.exporters_for(self.context["organization"])


class AccountImportSerializer(serializers.ModelSerializer):
    exporter = ExporterField(
        slug_field="public_key",
        queryset=Account.objects.all(),
        help_text="Public key of the exporting account: the platform's system account or one of this "
        "organization's accounts.",
        error_messages={"does_not_exist": AccountImport.NO_SUCH_EXPORTER, "invalid": AccountImport.NO_SUCH_EXPORTER},
    )

    class Meta:
        model = AccountImport
        fields = [
            "id",
            "name",
            "subject",
            "local_subject",
            "exporter",
            "kind",
            "share",
            "token",
            "created",
            "updated",
        ]
        read_only_fields = ["id", "created", "updated"]
