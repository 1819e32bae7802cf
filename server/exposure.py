"""What the server gives away beyond its answers: framing by other sites, credentials in logs.

Every HTML page refuses to be framed (`frame-ancestors 'none'`, clickjacking), whatever route
made it; a route's own policy is kept and the directive appended when it lacks one. Paths that
carry a credential (a status page's share link, a survey token) are written to the access log
with the token replaced, so log readers cannot open the page or answer the survey.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]

FRAME_ANCESTORS = "frame-ancestors 'none'"
# Path prefixes whose next segment is a credential.
CREDENTIAL_PATHS = re.compile(r"(/status/|/api/v1/surveys/)[^/?#\s\"]+")
REDACTED = r"\1[redacted]"


def redact(path: str) -> str:
    """The path with any credential segment replaced."""
    return CREDENTIAL_PATHS.sub(REDACTED, path)


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


class RedactCredentials(logging.Filter):
    """For uvicorn's access log: its record's arguments are (client, method, path, version,
    status); the path loses its credential segment."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True
