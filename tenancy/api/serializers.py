from django.contrib.auth import get_user_model
from rest_framework import serializers

from stoneage.api import SlugRelatedField
from tenancy.models import ApiToken, Invitation, Membership, Organization
from tenancy.services import not_a_member_message

User = get_user_model()


class UserBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name"]
        read_only_fields = fields


class OrganizationSerializer(serializers.ModelSerializer):
    owner = SlugRelatedField(
        slug_field="email",
        queryset=User.objects.filter(is_active=True),
        write_only=True,
        required=False,
        help_text="Email of an existing user who becomes the first owner (required on create).",
    )

    class Meta:
        model = Organization
        fields = ["id", "name", "slug", "description", "active", "created", "updated", "owner"]
        read_only_fields = ["id", "created", "updated"]

    def update(self, instance, validated_data):
        validated_data.pop("owner", None)  # only for a new organization
        return super().update(instance, validated_data)


class MembershipSerializer(serializers.ModelSerializer):
    user = UserBriefSerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "invited_by", "created", "updated"]
        read_only_fields = ["id", "user", "invited_by", "created", "updated"]


class InvitationSerializer(serializers.ModelSerializer):
    invited_by = UserBriefSerializer(read_only=True)
    status = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "invited_by", "expires_at", "accepted_at", "revoked_at", "status", "created"]
        read_only_fields = ["id", "invited_by", "expires_at", "accepted_at", "revoked_at", "status", "created"]

    def get_status(self, obj) -> str:
        return obj.status


class AcceptInvitationSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200)


class ApiTokenSerializer(serializers.ModelSerializer):
    organization = SlugRelatedField(
        slug_field="slug",
        queryset=Organization.objects.all(),
        required=False,
        allow_null=True,
        help_text="Slug of one of my organizations; null for a platform token.",
    )
    platform = serializers.BooleanField(
        default=False,
        help_text="A platform token (platform operators only): no organization, operator powers in every one.",
    )

    def get_fields(self):
        fields = super().get_fields()
        user = getattr(self.context.get("request"), "user", None)
        if user is not None and user.is_authenticated:
            # Only my organizations: a foreign slug answers like a missing one, so slugs cannot be probed.
            organization = fields["organization"]
            organization.queryset = Organization.objects.filter(memberships__user=user, active=True)
            organization.error_messages["does_not_exist"] = not_a_member_message(user=user, slug="{value}")
        return fields

    def validate(self, attrs):
        if attrs.get("platform"):
            if attrs.get("organization") is not None:
                raise serializers.ValidationError({"organization": "A platform token has no organization."})
        elif attrs.get("organization") is None:
            raise serializers.ValidationError(
                {"organization": 'Name one of your organizations, or set "platform": true for a platform token.'}
            )
        return attrs

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "organization",
            "platform",
            "prefix",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "created",
        ]
        read_only_fields = ["id", "prefix", "last_used_at", "revoked_at", "created"]


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]


class MyMembershipSerializer(serializers.ModelSerializer):
    organization = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    organization_name = serializers.CharField(source="organization.name", read_only=True)

    class Meta:
        model = Membership
        fields = ["organization", "organization_name", "role"]


class MeSerializer(serializers.ModelSerializer):
    memberships = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name", "is_superuser", "memberships"]
        read_only_fields = fields

    def get_memberships(self, user) -> list[dict]:
        qs = user.memberships.filter(organization__active=True).select_related("organization")
        token = getattr(self.context.get("request"), "auth", None)
        if isinstance(token, ApiToken) and not token.platform:  # a token sees only its own organization
            qs = qs.filter(organization_id=token.organization_id)
        return MyMembershipSerializer(qs, many=True).data


class PersonSerializer(serializers.ModelSerializer):
    """A person, as platform operators manage them. The password is write-only and only set on creation."""

    username = serializers.CharField(
        max_length=150, required=False, help_text="Sign-in name; defaults to the email address."
    )
    email = serializers.EmailField(max_length=254, help_text="Unique, regardless of case.")
    password = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        style={"input_type": "password"},
        help_text="Optional, on creation only; checked by the password rules. Without one, the person sets a "
        "password through the password reset.",
    )

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "is_active",
            "is_superuser",
            "last_login",
            "date_joined",
            "password",
        ]
        read_only_fields = ["id", "is_superuser", "last_login", "date_joined"]


class PersonUpdateSerializer(PersonSerializer):
    username = serializers.CharField(read_only=True)

    class Meta(PersonSerializer.Meta):
        fields = [name for name in PersonSerializer.Meta.fields if name != "password"]
