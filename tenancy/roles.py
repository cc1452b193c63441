"""Organization roles. Every check names the roles it admits (allowlists, never deny-lists)."""

from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"
    AUDITOR = "auditor", "Auditor"


ALL_ROLES = frozenset(Role.values)
#: Manage the organization: members, invitations, credentials, infrastructure.
MANAGERS = frozenset({Role.OWNER, Role.ADMIN})
#: Create and edit inventory.
EDITORS = frozenset({Role.OWNER, Role.ADMIN, Role.MEMBER})
#: Read the audit log.
AUDIT_READERS = frozenset({Role.OWNER, Role.ADMIN, Role.AUDITOR})
#: Roles an invitation may grant (ownership is given by an owner, never by invitation).
INVITABLE = frozenset(ALL_ROLES - {Role.OWNER})
