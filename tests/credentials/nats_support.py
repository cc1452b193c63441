"""Builders and checks shared by the NATS tests."""

from __future__ import annotations

import re
import uuid

from credentials.codecs import natsjwt as nj
from credentials.models import Account, NatsRole, NatsUser
from credentials.services import nats as svc
from tenancy.models import Membership

#: An nkey seed (operator, account or user: 58 base32 characters), a decorated `.creds` block, or a sealed
#: secret as stored in the database.
SECRET_PATTERN = re.compile(r"(?<![A-Z2-7])S[OAU][A-Z2-7]{56}(?![A-Z2-7])|BEGIN (NATS|USER)|v[0-9]+:[0-9a-f]{8}:")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def account_of(org) -> Account:
    return Account.objects.get(organization=org)


def make_role(org, name: str | None = None, **fields) -> NatsRole:
    fields.setdefault("publish_allow", ["telemetry.>"])
    fields.setdefault("subscribe_allow", ["commands.>"])
    role = NatsRole(organization=org, name=name or unique("role"), **fields)
    role.full_clean()
    role.save()
    return role


def make_nats_user(org, name: str | None = None, **fields) -> NatsUser:
    return svc.create_user(account=account_of(org), name=name or unique("device"), **fields)


def link_user(membership: Membership, **fields) -> NatsUser:
    return make_nats_user(
        membership.organization,
        name=f"person-{membership.user.username}",
        owner_kind=NatsUser.OwnerKind.MEMBERSHIP,
        membership=membership,
        **fields,
    )


def membership_of(world, role: str) -> Membership:
    return Membership.objects.get(user=world.user(role), organization=world.org)


def claims(jwt: str) -> dict:
    return nj.decode(jwt)


#: Go `jwt.userConfigRE`, which NATS clients read a `.creds` file with.
CREDS_BLOCK = re.compile(r"\s*(?:(?:-{3,}.*-{3,}\r?\n)([\w\-.=]+)(?:\r?\n-{3,}.*-{3,}(\r?\n|\Z)))", re.ASCII)


def parse_creds(text: str | bytes) -> tuple[str, str]:
    """`(jwt, seed)` of a `.creds` file as a NATS client reads it: the first two decorated blocks."""
    if isinstance(text, bytes):
        text = text.decode()
    blocks = [m.group(1) for m in CREDS_BLOCK.finditer(text)]
    assert len(blocks) >= 2, f"not a .creds file: {text[:40]!r}"
    return blocks[0], blocks[1]


def assert_no_secrets(text: str) -> None:
    found = SECRET_PATTERN.search(text)
    assert found is None, f"secret-looking material in output: {found.group(0)[:12]}…"


def reload(obj):
    obj.refresh_from_db()
    return obj
