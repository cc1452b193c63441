"""The websocket of the admin's Live state panel and floorplan: `/ws/orgs/<slug>/twin/<kind>/<code>/` (one object)
and `/ws/orgs/<slug>/twin/floorplan/<id>/` (the things placed on a floorplan).

The ASGI stack authenticates the session and checks the origin (`stoneage.asgi`); here the organization is
resolved for the user through the org-scoped querysets (any role; superusers see every organization), then the
object in it. Anonymous users are refused with 4401, anyone else who may not see the object with 4403 (whether
or not it exists). An accepted viewer joins its organization's hub (`inventory.twin.hub`).
"""

from __future__ import annotations

import re

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from inventory import subjects
from inventory.models import Floorplan, Location, Thing
from inventory.twin import hub, state
from tenancy.models import Organization

ANONYMOUS, FORBIDDEN = 4401, 4403
CODE_RE = re.compile(subjects.CODE_PATTERN)


def organization_for(user, slug: str) -> Organization | None:
    return Organization.objects.for_user(user).filter(slug=slug, active=True).first()


def object_prefixes(organization: Organization, route: dict) -> frozenset[str] | None:
    """The object prefixes this route follows in the organization, or None when there is no such object."""
    if "floorplan" in route:
        floorplan = Floorplan.objects.for_organization(organization).filter(pk=route["floorplan"]).first()
        if floorplan is None:
            return None
        codes = floorplan.placements.values_list("thing__code", flat=True)
        return frozenset(state.object_prefix("thing", code) for code in codes)
    kind, code = route["kind"], route["code"]
    models = {"thing": Thing, "location": Location}
    if kind not in state.KINDS or not CODE_RE.match(code):
        return None
    if kind in models and not models[kind].objects.for_organization(organization).filter(code=code).exists():
        return None
    return frozenset({state.object_prefix(kind, code)})


def authorize(user, route: dict) -> tuple[int, frozenset[str]] | int:
    """(organization id, prefixes) for a viewer who may watch, or the close code."""
    if user is None or not user.is_authenticated:
        return ANONYMOUS
    organization = organization_for(user, route["org_slug"])
    if organization is None:
        return FORBIDDEN
    prefixes = object_prefixes(organization, route)
    return FORBIDDEN if prefixes is None else (organization.pk, prefixes)


class TwinConsumer(AsyncWebsocketConsumer):
    #: No channel layer: the hub sends to its viewers in-process (a Redis receive loop per viewer would only cost).
    channel_layer_alias = None
    prefixes: frozenset[str] = frozenset()
    hub: hub.OrgHub | None = None

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:  # however the consumer ends (a crash skips `disconnect`), it leaves its hub
            await self.disconnect(None)

    async def connect(self) -> None:
        found = await database_sync_to_async(authorize)(self.scope.get("user"), self.scope["url_route"]["kwargs"])
        if isinstance(found, int):
            await self.close(code=found)
            return
        organization_id, self.prefixes = found
        await self.accept()
        self.hub = await hub.join(organization_id, self)

    async def disconnect(self, code) -> None:
        if self.hub is not None:
            current, self.hub = self.hub, None
            await hub.leave(current, self)

    async def receive(self, text_data=None, bytes_data=None) -> None:
        """Viewers only listen; writes go through the API (audited, role-checked)."""

    async def send_twin(self, text: str) -> None:
        await self.send(text_data=text)
