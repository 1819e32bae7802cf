"""What the server gives away beyond its answers: framing by other sites.

Every HTML page refuses to be framed (`frame-ancestors 'none'`, clickjacking), whatever route
made it; a route's own policy is kept and the directive appended when it lacks one. (Link
tokens are kept out of the access log by `server/access_log.py`.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

FRAME_ANCESTORS = "frame-ancestors 'none'"


def with_frame_ancestors(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Headers of an HTML answer with `frame-ancestors 'none'` in its CSP (added if none)."""
    out: list[tuple[bytes, bytes]] = []
    seen = False
    for name, value in headers:
        if name.lower() == b"content-security-policy":
            seen = True
            if b"frame-ancestors" not in value:
                value = value.rstrip(b"; ") + b"; " + FRAME_ANCESTORS.encode()
        out.append((name, value))
    if not seen:
        out.append((b"content-security-policy", FRAME_ANCESTORS.encode()))
    return out


def _is_html(name: bytes, value: bytes) -> bool:
    return name.lower() == b"content-type" and value.startswith(b"text/html")


class FrameGuard:
    """ASGI middleware: HTML answers get `frame-ancestors 'none'` (pure ASGI: costs the JSON
    and ingest answers one header scan, no extra task)."""

    def __init__(self, app: Asgi) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def guarded(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if any(
                    n.lower() == b"content-type" and v.startswith(b"text/html") for n, v in headers
                ):
                    message["headers"] = with_frame_ancestors(headers)
            await send(message)

        await self.app(scope, receive, guarded)
