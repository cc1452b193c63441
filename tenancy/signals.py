"""Signals other apps listen to (the audit log records them)."""

from django.dispatch import Signal

#: Sent when a request presents an API token that is malformed, unknown, expired or revoked.
#: Arguments: request, prefix (str, may be ""), reason (str).
api_token_rejected = Signal()

#: Sent when someone asks for a password reset link. Arguments: request, email (str), users (the accounts
#: emailed; empty when the address belongs to none).
password_reset_requested = Signal()

#: Sent when a person's password is set through a reset link (reset=True) or changed by them. Arguments: user,
#: reset (bool).
password_changed = Signal()
