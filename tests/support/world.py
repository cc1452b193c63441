"""Test fixtures as plain builders, reusable from any test module."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model

from tenancy.models import Membership, Organization
from tenancy.roles import Role

User = get_user_model()


def make_user(username: str, *, staff: bool = False, superuser: bool = False, email: str | None = None):
    return User.objects.create_user(
        username=username,
        email=email or f"{username}@example.com",
        password="correct horse battery staple",
        is_staff=staff or superuser,
        is_superuser=superuser,
    )


def make_org(slug: str, owner, name: str | None = None) -> Organization:
    organization = Organization.objects.create(name=name or slug.title(), slug=slug)
    Membership.objects.create(user=owner, organization=organization, role=Role.OWNER)
    return organization


@dataclass
class World:
    org: Organization
    other_org: Organization
    superuser: object
    outsider: object
    users: dict[str, object] = field(default_factory=dict)

    def user(self, role: str):
        return self.users[role]


def build_world() -> World:
    owner = make_user("olivia")
    org = make_org("acme", owner, "Acme Corp")
    users = {Role.OWNER.value: owner}
    for role, name in [
        (Role.ADMIN, "adam"),
        (Role.MEMBER, "mia"),
        (Role.VIEWER, "vic"),
        (Role.AUDITOR, "audrey"),
    ]:
        user = make_user(name)
        Membership.objects.create(user=user, organization=org, role=role)
        users[role.value] = user
    outsider = make_user("charlie")
    other_org = make_org("globex", outsider, "Globex")
    superuser = make_user("root", superuser=True)
    return World(org=org, other_org=other_org, superuser=superuser, outsider=outsider, users=users)
