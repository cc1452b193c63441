"""Signals other apps listen to (the audit log records them)."""

from django.dispatch import Signal

#: Sent when a request presents an API token that is malformed, unknown, expired or revoked.
#: Arguments: request, prefix (str, may be ""), reason (str).
api_token_rejected = Signal()

#: Sent by `tenancy.services.deactivate_person` inside its transaction, before the person is saved inactive,
#: so that apps holding the person's credentials revoke them in the same transaction. Arguments: person.
person_deactivated = Signal()
