"""Signal receivers of the Nebula half: the safety net for changes made outside `credentials.services.nebula`."""

from django.db.models.signals import post_save, pre_delete
from django.dispatch import receiver

from credentials.models import CertificateAuthority, Host
from credentials.services import nebula as svc
from tenancy.models import Organization


@receiver(post_save, sender=Organization, dispatch_uid="credentials.org_saved_nebula")
def organization_saved(sender, instance: Organization, created: bool, raw: bool = False, **kwargs):
    """Every organization has a Nebula CA from the start (no NATS operator needed)."""
    if raw:
        return
    if created or not CertificateAuthority.objects.filter(organization=instance, active=True).exists():
        svc.ensure_ca(instance)


@receiver(pre_delete, sender=Host, dispatch_uid="credentials.nebula_host_deleted")
def host_deleted(sender, instance: Host, **kwargs):
    svc.revoke_deleted_host(instance)


@receiver(pre_delete, sender=CertificateAuthority, dispatch_uid="credentials.nebula_ca_deleted")
def ca_deleted(sender, instance: CertificateAuthority, **kwargs):
    svc.forget_ca_revocations(instance)
