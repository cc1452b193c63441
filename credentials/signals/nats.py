"""Signal receivers of the NATS half: the safety net for changes made outside `credentials.services.nats`, and
how the NATS half follows organizations (tenancy never imports credentials: it announces, credentials follows)."""

from django.conf import settings
from django.db.models import QuerySet
from django.db.models.signals import post_save, pre_delete, pre_save
from django.dispatch import receiver

from credentials.models import Account, NatsRole, NatsUser
from credentials.services import nats as svc
from tenancy.models import Organization
from tenancy.signals import organization_deleting, person_deactivated


@receiver(post_save, sender=Organization, dispatch_uid="credentials.org_saved")
def organization_saved(sender, instance: Organization, created: bool, raw: bool = False, **kwargs):
    """A new organization gets its account; a (de)activated one brings it onto NATS or off it. Nothing here
    touches the account's own suspension."""
    if raw:
        return
    if not Account.objects.filter(organization=instance).exists():
        if svc.Operator.objects.filter(pk=1).exists():
            svc.provision_organization(instance)
        return
    svc.follow_organization(instance)


@receiver(organization_deleting, dispatch_uid="credentials.org_deleting")
def organization_being_deleted(sender, organization: Organization, **kwargs):
    svc.delete_organization_account(organization)


def _whole_account_goes(origin) -> bool:
    """Whether a deletion started from an organization or an account (an instance or a queryset): the account is
    then deleted from NATS as a whole (its tombstone), so its users need no revocation one by one."""
    model = origin.model if isinstance(origin, QuerySet) else type(origin)
    return issubclass(model, Organization | Account)


@receiver(pre_delete, sender=Account, dispatch_uid="credentials.account_deleted")
def account_deleted(sender, instance: Account, **kwargs):
    if not instance.is_system:
        svc.tombstone_account(instance)


@receiver(pre_delete, sender=NatsUser, dispatch_uid="credentials.user_deleted")
def user_deleted(sender, instance: NatsUser, origin=None, **kwargs):
    if not _whole_account_goes(origin):
        svc.revoke_deleted_user(instance)


@receiver(pre_save, sender=NatsRole, dispatch_uid="credentials.role_saving")
def role_saving(sender, instance: NatsRole, raw: bool = False, **kwargs):
    if raw or instance.pk is None or svc.in_role_action():
        return
    instance.__dict__["_nats_jwt_before"] = NatsRole.objects.filter(pk=instance.pk).values(*NatsRole.JWT_FIELDS).first()


@receiver(post_save, sender=NatsRole, dispatch_uid="credentials.role_saved")
def role_saved(sender, instance: NatsRole, created: bool, raw: bool = False, **kwargs):
    """Only for saves made outside `create_role` / `update_role` (which reissue themselves): the role's holders
    are reissued when what their JWTs carry changed."""
    before = instance.__dict__.pop("_nats_jwt_before", None)
    if before is not None and svc.role_jwt_changed(before, instance):
        svc.reissue_role_users(instance)


@receiver(pre_delete, sender="tenancy.Membership", dispatch_uid="credentials.membership_deleted")
def membership_deleted(sender, instance, origin=None, **kwargs):
    """A person who leaves keeps no working NATS credentials (when the organization goes, its account goes)."""
    if _whole_account_goes(origin):
        return
    user = NatsUser.objects.filter(membership=instance, active=True).first()
    if user is not None:
        svc.deactivate_user(user)


@receiver(person_deactivated, dispatch_uid="credentials.person_deactivated")
def person_deactivated_by_action(sender, person, **kwargs):
    """`tenancy.services.deactivate_person`: the person's NATS users go in the same transaction."""
    svc.deactivate_person_users(person)


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="credentials.person_saved")
def person_saved(sender, instance, created: bool, raw: bool = False, update_fields=None, **kwargs):
    """A person who can no longer sign in keeps no working NATS credentials either (reactivating the person
    does not reissue them: an owner or admin reactivates the NATS user). One re-sign per account. A bulk
    `update(is_active=False)` sends no signal: the beat task `reconcile_switched_off` catches up with it."""
    if raw or created or instance.is_active or (update_fields is not None and "is_active" not in update_fields):
        return
    svc.deactivate_person_users(instance)
