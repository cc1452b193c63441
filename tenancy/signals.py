"""Signals other apps listen to (the audit log records them)."""

from django.dispatch import Signal

#: Sent when a request presents an API token that is malformed, unknown, expired or revoked.
#: Arguments: request, prefix (str, may be ""), reason (str).
api_token_rejected = Signal()
