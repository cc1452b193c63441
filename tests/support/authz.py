"""Role matrix checks for API endpoints, reused by every app's tests.

`assert_access(world, "get", url_for, expect(...))` runs the request as anonymous, as the outsider (owner of
another organization), as the platform superuser and as each role of the world's organization, and asserts
the status each one gets. With `expect(..., org_token=..., platform_token=...)` it also runs the request with
an API token of the organization's owner and with a platform token of the superuser.

`url_for(world)` and `data_for(world)` are called once per caller, so destructive
requests get a fresh object each time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rest_framework.test import APIClient

from tenancy import services
from tenancy.roles import ALL_ROLES, Role

ANONYMOUS = "anonymous"
OUTSIDER = "outsider"
SUPERUSER = "superuser"
ORG_TOKEN = "org token"  # noqa: S105 - a caller's name
PLATFORM_TOKEN = "platform token"  # noqa: S105 - a caller's name


def expect(
    allowed: Iterable[str],
    ok: int,
    *,
    denied: int = 403,
    outsider: int = 404,
    anonymous: int = 401,
    superuser: int | None = None,
    org_token: int | None = None,
    platform_token: int | None = None,
) -> dict[str, int]:
    """Statuses per caller: roles in `allowed` get `ok`, other roles `denied`; the token callers only when
    their status is given."""
    allowed = set(allowed)
    statuses = {role: (ok if role in allowed else denied) for role in ALL_ROLES}
    statuses[OUTSIDER] = outsider
    statuses[ANONYMOUS] = anonymous
    statuses[SUPERUSER] = ok if superuser is None else superuser
    if org_token is not None:
        statuses[ORG_TOKEN] = org_token
    if platform_token is not None:
        statuses[PLATFORM_TOKEN] = platform_token
    return statuses


def caller(world, who: str):
    """The user who makes the request for `who` (a role, OUTSIDER, SUPERUSER), None for ANONYMOUS."""
    if who == ANONYMOUS:
        return None
    if who == OUTSIDER:
        return world.outsider
    if who == SUPERUSER:
        return world.superuser
    return world.user(who)


def _client(world, who: str) -> APIClient:
    client = APIClient()
    if who in (ORG_TOKEN, PLATFORM_TOKEN):
        if who == ORG_TOKEN:
            _, secret = services.create_api_token(user=world.user(Role.OWNER), organization=world.org, name=who)
        else:
            _, secret = services.create_platform_token(user=world.superuser, name=who)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return client
    user = caller(world, who)
    if user is not None:
        client.force_authenticate(user)
    return client


def assert_access(
    world,
    method: str,
    url_for: Callable,
    expected: dict[str, int],
    data_for: Callable | None = None,
    fmt: str = "json",
) -> None:
    failures = []
    for who, status in expected.items():
        client = _client(world, who)
        url = url_for(world)
        data = data_for(world) if data_for else None
        response = getattr(client, method)(url, data, format=fmt)
        if response.status_code != status:
            body = getattr(response, "data", None)
            failures.append(f"{who}: {method.upper()} {url} → {response.status_code}, expected {status} ({body})")
    assert not failures, "\n".join(failures)
