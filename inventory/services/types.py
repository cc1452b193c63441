"""Domain actions on thing types, their operations and message schemas. Every change of a type's prefix or
operations re-derives its contract (`contracts.sync_type_contract`) in the same transaction."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from inventory.models import MessageSchema, Operation, ThingType
from inventory.services import contracts

#: What a type's contract is made of: a change of these re-signs the account.
CONTRACT_FIELDS = ("code", "subject_prefix")


def _saved(obj, changes: dict | None = None, exclude=()):
    for name, value in (changes or {}).items():
        setattr(obj, name, value)
    obj.full_clean(exclude=list(exclude))
    obj.save()
    return obj


@transaction.atomic
def create_type(*, organization, operations=(), **fields) -> ThingType:
    """A type and its operations (dicts of Operation fields) at once; one contract sync."""
    thing_type = _saved(ThingType(organization=organization, **fields))
    for spec in operations:
        _saved(Operation(thing_type=thing_type, **spec))
    contracts.sync_type_contract(thing_type)
    return thing_type


@transaction.atomic
def update_type(thing_type: ThingType, **changes) -> ThingType:
    before = {f: getattr(thing_type, f) for f in CONTRACT_FIELDS}
    _saved(thing_type, changes)
    if any(getattr(thing_type, f) != v for f, v in before.items()):
        contracts.sync_type_contract(thing_type)
        if before["code"] != thing_type.code:
            contracts.refresh_thing_users(thing_type.things.select_related("location", "nats_user", "thing_type"))
    return thing_type


@transaction.atomic
def delete_type(thing_type: ThingType) -> None:
    if thing_type.things.exists():
        raise ValidationError({"thing_type": "This type still has things; move or delete them first."})
    thing_type.operations.all().delete()
    contracts.remove_type_contract(thing_type)
    thing_type.delete()


@transaction.atomic
def save_operation(operation: Operation, **changes) -> Operation:
    """Create (unsaved `operation`) or change an operation; the type's contract follows (both types' contracts
    when the operation moves to another type)."""
    before = Operation.objects.filter(pk=operation.pk).values_list("thing_type_id", flat=True).first()
    _saved(operation, changes)
    contracts.sync_type_contract(operation.thing_type)
    if before is not None and before != operation.thing_type_id:
        contracts.sync_type_contract(ThingType.objects.get(pk=before))
    return operation


@transaction.atomic
def replace_operations(thing_type: ThingType, operations) -> ThingType:
    """Set the type's operations to exactly `operations` (dicts of Operation fields): one contract sync."""
    thing_type.operations.all().delete()
    for spec in operations:
        _saved(Operation(thing_type=thing_type, **spec))
    contracts.sync_type_contract(thing_type)
    return thing_type


@transaction.atomic
def delete_operation(operation: Operation) -> None:
    thing_type = operation.thing_type
    operation.delete()
    contracts.sync_type_contract(thing_type)


@transaction.atomic
def save_message_schema(schema: MessageSchema, **changes) -> MessageSchema:
    return _saved(schema, changes)


@transaction.atomic
def delete_message_schema(schema: MessageSchema) -> None:
    if schema.operations.exists():
        raise ValidationError({"message_schema": "Operations still use this schema; change them first."})
    schema.delete()
