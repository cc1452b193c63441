"""A thing type's contract on the data plane: its scoped signing key, and the NATS users of its things.

- `sync_type_contract(thing_type)`: create or update the type's scoped signing key so that its template is the
  contract of the type's current prefix and operations (`inventory.contracts`); one account push after commit,
  none when the template did not change.
- `thing_user_tags(thing)`: the tags of the thing's user JWT, from which nats-server expands the template.
- `remove_type_contract(thing_type)`: the type is going; its key goes too.
- `provision_thing_user(thing)`: a new NATS user for the thing (name = its code), issued by its type's key.
- `refresh_thing_user(thing)`: after the thing's code, type or location changed, its user follows (new key or
  tags; its earlier JWT is revoked, since it grants the old subjects); `refresh_thing_users` for many at once.

Called by the domain actions of `inventory.services.types` and `inventory.services.things`, inside their
transaction.
"""

from __future__ import annotations

from credentials.models import Account, AccountSigningKey, NatsUser
from credentials.services import nats as nats_svc
from inventory import contracts


def account_of(organization) -> Account:
    return Account.objects.get(organization=organization, is_system=False)


def thing_user_tags(thing) -> list[str]:
    return contracts.thing_tags(thing.code, thing.location.code if thing.location_id else None, thing.thing_type.code)


def type_template(thing_type) -> dict:
    """The scope template of the type as it is now in the database."""
    return contracts.scope_template(
        org=thing_type.organization.slug,
        thing_type=thing_type.code,
        prefix=thing_type.subject_prefix,
        operations=thing_type.operations.order_by("pk").values_list("capability", "subject_suffix"),
        queued_commands=thing_type.operations.filter(capability=contracts.REPLY, command_ttl__gt=0).exists(),
    )


def sync_type_contract(thing_type, *, sign: bool = True) -> AccountSigningKey:
    """Bring the type's scoped signing key in line with its prefix and operations (created on first use)."""
    key = nats_svc.set_user_scope(
        account_of(thing_type.organization),
        role=thing_type.code,
        template=type_template(thing_type),
        key=thing_type.signing_key,
        description=f"Contract of the thing type {thing_type.code}",
        sign=sign,
    )
    if thing_type.signing_key_id != key.pk:
        thing_type.signing_key = key
        thing_type.save(update_fields=["signing_key", "updated"])
    return key


def sync_type_contracts(organization, thing_types) -> None:
    """`sync_type_contract` for several types of one organization, with one account re-signing (one push)."""
    thing_types = list(thing_types)
    for thing_type in thing_types:
        sync_type_contract(thing_type, sign=False)
    if thing_types:
        nats_svc.sign_account(nats_svc.lock_account(account_of(organization)))


def remove_type_contract(thing_type) -> None:
    """Remove the type's scoped signing key: the type is being deleted and has no things left."""
    if thing_type.signing_key_id:
        nats_svc.delete_user_scope(thing_type.signing_key)


def type_key(thing_type) -> AccountSigningKey:
    return thing_type.signing_key if thing_type.signing_key_id else sync_type_contract(thing_type)


def provision_thing_user(thing) -> NatsUser:
    """The thing's NATS user: named by the thing's code, issued by its type's scoped key, tagged for it."""
    return nats_svc.create_user(
        account=account_of(thing.organization),
        name=thing.code,
        owner_kind=NatsUser.OwnerKind.THING,
        signing_key=type_key(thing.thing_type),
        tags=thing_user_tags(thing),
    )


#: What a thing's user does not carry: its permissions come from its type's scope. A user made elsewhere and then
#: linked to a thing loses them.
NO_OWN_PERMISSIONS = {
    "role": None,
    "publish_allow": [],
    "publish_deny": [],
    "subscribe_allow": [],
    "subscribe_deny": [],
    "bearer": False,
}


def thing_user_changes(thing) -> dict:
    return {
        "name": thing.code,
        "signing_key": type_key(thing.thing_type),
        "tags": thing_user_tags(thing),
        **NO_OWN_PERMISSIONS,
    }


def refresh_thing_user(thing) -> None:
    """Reissue the thing's user after its code, type or location changed, or once it is linked to the thing: another
    key or other tags grant other subjects, so its earlier JWT is revoked (`credentials.services.nats.update_user`).
    """
    if not thing.nats_user_id:
        return
    nats_svc.update_user(thing.nats_user, **thing_user_changes(thing))


def refresh_thing_users(things) -> int:
    """`refresh_thing_user` for many things at once (a type's code changed): one revocation for all of them."""
    return nats_svc.update_users((thing.nats_user, thing_user_changes(thing)) for thing in things if thing.nats_user_id)
