"""An auditor reads and writes nothing, anywhere. Both checks walk whatever is registered, so endpoints and
admin classes added later are covered without touching this file."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.permissions import SAFE_METHODS
from rest_framework.test import APIClient

from audit.models import AuditEvent
from tenancy.scoping import org_lookup_for

pytestmark = pytest.mark.django_db

#: Things any member may do to their own membership; they change nothing of anyone else's.
SELF_SERVICE = {("tenancy-api:membership-leave", "post")}
ORGANIZATION_KWARGS = {"org_slug", "slug"}


def _kwarg_names(pattern) -> set[str]:
    if hasattr(pattern, "converters") and pattern.converters:
        return set(pattern.converters)
    return set(pattern.regex.groupindex)


def _routes(patterns, prefix="", namespace=None, kwargs=frozenset()):
    for entry in patterns:
        names = kwargs | _kwarg_names(entry.pattern)
        route = prefix + str(entry.pattern).removeprefix("^").removesuffix("$")
        if isinstance(entry, URLResolver):
            inner = ":".join(filter(None, [namespace, entry.namespace])) or None
            yield from _routes(entry.url_patterns, route, inner, names)
        elif isinstance(entry, URLPattern) and entry.name:
            yield route, f"{namespace}:{entry.name}" if namespace else entry.name, entry.callback, names


def tenant_write_routes():
    """(url name, kwarg names, method, view class) for every writing API route under /api/v1/orgs/."""
    found = []
    for route, name, callback, kwargs in _routes(get_resolver().url_patterns):
        if not route.startswith("api/v1/orgs") or "format" in kwargs:
            continue
        view = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        methods = getattr(callback, "actions", None) or {
            m: m for m in getattr(view, "http_method_names", []) if hasattr(view, m)
        }
        for method in methods:
            if method.upper() not in SAFE_METHODS and (name, method) not in SELF_SERVICE:
                found.append((name, kwargs, method, view))
    return found


def _sample(model, world):
    """A row of `model` in the world's organization that is not the auditor's own."""
    if model is None or not hasattr(model.objects, "for_organization"):
        return None
    rows = model.objects.for_organization(world.org.pk)
    if any(f.name == "user" for f in model._meta.get_fields()):
        rows = rows.exclude(user=world.user("auditor"))
    return rows.order_by("pk").first()


def test_every_writing_api_endpoint_refuses_the_auditor(world):
    routes = tenant_write_routes()
    names = {name for name, *_ in routes}
    assert {"tenancy-api:membership-detail", "tenancy-api:invitation-list", "tenancy-api:organization-detail"} <= names
    client = APIClient()
    client.force_authenticate(world.user("auditor"))
    failures = []
    for name, kwargs, method, view in routes:
        queryset = getattr(view, "queryset", None)
        model = queryset.model if queryset is not None else None
        obj = _sample(model, world)
        values = {key: "acme" if key in ORGANIZATION_KWARGS else (obj.pk if obj else 999999) for key in kwargs}
        url = reverse(name, kwargs=values)
        response = getattr(client, method)(url, {}, format="json")
        allowed = {403, 405} if obj is not None or kwargs <= ORGANIZATION_KWARGS else {403, 404, 405}
        if response.status_code not in allowed:
            failures.append(f"{method.upper()} {url} → {response.status_code}")
    assert failures == []
    assert not AuditEvent.objects.filter(
        actor_name="audrey", action__in=["create", "update", "delete", "bulk_create", "bulk_update"]
    ).exists()


def test_no_admin_class_lets_the_auditor_add_change_or_delete(world, rf):
    request = rf.get("/admin/")
    request.user = world.user("auditor")
    failures = []
    for model, model_admin in admin.site._registry.items():
        if model_admin.has_add_permission(request):
            failures.append(f"{model._meta.label}: add")
        scoped = org_lookup_for(model) == "pk" or hasattr(model.objects, "for_organization")
        for obj in [None, _sample(model, world) if scoped else model.objects.order_by("pk").first()]:
            for permission in ["change", "delete"]:
                if getattr(model_admin, f"has_{permission}_permission")(request, obj):
                    failures.append(f"{model._meta.label}: {permission} {obj!r}")
    assert failures == []
