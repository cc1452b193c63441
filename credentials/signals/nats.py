"""Signal receivers of the NATS half: the safety net for changes made outside `credentials.services.nats`."""

from django.conf import settings
from django.db.models.signals import post_save, pre_delete
from django.dispatch import receiver

from credentials.models import Account, NatsRole, NatsUser
from credentials.services import nats as svc
from tenancy.models import Organization
from tenancy.signals import person_deactivated


@receiver(post_save, sender=Organization, dispatch_uid="credentials.org_saved")
def organization_saved(sender, instance: Organization, created: bool, raw: bool = False, **kwargs):
    if raw:
        return
    account = Account.objects.filter(organization=instance).first()
    if account is None:
        if svc.Operator.objects.filter(pk=1).exists():
            svc.provision_organization(instance)
        return
    if account.active != instance.active:
        svc.set_account_active(account, instance.active)


@receiver(pre_delete, sender=Account, dispatch_uid="credentials.account_deleted")
def account_deleted(sender, instance: Account, **kwargs):
    if not instance.is_system:
        svc.tombstone_account(instance)


@receiver(pre_delete, sender=NatsUser, dispatch_uid="credentials.user_deleted")
def user_deleted(sender, instance: NatsUser, **kwargs):
    svc.revoke_deleted_user(instance)


@receiver(post_save, sender=NatsRole, dispatch_uid="credentials.role_saved")
def role_saved(sender, instance: NatsRole, created: bool, raw: bool = False, **kwargs):
    if not created and not raw:
        svc.reissue_role_users(instance)


@receiver(pre_delete, sender="tenancy.Membership", dispatch_uid="credentials.membership_deleted")
def membership_deleted(sender, instance, **kwargs):
    """A person who leaves keeps no working NATS credentials."""
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
    does not reissue them: an owner or admin reactivates the NATS user)."""
    if raw or created or instance.is_active or (update_fields is not None and "is_active" not in update_fields):
        return
    svc.deactivate_person_users(instance)
