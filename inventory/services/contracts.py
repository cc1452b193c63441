"""A thing type's contract on the data plane: its scoped signing key, and the NATS users of its things.

- `sync_type_contract(thing_type)`: create, update or remove the type's scoped signing key so that its template
  is the contract of the type's current prefix and operations (one account push after commit).
- `thing_user_tags(thing)`: the tags of the thing's user JWT, from which nats-server expands the template.
- `remove_type_contract(thing_type)`: the type is going; its key goes too.
- `provision_thing_user(thing)`: a new NATS user for the thing, issued by its type's key.
- `refresh_thing_user(thing)`: after the thing's code, type or location changed, its user follows.

Called by the domain actions of `inventory.services.types` and `inventory.services.things`, inside their
transaction.
"""

from __future__ import annotations

from credentials.models import Account, NatsUser
from credentials.services import nats as nats_svc
from inventory import subjects


def account_of(organization) -> Account:
    return Account.objects.get(organization=organization, is_system=False)


def thing_user_tags(thing) -> list[str]:
    return [
        f"thing:{thing.code}",
        f"location:{thing.location.code if thing.location_id else subjects.NO_LOCATION}",
        f"type:{thing.thing_type.code}",
    ]


def sync_type_contract(thing_type) -> None:
    """Bring the type's scoped signing key in line with its prefix and operations."""


def remove_type_contract(thing_type) -> None:
    """Remove the type's scoped signing key: the type is being deleted and has no things left."""


def provision_thing_user(thing) -> NatsUser:
    return nats_svc.create_user(
        account=account_of(thing.organization), name=thing.code, owner_kind=NatsUser.OwnerKind.THING
    )


def refresh_thing_user(thing) -> None:
    """Reissue the thing's user after its code, type or location changed."""
