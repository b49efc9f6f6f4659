"""A small synchronous client of the gateway's HTTP API, used by the CLI."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from pushgate.errors import PushgateError


class ApiError(PushgateError):
    """The gateway answered with an error, or could not be reached."""

    code = "api_error"


def checked_url(url: str, option: str = "--url") -> str:
    """``url`` if it is an http(s) address with a host; else a one-line error saying the fix."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ApiError(
            f"{option} must be an http:// or https:// address with a host, "
            f"e.g. http://127.0.0.1:8086; got '{url}'.",
            code="bad_url",
        )
    return url.strip().rstrip("/")


class GatewayClient:
    """Calls one gateway with one API key."""

    def __init__(self, url: str, api_key: str | None, *, timeout: float = 60.0) -> None:
        self._url = checked_url(url)
        headers = {"authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self._url, headers=headers, timeout=timeout)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request; the decoded JSON answer, or ApiError with the gateway's message."""
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(
                f"Cannot reach the gateway at {self._url} ({type(exc).__name__}). "
                "Is 'pushgate serve' running? Set --url or PUSHGATE_URL.",
                code="unreachable",
            ) from None
        if response.status_code >= 400:
            raise _error_from(response)
        return response.json() if response.content else None


def _error_from(response: httpx.Response) -> ApiError:
    try:
        error = response.json()["error"]
        return ApiError(
            f"{error['message']}{describe_details(error.get('details'))} "
            f"[{error['code']}, HTTP {response.status_code}]",
            code=error["code"],
        )
    except (ValueError, KeyError, TypeError):
        return ApiError(f"The gateway answered HTTP {response.status_code}.", code="http_error")


def describe_details(details: Any) -> str:
    """Field problems (``[{"field", "message"}]``) as text after an error's message."""
    if not isinstance(details, list) or not details:
        return ""
    lines = [
        f"\n  {item.get('field', '?')}: {item.get('message', '')}"
        for item in details
        if isinstance(item, dict)
    ]
    return "".join(lines)
