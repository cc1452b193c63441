import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.base_user import BaseUserManager
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from tenancy.roles import INVITABLE, Role
from tenancy.scoping import OrgScopedManager, OrgScopedQuerySet


def hash_secret(secret: str) -> str:
    """Digest used for invitation tokens and API token secrets (high-entropy, so a plain SHA-256 suffices)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class Organization(models.Model):
    org_lookup = "pk"

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(
        max_length=50,
        unique=True,
        help_text="URL-safe identifier used in API paths; cannot be changed after creation.",
    )
    description = models.TextField(blank=True, max_length=500)
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = OrgScopedManager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        self._check_slug_unchanged()
        super().save(*args, **kwargs)

    def clean(self) -> None:
        self._check_slug_unchanged()

    def _check_slug_unchanged(self) -> None:
        if self.pk and not self._state.adding:
            original = Organization.objects.filter(pk=self.pk).values_list("slug", flat=True).first()
            if original is not None and original != self.slug:
                raise ValidationError({"slug": "The slug cannot be changed after the organization is created."})


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = OrgScopedManager()

    class Meta:
        ordering = ["organization__name", "user__username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique_user_org"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class InvitationQuerySet(OrgScopedQuerySet):
    def open(self):
        """Neither accepted nor revoked (possibly expired: an expired invitation can still be resent)."""
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True)

    def pending(self):
        return self.open().filter(expires_at__gt=timezone.now())


class Invitation(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(
        max_length=16,
        choices=[(r, Role(r).label) for r in Role.values if r in INVITABLE],
        default=Role.MEMBER,
    )
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True, editable=False)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                "organization",
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} → {self.organization} ({self.role})"

    def clean(self) -> None:
        self.email = BaseUserManager.normalize_email(self.email or "").strip()

    def validate_unique(self, exclude=None) -> None:
        """One open invitation per address and organization, and none for a member: the constraint is the
        database's guarantee, this check answers with a message on the email field."""
        super().validate_unique(exclude=exclude)
        if exclude and {"email", "organization"} & set(exclude):
            return
        if self.organization_id is None or not self.email:
            return
        if Membership.objects.filter(organization_id=self.organization_id, user__email__iexact=self.email).exists():
            raise ValidationError({"email": f"{self.email} is already a member of {self.organization}."})
        if (
            Invitation.objects.open()
            .filter(organization_id=self.organization_id, email__iexact=self.email)
            .exclude(pk=self.pk)
            .exists()
        ):
            raise ValidationError({"email": f"{self.email} already has an open invitation; resend it instead."})

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_accepted(self) -> bool:
        return self.accepted_at is not None

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def status(self) -> str:
        """pending, accepted, revoked or expired."""
        if self.is_accepted:
            return "accepted"
        if self.is_revoked:
            return "revoked"
        return "expired" if self.is_expired else "pending"

    def set_new_token(self) -> str:
        token = secrets.token_urlsafe(32)
        self.token_hash = hash_secret(token)
        self.expires_at = timezone.now() + settings.INVITATION_TTL
        return token


TOKEN_PREFIX = "sat"  # noqa: S105 - a public marker, not a secret


class ApiTokenQuerySet(OrgScopedQuerySet):
    def usable(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A bearer token for integrators.

    An organization token acts with its user's role in its one organization. A platform token (`platform`,
    no organization) acts as its user, a platform operator, with operator powers in every organization; it
    works only while that user is an active superuser."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="api_tokens"
    )
    platform = models.BooleanField(
        default=False,
        editable=False,
        help_text="A platform operator's token: no organization, operator powers in every organization.",
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        verbose_name = "API token"
        constraints = [
            # Whether the user is a superuser is checked when the token is created and on every use: it can
            # change after the token exists, so no row constraint could hold it.
            models.CheckConstraint(
                condition=models.Q(platform=True, organization__isnull=True)
                | models.Q(platform=False, organization__isnull=False),
                name="apitoken_platform_or_one_organization",
                violation_error_message="A platform token has no organization; any other token has exactly one.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    def set_new_secret(self) -> str:
        """Generate the secret; returns the full token, which is shown once and never stored."""
        self.prefix = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        token = f"{TOKEN_PREFIX}_{self.prefix}_{secret}"
        self.secret_hash = hash_secret(token)
        return token
