"""Signals other apps listen to: rejected API tokens (the audit log records them) and organization deletions."""

from django.dispatch import Signal

#: Sent when a request presents an API token that is malformed, unknown, expired or revoked.
#: Arguments: request, prefix (str, may be ""), reason (str).
api_token_rejected = Signal()

#: Sent by `tenancy.services.delete_organization` inside its transaction, before the organization and its cascade
#: are deleted, so that apps owning rows of the organization remove them in bulk first (credentials: the NATS
#: account is deleted from the servers with one tombstone, its users with it). Arguments: organization.
organization_deleting = Signal()

#: Sent by `tenancy.services.deactivate_person` inside its transaction, before the person is saved inactive,
#: so that apps holding the person's credentials revoke them in the same transaction. Arguments: person.
person_deactivated = Signal()

#: Sent when someone asks for a password reset link. Arguments: request, email (str), users (the accounts
#: emailed; empty when the address belongs to none).
password_reset_requested = Signal()

#: Sent when a person's password is set through a reset link (reset=True) or changed by them. Arguments: user,
#: reset (bool).
password_changed = Signal()
