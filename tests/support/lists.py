"""Checks shared by the tests of the big lists (keyset pagination): walking the pages, counting queries."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tenancy import services


def walk(client, url: str, params: dict | None = None, key: str = "id") -> tuple[list, list[dict]]:
    """Every row of the list, following `next` from the first page; returns the rows' `key`s and the pages."""
    pages, response = [], client.get(url, params or {})
    while True:
        assert response.status_code == 200, response.content
        page = response.json()
        assert "count" not in page
        pages.append(page)
        if page["next"] is None:
            break
        response = client.get(page["next"])
    return [row[key] for page in pages for row in page["results"]], pages


def walk_back(client, last_page: dict, key: str = "id") -> list:
    """Every row before `last_page`, following `previous` (in list order)."""
    rows, page = [], last_page
    while page["previous"] is not None:
        response = client.get(page["previous"])
        assert response.status_code == 200, response.content
        page = response.json()
        rows = [row[key] for row in page["results"]] + rows
    return rows


def queries_of(request: Callable[[], object]) -> list[str]:
    """The SQL of the queries `request()` runs (it must answer 200)."""
    with CaptureQueriesContext(connection) as captured:
        response = request()
    assert response.status_code == 200, response.content
    return [query["sql"] for query in captured.captured_queries]


def token_client(user, organization) -> APIClient:
    """A client signed in with a new API token of `user` in `organization`."""
    _, secret = services.create_api_token(user=user, organization=organization, name="lists")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def page_queries(client, url: str) -> list[str]:
    """The SQL of a 100-row page of `url`, after one page before it (a token's first use is recorded, the
    next ones once a minute)."""
    assert client.get(url, {"limit": 100}).status_code == 200
    return queries_of(lambda: client.get(url, {"limit": 100}))
