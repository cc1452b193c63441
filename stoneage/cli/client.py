"""The HTTP side: one httpx client per command, errors turned into `CliProblem`s, lists read page by page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx

from stoneage.cli.errors import ApiRefusal, ConfigProblem, Unreachable
from stoneage.cli.files import write_new_file

API_PREFIX = "/api/v1/"
TIMEOUT = 30.0
#: Rows asked for per page when reading a whole list (the API's ceiling).
PAGE_SIZE = 1000


def api_base(url: str) -> str:
    """`https://host[:port][/prefix]` → the API root, `…/api/v1/`."""
    url = url.rstrip("/")
    if url.endswith(API_PREFIX.rstrip("/")):
        return url + "/"
    return url + API_PREFIX


def error_text(body) -> str:
    """DRF's error bodies (`{"detail": …}`, `{"field": ["…"]}`, nested) as one line."""
    if isinstance(body, str):
        return body
    if isinstance(body, list):
        return "; ".join(error_text(item) for item in body)
    if isinstance(body, dict):
        parts = []
        for key, value in body.items():
            text = error_text(value)
            parts.append(text if key in ("detail", "non_field_errors") else f"{key}: {text}")
        return "; ".join(parts)
    return str(body)


class Api:
    def __init__(self, url: str, token: str, *, timeout: float = TIMEOUT):
        if not url:
            raise ConfigProblem(
                "No API URL: add a context (`stoneage context add NAME --url … --token …`) or set STONEAGE_URL."
            )
        if not token:
            raise ConfigProblem("No API token: give the context one (`stoneage context add`) or set STONEAGE_TOKEN.")
        self.base = api_base(url)
        self.http = httpx.Client(
            base_url=self.base,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=timeout,
        )

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise Unreachable(f"The API at {self.base} did not answer in time.") from None
        except httpx.HTTPError as exc:
            raise Unreachable(f"Cannot reach the API at {self.base}: {exc}") from None
        if response.status_code >= 400:
            raise self._refusal(response)
        return response

    def _refusal(self, response: httpx.Response):
        try:
            text = error_text(response.json())
        except ValueError:
            text = response.text.strip()[:500] or response.reason_phrase
        message = f"{response.status_code} {response.reason_phrase}: {text}"
        if response.status_code == 401:
            return Unreachable(f"The API did not accept the token ({message}).")
        return ApiRefusal(message, response.status_code)

    def json(self, method: str, path: str, **kwargs):
        response = self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise ApiRefusal(f"The API answered {path} with something other than JSON.", response.status_code) from None

    def rows(self, path: str, params: dict | None = None, limit: int | None = None) -> Iterator[dict]:
        """Every row of a list, following `next` (offset or cursor pages alike); at most `limit` rows."""
        params = dict(params or {})
        params.setdefault("limit", min(limit, PAGE_SIZE) if limit else PAGE_SIZE)
        page = self.json("GET", path, params=params)
        count = 0
        while True:
            if isinstance(page, list):  # an unpaginated list
                results, following = page, None
            else:
                results, following = page.get("results", []), page.get("next")
            for row in results:
                if limit is not None and count >= limit:
                    return
                count += 1
                yield row
            if not following or (limit is not None and count >= limit):
                return
            page = self.json("GET", following)

    def download(self, path: str, destination: Path, *, secret: bool, force: bool, params=None) -> int:
        """The body of `path` into `destination` (mode 0600 when `secret`); refuses to overwrite without `force`."""
        response = self.request("GET", path, params=params)
        return write_new_file(destination, response.content, secret=secret, force=force)
