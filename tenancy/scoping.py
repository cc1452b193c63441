"""The one org-scoping base: every tenant-owned query, viewset and admin class narrows through here.

A model opts in by using `OrgScopedQuerySet` (or `OrgScopedManager`) and, when its organization is not the
`organization` field, by naming the lookup path in `org_lookup` (e.g. `"account__organization"`).

This module sits below the models (tenancy.models imports it, never the reverse): it reaches a user's
memberships through the user's `memberships` relation.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models


def org_lookup_for(model: type[models.Model]) -> str:
    return getattr(model, "org_lookup", "organization")


class OrgScopedQuerySet(models.QuerySet):
    def for_organization(self, organization) -> OrgScopedQuerySet:
        return self.filter(**{org_lookup_for(self.model): organization})

    def for_user(self, user, roles: Iterable[str] | None = None) -> OrgScopedQuerySet:
        """Rows of organizations where `user` holds one of `roles` (any role when None).

        Superusers see every row. Anonymous and inactive users see none.
        """
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self.all()
        memberships = user.memberships.filter(organization__active=True)
        if roles is not None:
            memberships = memberships.filter(role__in=list(roles))
        lookup = org_lookup_for(self.model)
        return self.filter(**{f"{lookup}__in": memberships.values("organization_id")})


class OrgScopedManager(models.Manager.from_queryset(OrgScopedQuerySet)):
    pass


def organization_id_of(obj: models.Model) -> int | None:
    """Follow the model's `org_lookup` path from `obj` to its organization's primary key."""
    lookup = org_lookup_for(type(obj))
    if lookup == "pk":
        return obj.pk
    *path, last = lookup.split("__")
    for part in path:
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return getattr(obj, f"{last}_id", None)
