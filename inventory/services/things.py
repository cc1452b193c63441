"""Domain actions on things. A thing and its identities on the data plane change together: deactivating a
thing deactivates its NATS user (revoked on the account) and its Nebula host (blocklisted), reactivating brings
both back with fresh credentials, and deleting a thing revokes both before they go.

`create_thing` (with its NATS and Nebula modes) lives here too.
"""

from __future__ import annotations

from django.db import transaction

from credentials.services import nats as nats_svc
from credentials.services import nebula as nebula_svc
from inventory.models import Thing
from inventory.services import contracts

#: A change of these moves the thing's subjects: its NATS user follows (new tags or key, old JWT revoked).
SUBJECT_FIELDS = ("code", "thing_type_id", "location_id")


def lock_thing(thing: Thing) -> Thing:
    return (
        Thing.objects.select_for_update(of=("self",))  # PostgreSQL locks no nullable side of an outer join
        .select_related("thing_type", "location", "nats_user", "nebula_host")
        .get(pk=thing.pk)
    )


@transaction.atomic
def update_thing(thing: Thing, **changes) -> Thing:
    """Change inventory fields (not the identities or `active`: those have actions of their own)."""
    before = {f: getattr(thing, f) for f in SUBJECT_FIELDS}
    for name, value in changes.items():
        setattr(thing, name, value)
    thing.full_clean()
    thing.save()
    if thing.nats_user_id and any(getattr(thing, f) != v for f, v in before.items()):
        contracts.refresh_thing_user(thing)
    return thing


@transaction.atomic
def deactivate_thing(thing: Thing) -> Thing:
    thing = lock_thing(thing)
    if not thing.active:
        return thing
    thing.active = False
    thing.save(update_fields=["active", "updated"])
    if thing.nats_user_id and thing.nats_user.active:
        nats_svc.deactivate_user(thing.nats_user)
    if thing.nebula_host_id and thing.nebula_host.active:
        nebula_svc.deactivate_host(thing.nebula_host)
    return thing


@transaction.atomic
def reactivate_thing(thing: Thing) -> Thing:
    thing = lock_thing(thing)
    if thing.active:
        return thing
    thing.active = True
    thing.save(update_fields=["active", "updated"])
    if thing.nats_user_id and not thing.nats_user.active:
        nats_svc.reactivate_user(thing.nats_user)
    if thing.nebula_host_id and not thing.nebula_host.active:
        nebula_svc.reactivate_host(thing.nebula_host)
    return thing


@transaction.atomic
def delete_thing(thing: Thing) -> None:
    """Delete the thing with its NATS user and Nebula host: deleting them revokes the key on the account and
    puts the certificate on the blocklist (their delete signals)."""
    thing = lock_thing(thing)
    user, host = thing.nats_user, thing.nebula_host
    thing.delete()
    if user is not None:
        user.delete()
    if host is not None:
        host.delete()
