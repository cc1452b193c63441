"""The admin header's organization switcher and the index's list of organizations."""

from __future__ import annotations

from django import template

from tenancy.models import Membership

register = template.Library()


@register.simple_tag(takes_context=True)
def admin_memberships(context) -> list[Membership]:
    """The signed-in user's memberships in active organizations, by organization name: one query per request,
    however many templates ask."""
    request = context.get("request")
    if request is None:
        return []
    cached = getattr(request, "_stoneage_memberships", None)
    if cached is None:
        user = request.user
        cached = []
        if user.is_authenticated and user.is_active:
            cached = list(
                Membership.objects.filter(user=user, organization__active=True)
                .select_related("organization")
                .order_by("organization__name")
            )
        request._stoneage_memberships = cached
    return cached
