"""What the admin's Live state panel (`admin/inventory/twin/live_state.html`) needs for one object: its websocket
path, where its desired state is written (things, through the API) and whether this user may write it."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse

from inventory.twin import state


def panel_context(obj, kind: str, *, can_write: bool) -> dict:
    slug = obj.organization.slug
    desired_url = ""
    if kind == "thing":
        twin_url = reverse("inventory-api:thing-twin", kwargs={"org_slug": slug, "pk": obj.pk})
        desired_url = f"{twin_url}desired/"
    return {
        "ws_path": f"/ws/orgs/{slug}/twin/{kind}/{obj.code}/",
        "object": state.object_prefix(kind, obj.code)[:-1],
        "desired_url": desired_url,
        "can_write": bool(can_write and desired_url),
        "online_seconds": settings.TWIN_ONLINE_SECONDS,
    }
