"""Receivers that notify enrolled devices when what they fetch changes (`inventory.devices.notify`).

Only things whose NATS key is held by their device (no seed here) are told: nothing else fetches its config.
"""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from credentials.models import CertificateAuthority, Host, NatsUser, RevokedCertificate
from inventory.devices import notify
from inventory.models import Operation, Thing, ThingType


def _tell(things) -> None:
    rows = things.filter(nats_user__isnull=False, nats_user__seed="").values_list("organization_id", "code")
    by_org: dict[int, list[str]] = {}
    for organization_id, code in rows:
        by_org.setdefault(organization_id, []).append(code)
    for organization_id, codes in by_org.items():
        notify.things_changed(organization_id, codes)


@receiver(post_save, sender=Host, dispatch_uid="inventory.notify_host_saved")
def host_saved(sender, instance: Host, created: bool, raw: bool = False, **kwargs):
    if raw or created:
        return
    if instance.is_lighthouse or instance.is_relay:  # in every peer's config of the network
        _tell(Thing.objects.filter(nebula_host__network_id=instance.network_id))
    else:
        _tell(Thing.objects.filter(nebula_host=instance))


@receiver(post_save, sender=RevokedCertificate, dispatch_uid="inventory.notify_blocklist")
@receiver(post_delete, sender=RevokedCertificate, dispatch_uid="inventory.notify_blocklist_pruned")
def blocklist_changed(sender, instance: RevokedCertificate, raw: bool = False, **kwargs):
    if not raw:
        _tell(Thing.objects.filter(nebula_host__ca_id=instance.ca_id))


@receiver(post_save, sender=CertificateAuthority, dispatch_uid="inventory.notify_ca_saved")
def ca_saved(sender, instance: CertificateAuthority, created: bool, raw: bool = False, **kwargs):
    if raw or created:
        return
    _tell(Thing.objects.filter(nebula_host__network__ca=instance))


@receiver(post_save, sender=NatsUser, dispatch_uid="inventory.notify_user_saved")
def user_saved(sender, instance: NatsUser, created: bool, raw: bool = False, **kwargs):
    if raw or created or instance.owner_kind != NatsUser.OwnerKind.THING or instance.seed:
        return
    _tell(Thing.objects.filter(nats_user=instance))


@receiver(post_save, sender=Operation, dispatch_uid="inventory.notify_operation_saved")
@receiver(post_delete, sender=Operation, dispatch_uid="inventory.notify_operation_deleted")
def operation_changed(sender, instance: Operation, raw: bool = False, **kwargs):
    if not raw:
        _tell(Thing.objects.filter(thing_type_id=instance.thing_type_id))


@receiver(post_save, sender=ThingType, dispatch_uid="inventory.notify_type_saved")
def type_saved(sender, instance: ThingType, created: bool, raw: bool = False, **kwargs):
    if not (raw or created):
        _tell(Thing.objects.filter(thing_type=instance))
