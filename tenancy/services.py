"""Domain actions for tenancy. Admin, API and commands all call these, so the rules hold whichever door a
change comes through. Rule violations raise `ValidationError` (bad request) or `PermissionDenied`."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from audit import context as audit_context
from tenancy.models import ApiToken, Invitation, Membership, Organization, hash_secret
from tenancy.roles import MANAGERS, Role
from tenancy.signals import organization_deleting, person_deactivated

logger = logging.getLogger(__name__)
User = get_user_model()


class InvitationGone(Exception):
    """The invitation exists but can no longer be accepted (expired, already used or revoked)."""


class InvitationNotFound(Exception):
    pass


def role_of(user, organization: Organization, *, as_operator: bool = True) -> str | None:
    """The user's effective role in `organization`; platform superusers act as owners, except where they do
    not act as operators (`as_operator=False`: through an API token, which carries only the membership role)."""
    if user is None or not user.is_authenticated:
        return None
    if user.is_superuser and as_operator:
        return Role.OWNER
    return (
        Membership.objects.filter(user=user, organization=organization, organization__active=True)
        .values_list("role", flat=True)
        .first()
    )


def _require_manager(acting_user, organization: Organization, *, as_operator: bool = True) -> str:
    role = role_of(acting_user, organization, as_operator=as_operator)
    if role not in MANAGERS:
        raise PermissionDenied("Only owners and admins may do this.")
    return role


def _other_owners_exist(membership: Membership) -> bool:
    return (
        Membership.objects.filter(organization_id=membership.organization_id, role=Role.OWNER)
        .exclude(pk=membership.pk)
        .exists()
    )


def _lock_owners(organization_id: int) -> None:
    # Serializes concurrent owner changes so two owners cannot both step down at once.
    list(Membership.objects.select_for_update().filter(organization_id=organization_id, role=Role.OWNER))


# --- Organizations ------------------------------------------------------------------------------------------


@transaction.atomic
def create_organization(*, name: str, slug: str, owner, acting_user, description: str = "") -> Organization:
    if not (acting_user and acting_user.is_superuser):
        raise PermissionDenied("Only platform operators create organizations.")
    organization = Organization(name=name, slug=slug, description=description)
    organization.full_clean()
    if owner is None:
        raise ValidationError({"owner": "Name the organization's first owner."})
    organization.save()
    Membership.objects.create(user=owner, organization=organization, role=Role.OWNER, invited_by=acting_user)
    return organization


#: What `update_organization` takes (the model refuses a new slug: it is fixed at creation).
ORGANIZATION_FIELDS = ("name", "slug", "description", "active")


def _require_operator(acting_user, what: str) -> None:
    if not (acting_user and acting_user.is_active and acting_user.is_superuser):
        raise PermissionDenied(f"Only platform operators {what}.")


@transaction.atomic
def update_organization(organization: Organization, *, acting_user, **changes) -> Organization:
    """Rename, describe, deactivate or reactivate an organization (platform operators). A deactivated
    organization's people cannot act in it and its NATS account is withdrawn until it is reactivated (the
    credentials app follows the save); a suspension of the account by an operator stays in force either way."""
    _require_operator(acting_user, "change organizations")
    unknown = set(changes) - set(ORGANIZATION_FIELDS)
    if unknown:
        raise ValidationError({name: "This field cannot be changed." for name in sorted(unknown)})
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    changed = [name for name, value in changes.items() if getattr(organization, name) != value]
    if not changed:
        return organization
    for name in changed:
        setattr(organization, name, changes[name])
    organization.full_clean()
    organization.save(update_fields=[*changed, "updated"])
    return organization


@transaction.atomic
def delete_organization(organization: Organization, *, acting_user) -> None:
    """Delete an organization and everything it owns (platform operators). Apps that own rows of it remove them
    in bulk first (`organization_deleting`): its NATS account is deleted from the servers (every client
    disconnected) and its NATS users go with it, whatever roles they hold."""
    _require_operator(acting_user, "delete organizations")
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    organization_deleting.send(sender=Organization, organization=organization)
    organization.delete()


# --- Memberships ---------------------------------------------------------------------------------------------
# Nobody is added to an organization without consent: people join by accepting an invitation.


def validate_role_change(*, membership: Membership, role: str, acting_user, as_operator: bool = True) -> None:
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}."})
    acting_role = _require_manager(acting_user, membership.organization, as_operator=as_operator)
    if acting_role != Role.OWNER and Role.OWNER in (membership.role, role):
        raise PermissionDenied("Only owners may change an owner's role or make someone an owner.")
    if membership.role == Role.OWNER and role != Role.OWNER and not _other_owners_exist(membership):
        raise ValidationError({"role": "The organization must keep at least one owner."})


def validate_removal(*, membership: Membership, acting_user, as_operator: bool = True) -> None:
    if membership.user_id != acting_user.pk:
        acting_role = _require_manager(acting_user, membership.organization, as_operator=as_operator)
        if membership.role == Role.OWNER and acting_role != Role.OWNER:
            raise PermissionDenied("Admins cannot remove an owner.")
    if membership.role == Role.OWNER and not _other_owners_exist(membership):
        raise ValidationError({"detail": "The last owner cannot leave or be removed."})


@transaction.atomic
def change_role(*, membership: Membership, role: str, acting_user, as_operator: bool = True) -> Membership:
    _lock_owners(membership.organization_id)
    validate_role_change(membership=membership, role=role, acting_user=acting_user, as_operator=as_operator)
    membership.role = role
    membership.save(update_fields=["role", "updated"])
    return membership


@transaction.atomic
def remove_member(*, membership: Membership, acting_user, as_operator: bool = True) -> None:
    """Remove a member, or let a member leave (`acting_user` is the member)."""
    _lock_owners(membership.organization_id)
    validate_removal(membership=membership, acting_user=acting_user, as_operator=as_operator)
    membership.delete()


# --- Invitations ---------------------------------------------------------------------------------------------


def _send_invitation_email(invitation: Invitation, token: str) -> None:
    link = settings.SITE_URL + reverse("tenancy:accept-invitation") + f"?token={token}"
    context = {"invitation": invitation, "link": link}
    try:
        send_mail(
            subject=f"You've been invited to join {invitation.organization.name} on Stone Age",
            message=render_to_string("tenancy/invitation_email.txt", context),
            from_email=None,
            recipient_list=[invitation.email],
        )
    except Exception:
        # Runs after the commit: the invitation exists and can be resent, so a mail failure is logged, not raised.
        logger.exception("Could not send the invitation to %s (invitation %s)", invitation.email, invitation.pk)


@transaction.atomic
def invite(*, organization: Organization, email: str, acting_user, role: str | None = None) -> tuple[Invitation, str]:
    """Invite a person by address, whether or not it belongs to an account yet; they join by accepting.

    The answer does not depend on whether the address is registered; the model's rules refuse only what the
    organization's managers can see anyway (a member's address, an open invitation)."""
    _require_manager(acting_user, organization)
    invitation = Invitation(organization=organization, email=email, invited_by=acting_user)
    if role is not None:
        invitation.role = role
    token = invitation.set_new_token()
    invitation.full_clean()
    invitation.save()
    transaction.on_commit(lambda: _send_invitation_email(invitation, token))
    return invitation, token


@transaction.atomic
def resend_invitation(*, invitation: Invitation, acting_user) -> str:
    _require_manager(acting_user, invitation.organization)
    if invitation.is_accepted:
        raise ValidationError({"detail": "This invitation has already been accepted."})
    if invitation.is_revoked:
        raise ValidationError({"detail": "This invitation was revoked; invite the address again."})
    token = invitation.set_new_token()
    invitation.save(update_fields=["token_hash", "expires_at", "updated"])
    transaction.on_commit(lambda: _send_invitation_email(invitation, token))
    return token


@transaction.atomic
def revoke_invitation(*, invitation: Invitation, acting_user) -> Invitation:
    """Revoke an open invitation: its link then answers that it was revoked, and the address may be invited
    again. Revoking a revoked invitation changes nothing."""
    _require_manager(acting_user, invitation.organization)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.is_accepted:
        raise ValidationError({"detail": "This invitation has already been accepted."})
    if not invitation.is_revoked:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at", "updated"])
    return invitation


def find_invitation(token: str) -> Invitation:
    """The invitation for `token`; raises InvitationNotFound or InvitationGone with a message for the user."""
    invitation = Invitation.objects.select_related("organization").filter(token_hash=hash_secret(token or "")).first()
    if invitation is None or not invitation.organization.active:
        raise InvitationNotFound("This invitation does not exist.")
    _check_open(invitation)
    return invitation


def _check_open(invitation: Invitation) -> None:
    if invitation.is_accepted:
        raise InvitationGone("This invitation has already been used.")
    if invitation.is_revoked:
        raise InvitationGone("This invitation was revoked.")
    if invitation.is_expired:
        raise InvitationGone("This invitation has expired; ask for a new one.")


def _lock_open_invitation(token: str) -> Invitation:
    invitation = find_invitation(token)
    invitation = Invitation.objects.select_related("organization").select_for_update().get(pk=invitation.pk)
    _check_open(invitation)  # again, now that concurrent accepts and revokes wait for this transaction
    return invitation


def account_exists_for(invitation: Invitation) -> bool:
    """Whether the invited address belongs to an account (told only to whoever holds the invitation's link)."""
    return get_user_model().objects.filter(email__iexact=invitation.email).exists()


@transaction.atomic
def accept_invitation(*, token: str, user) -> Membership:
    invitation = _lock_open_invitation(token)
    return _join(invitation, user)


def _join(invitation: Invitation, user) -> Membership:
    if not user.email or user.email.lower() != invitation.email.lower():
        raise PermissionDenied("This invitation was sent to a different email address.")
    if Membership.objects.filter(organization=invitation.organization, user=user).exists():
        raise ValidationError({"detail": f"You are already a member of {invitation.organization}."})
    membership = Membership.objects.create(
        user=user,
        organization=invitation.organization,
        role=invitation.role,
        invited_by=invitation.invited_by,
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by", "updated"])
    return membership


@transaction.atomic
def sign_up_with_invitation(
    *, token: str, username: str, password: str, first_name: str = "", last_name: str = ""
) -> Membership:
    """Create the account of a person invited by an address that has none, and accept the invitation.

    The address is the invitation's (the link proves it). Field problems are a ValidationError keyed by field
    (`username`, `password`); the username error says nothing about addresses. An address that has an account
    since the link was opened is refused: its owner signs in and accepts."""
    invitation = _lock_open_invitation(token)
    if account_exists_for(invitation):
        raise ValidationError("An account with this address exists: sign in to accept the invitation.")
    User = get_user_model()
    username = User.normalize_username(username or "").strip()
    user = User(username=username, email=invitation.email, first_name=first_name, last_name=last_name)
    errors: dict[str, list[str]] = {}
    try:
        user.full_clean(exclude=["password"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        errors["password"] = exc.messages
    if errors:
        raise ValidationError(errors)
    user.set_password(password)
    # The account's creation is recorded as the invitation's doing, the joining as the new member's.
    try:
        with _audited_as(actor_id=None, actor_name=f"invitation:{invitation.pk}"), transaction.atomic():
            user.save()
    except IntegrityError as exc:  # a concurrent sign-up took the name
        raise ValidationError({"username": "A user with that username already exists."}) from exc
    with _audited_as(actor_id=user.pk, actor_name=user.get_username()):
        return _join(invitation, user)


@contextmanager
def _audited_as(**actor) -> Iterator[None]:
    token = audit_context.activate(dataclasses.replace(audit_context.current(), **actor))
    try:
        yield
    finally:
        audit_context.deactivate(token)


# --- API tokens ----------------------------------------------------------------------------------------------


NOT_A_MEMBER = "You are not a member of an organization with the slug “{slug}”."
OPERATOR_HINT = ' Platform operators reach every organization with a platform token: create one with "platform": true.'


def not_a_member_message(*, user, slug: str) -> str:
    """The answer for a token asked for an organization the user does not belong to. It reads the same whether
    or not the organization exists, so slugs cannot be probed; operators are pointed to platform tokens."""
    message = NOT_A_MEMBER.format(slug=slug)
    return message + OPERATOR_HINT if user.is_superuser else message


def _check_expiry(expires_at) -> None:
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})


@transaction.atomic
def create_api_token(*, user, organization: Organization, name: str, expires_at=None) -> tuple[ApiToken, str]:
    """A token confined to `organization`, acting with the user's role there."""
    if not Membership.objects.filter(user=user, organization=organization, organization__active=True).exists():
        raise ValidationError({"organization": not_a_member_message(user=user, slug=organization.slug)})
    _check_expiry(expires_at)
    token = ApiToken(user=user, organization=organization, name=name, expires_at=expires_at)
    secret = token.set_new_secret()
    token.save()
    return token, secret


@transaction.atomic
def create_platform_token(*, user, name: str, expires_at=None) -> tuple[ApiToken, str]:
    """A token with the platform operator's powers in every organization, for automation (creating
    organizations, managing people). It works only while `user` is an active superuser."""
    if not (user.is_active and user.is_superuser):
        raise PermissionDenied("Only platform operators hold platform tokens.")
    _check_expiry(expires_at)
    token = ApiToken(user=user, organization=None, platform=True, name=name, expires_at=expires_at)
    secret = token.set_new_secret()
    token.save()
    return token, secret


def revoke_api_token(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


# --- People (platform operators) ---------------------------------------------------------------------------
# People are never deleted (their audit trail and memberships name them): they are deactivated.


def normalize_person_email(email: str) -> str:
    return BaseUserManager.normalize_email((email or "").strip())


def check_email_free(email: str, *, person=None) -> None:
    """Addresses are unique regardless of case: invitations and sign-in match them that way."""
    taken = User.objects.filter(email__iexact=email)
    if person is not None and person.pk is not None:
        taken = taken.exclude(pk=person.pk)
    if taken.exists():
        raise ValidationError({"email": f"A person with the email address {email} already exists."})


@transaction.atomic
def create_person(
    *,
    email: str,
    acting_user,
    username: str = "",
    first_name: str = "",
    last_name: str = "",
    password: str | None = None,
) -> AbstractBaseUser:
    """A new person. Without a password they cannot sign in until they set one (password reset); they join
    organizations by accepting invitations."""
    _require_operator(acting_user, "manage people")
    email = normalize_person_email(email)
    if not email:
        raise ValidationError({"email": "An email address is required."})
    check_email_free(email)
    person = User(username=username or email, email=email, first_name=first_name, last_name=last_name)
    if password:
        try:
            validate_password(password, person)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from exc
        person.set_password(password)
    else:
        person.set_unusable_password()
    person.full_clean(exclude=["password"])
    person.save()
    return person


@transaction.atomic
def update_person(*, person, acting_user, **changes) -> AbstractBaseUser:
    """Change a person's name, email or active flag (through `deactivate_person` / `reactivate_person`)."""
    _require_operator(acting_user, "manage people")
    unknown = set(changes) - {"first_name", "last_name", "email", "is_active"}
    if unknown:
        raise ValidationError({"detail": f"These fields cannot be changed here: {', '.join(sorted(unknown))}."})
    active = changes.pop("is_active", person.is_active)
    if "email" in changes:
        changes["email"] = normalize_person_email(changes["email"])
        if not changes["email"]:
            raise ValidationError({"email": "An email address is required."})
        check_email_free(changes["email"], person=person)
    if changes:
        for name, value in changes.items():
            setattr(person, name, value)
        person.full_clean(exclude=["password"])
        person.save(update_fields=list(changes))
    if active and not person.is_active:
        reactivate_person(person=person, acting_user=acting_user)
    elif not active and person.is_active:
        deactivate_person(person=person, acting_user=acting_user)
    return person


@transaction.atomic
def deactivate_person(*, person, acting_user) -> AbstractBaseUser:
    """The person can no longer sign in: their API tokens are revoked and their NATS users deactivated (the
    credentials app acts on `person_deactivated`). Reactivating restores neither."""
    _require_operator(acting_user, "manage people")
    if person.pk == acting_user.pk:
        raise ValidationError({"is_active": "You cannot deactivate yourself."})
    if not person.is_active:
        return person
    person_deactivated.send(sender=User, person=person)
    for token in ApiToken.objects.usable().filter(user=person):
        revoke_api_token(token=token)
    person.is_active = False
    person.save(update_fields=["is_active"])
    return person


@transaction.atomic
def reactivate_person(*, person, acting_user) -> AbstractBaseUser:
    _require_operator(acting_user, "manage people")
    if not person.is_active:
        person.is_active = True
        person.save(update_fields=["is_active"])
    return person
