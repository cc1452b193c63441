"""Domain actions on things. A thing and its identities on the data plane change together: deactivating a
thing deactivates its NATS user (revoked on the account) and its Nebula host (blocklisted), reactivating brings
both back with fresh credentials, and deleting a thing revokes both before they go.

`create_thing` provisions a thing with its identities in one transaction: for each of NATS and Nebula, `none`
(no identity), `auto` (a new NATS user issued by the type's key; a new Nebula host named after the thing) or
`link` (an identity of the organization that no other thing holds). Any refusal rolls everything back.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from credentials.models import Host, NatsUser, Network
from credentials.services import nats as nats_svc
from credentials.services import nebula as nebula_svc
from inventory.models import Thing
from inventory.services import contracts


class Mode:
    NONE = "none"
    AUTO = "auto"
    LINK = "link"
    ALL = (NONE, AUTO, LINK)


def _check_modes(nats_mode: str, nats_user, nebula_mode: str, nebula_host, network, overlay_ip) -> None:
    errors = {}
    for field, mode in (("nats_mode", nats_mode), ("nebula_mode", nebula_mode)):
        if mode not in Mode.ALL:
            errors[field] = f"Choose one of {', '.join(Mode.ALL)}."
    if nats_mode == Mode.LINK and nats_user is None:
        errors["nats_user"] = "Name the NATS user to link."
    if nats_mode != Mode.LINK and nats_user is not None:
        errors["nats_user"] = "A NATS user is named only with the mode link."
    if nebula_mode == Mode.LINK and nebula_host is None:
        errors["nebula_host"] = "Name the Nebula host to link."
    if nebula_mode != Mode.LINK and nebula_host is not None:
        errors["nebula_host"] = "A Nebula host is named only with the mode link."
    if nebula_mode == Mode.AUTO and network is None:
        errors["network"] = "Name the Nebula network of the new host."
    if nebula_mode != Mode.AUTO and (network is not None or overlay_ip):
        errors["network" if network is not None else "overlay_ip"] = (
            "A network and an overlay IP are given only with the mode auto."
        )
    if errors:
        raise ValidationError(errors)


def _linkable_user(organization, user: NatsUser, thing: Thing | None = None) -> NatsUser:
    """The NATS user, locked, if it may be linked to `thing`: same organization, owned by a thing, free."""
    user = NatsUser.objects.select_for_update(of=("self",)).get(pk=user.pk)
    if user.organization_id != organization.pk:
        raise ValidationError({"nats_user": "This NATS user belongs to another organization."})
    if user.owner_kind != NatsUser.OwnerKind.THING:
        raise ValidationError({"nats_user": "Only a NATS user owned by a thing may be linked (not a person's)."})
    holder = Thing.objects.filter(nats_user=user).exclude(pk=getattr(thing, "pk", None)).first()
    if holder is not None:
        raise ValidationError({"nats_user": f"This NATS user is already linked to the thing {holder.code}."})
    return user


def _linkable_host(organization, host: Host, thing: Thing | None = None) -> Host:
    """The Nebula host, locked, if it may be linked to `thing`: same organization, free."""
    host = Host.objects.select_for_update(of=("self",)).get(pk=host.pk)
    if host.organization_id != organization.pk:
        raise ValidationError({"nebula_host": "This Nebula host belongs to another organization."})
    holder = Thing.objects.filter(nebula_host=host).exclude(pk=getattr(thing, "pk", None)).first()
    if holder is not None:
        raise ValidationError({"nebula_host": f"This Nebula host is already linked to the thing {holder.code}."})
    return host


def _under(field: str, exc: ValidationError) -> ValidationError:
    """The errors of an identity's own fields, reported on the thing's `field`."""
    if not hasattr(exc, "error_dict"):
        return ValidationError({field: exc.messages})
    return ValidationError(
        {
            field: [
                f"{name}: {message}" if name != "__all__" else message
                for name, messages in exc.message_dict.items()
                for message in messages
            ]
        }
    )


def _new_host(thing: Thing, network: Network, overlay_ip: str | None) -> Host:
    if network.organization_id != thing.organization_id:
        raise ValidationError({"network": "This network belongs to another organization."})
    try:
        return nebula_svc.create_host(
            organization=thing.organization, network=network, hostname=thing.code, overlay_ip=overlay_ip or None
        )
    except ValidationError as exc:
        errors = getattr(exc, "message_dict", {})
        if set(errors) <= {"overlay_ip"} and errors:
            raise ValidationError({"overlay_ip": errors["overlay_ip"]}) from None
        raise _under("nebula_host", exc) from None


def _new_user(thing: Thing) -> NatsUser:
    try:
        return contracts.provision_thing_user(thing)
    except ValidationError as exc:
        raise _under("nats_user", exc) from None


@transaction.atomic
def create_thing(
    *,
    organization,
    nats_mode: str = Mode.NONE,
    nats_user: NatsUser | None = None,
    nebula_mode: str = Mode.NONE,
    nebula_host: Host | None = None,
    network: Network | None = None,
    overlay_ip: str | None = None,
    **fields,
) -> Thing:
    """A thing and, by mode, its NATS user and Nebula host, in one transaction: any refusal leaves nothing.

    Errors name the thing's fields, `nats_user`/`nebula_host` for the identities, `network` and `overlay_ip`
    for a new host."""
    _check_modes(nats_mode, nats_user, nebula_mode, nebula_host, network, overlay_ip)
    for name in Thing.IDENTITY_FIELDS:
        fields.pop(name, None)
    thing = Thing(organization=organization, **fields)
    thing.full_clean()
    thing.save()
    if nats_mode == Mode.AUTO:
        thing.nats_user = _new_user(thing)
    elif nats_mode == Mode.LINK:
        thing.nats_user = _linkable_user(organization, nats_user)
    if nebula_mode == Mode.AUTO:
        thing.nebula_host = _new_host(thing, network, overlay_ip)
    elif nebula_mode == Mode.LINK:
        thing.nebula_host = _linkable_host(organization, nebula_host)
    if thing.nats_user_id or thing.nebula_host_id:
        thing.full_clean()
        thing.save(update_fields=["nats_user", "nebula_host", "updated"])
    if nats_mode == Mode.LINK:
        # A user made elsewhere is re-issued by the type's key, with the thing's tags.
        contracts.refresh_thing_user(thing)
    return thing


_UNSET = object()


@transaction.atomic
def link_identities(thing: Thing, *, nats_user=_UNSET, nebula_host=_UNSET) -> Thing:
    """Link (or, with None, unlink) the thing's NATS user and Nebula host. An unlinked identity stays as it
    is (active, with its credentials): delete or deactivate it on its own page if it should stop working."""
    thing = lock_thing(thing)
    organization, before = thing.organization, thing.nats_user_id
    if nats_user is not _UNSET and nats_user != thing.nats_user:
        thing.nats_user = None if nats_user is None else _linkable_user(organization, nats_user, thing)
    if nebula_host is not _UNSET and nebula_host != thing.nebula_host:
        thing.nebula_host = None if nebula_host is None else _linkable_host(organization, nebula_host, thing)
    thing.full_clean()
    thing.save()
    if thing.nats_user_id and thing.nats_user_id != before:
        contracts.refresh_thing_user(thing)
    return thing


#: A change of these moves the thing's subjects: its NATS user follows (new tags or key, old JWT revoked).
SUBJECT_FIELDS = ("code", "thing_type_id", "location_id")


def lock_thing(thing: Thing) -> Thing:
    return (
        Thing.objects.select_for_update(of=("self",))
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
    """Back on, with fresh credentials for its NATS user and Nebula host. An enrolled thing (its device holds its
    NATS key) keeps both switched off: only its device can make new keys, so it enrolls again with a new token."""
    thing = lock_thing(thing)
    if thing.active:
        return thing
    thing.active = True
    thing.save(update_fields=["active", "updated"])
    if thing.nats_user_id and not thing.nats_user.seed:
        return thing
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
