"""Is the stream there: RTSP OPTIONS + DESCRIBE over one TCP connection (RFC 2326), answering a
401 with Basic or Digest, and the SDP read for codec and resolution. No media is set up, so a
check costs the camera one short connection, not a viewer.

Failures are values with a short reason (`unreachable`, `timeout`, `auth_failed`, `not_found`,
`status_503`, `bad_reply`, `bad_sdp`), because a stream that fails while ONVIF answers is a
check result (`camera.stream_down`), not a failed poll.
"""

import asyncio
import contextlib
import secrets
import time
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

from agent.probes.onvif import auth
from agent.probes.onvif.sdp import SdpError, VideoTrack, parse_sdp

DEFAULT_RTSP_PORT = 554
MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
USER_AGENT = "secmon-agent"


class RtspFailure(Exception):  # noqa: N818 - the domain word, like ProbeFailure
    """The stream check failed; `reason` is the short code that goes into the check value."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Reply:
    status: int
    reason: str
    headers: dict[str, list[str]]  # lower-case name → values in order
    body: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None


@dataclass(frozen=True)
class StreamCheck:
    """A stream that answered DESCRIBE with a usable SDP."""

    track: VideoTrack
    status: int
    elapsed_ms: float
    authenticated: bool


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    uri: str  # the request URI, without credentials
    username: str | None
    password: str | None


def parse_reply(head: bytes) -> tuple[int, str, dict[str, list[str]]]:
    """Status line and headers of a reply head (without the blank line)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = head.decode("latin-1")
    lines = text.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("RTSP/") or not parts[1].isdigit():
        raise RtspFailure("bad_reply", f"not an RTSP reply: {lines[0][:80]!r}")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    return int(parts[1]), parts[2] if len(parts) > 2 else "", headers


def _target(url: str, username: str | None, password: str | None) -> _Target:
    parts = urlsplit(url)
    if parts.scheme.lower() != "rtsp" or not parts.hostname:
        raise RtspFailure("bad_uri", f"not an rtsp:// URL: {url[:200]!r}")
    host = parts.hostname
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    # Credentials in the URL (some cameras put them there) are used when none are configured.
    user = username if username is not None else unquote(parts.username or "") or None
    secret = password if password is not None else unquote(parts.password or "") or None
    return _Target(host, parts.port or DEFAULT_RTSP_PORT, clean, user, secret)


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.cseq = 0

    async def request(self, method: str, uri: str, headers: dict[str, str]) -> Reply:
        self.cseq += 1
        lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {self.cseq}", f"User-Agent: {USER_AGENT}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await self.writer.drain()
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError as err:
            raise RtspFailure("bad_reply", "reply headers too long") from err
        except asyncio.IncompleteReadError as err:
            raise RtspFailure("closed", f"connection closed during {method}") from err
        status, reason, found = parse_reply(head[:-4])
        length_text = (found.get("content-length") or ["0"])[0]
        if not length_text.isdigit() or int(length_text) > MAX_BODY_BYTES:
            raise RtspFailure("bad_reply", f"bad Content-Length {length_text[:20]!r}")
        try:
            body = await self.reader.readexactly(int(length_text))
        except asyncio.IncompleteReadError as err:
            raise RtspFailure("closed", f"connection closed in the {method} body") from err
        return Reply(status=status, reason=reason, headers=found, body=body)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def _connect(target: _Target) -> _Connection:
    try:
        reader, writer = await asyncio.open_connection(
            target.host, target.port, limit=MAX_HEADER_BYTES
        )
    except OSError as err:
        raise RtspFailure(
            "unreachable", f"{target.host}:{target.port}: {err.strerror or err}"
        ) from err
    return _Connection(reader, writer)


async def check_stream(
    url: str,
    *,
    username: str | None = None,
    password: str | None = None,
    deadline: float,
) -> StreamCheck:
    """OPTIONS then DESCRIBE `url` under one deadline; raises RtspFailure with a reason."""
    target = _target(url, username, password)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(deadline):
            return await _describe(target, started)
    except TimeoutError as err:
        raise RtspFailure(
            "timeout", f"no RTSP answer from {target.host}:{target.port} within {deadline:g} s"
        ) from err


async def _describe(target: _Target, started: float) -> StreamCheck:
    connection = await _connect(target)
    try:
        options = await connection.request("OPTIONS", target.uri, {})
        authorization: dict[str, str] = {}
        if options.status == 401:  # some cameras protect OPTIONS too
            authorization = _answer(options, "OPTIONS", target)
            options = await connection.request("OPTIONS", target.uri, authorization)
        _expect_ok(options, "OPTIONS")
        accept = {"Accept": "application/sdp"}
        describe = await connection.request("DESCRIBE", target.uri, accept | authorization)
        if describe.status == 401:
            authorization = _answer(describe, "DESCRIBE", target)
            if _closes(describe):  # it hung up after the challenge: ask again on a new one
                await connection.close()
                connection = await _connect(target)
            describe = await connection.request("DESCRIBE", target.uri, accept | authorization)
            if describe.status == 401:
                raise RtspFailure("auth_failed", "RTSP credentials refused (401 after answering)")
        _expect_ok(describe, "DESCRIBE")
    finally:
        await connection.close()
    try:
        track = parse_sdp(describe.body.decode("utf-8", errors="replace"))
    except SdpError as err:
        raise RtspFailure("bad_sdp", f"DESCRIBE: {err}") from err
    return StreamCheck(
        track=track,
        status=describe.status,
        elapsed_ms=(time.perf_counter() - started) * 1000.0,
        authenticated=bool(authorization),
    )


def _answer(reply: Reply, method: str, target: _Target) -> dict[str, str]:
    if target.username is None or target.password is None:
        raise RtspFailure("auth_failed", f"{method}: the stream needs credentials, none configured")
    challenges = auth.parse_challenges(reply.headers.get("www-authenticate", []))
    try:
        challenge = auth.choose(challenges)
    except auth.UnsupportedChallenge as err:
        raise RtspFailure("auth_failed", f"{method}: {err}") from err
    # The Digest uri is the request URI (RFC 2326 §D.2: as in the request line).
    value = auth.authorization(
        challenge,
        method=method,
        uri=target.uri,
        username=target.username,
        password=target.password,
        cnonce=secrets.token_hex(8),
    )
    return {"Authorization": value}


def _closes(reply: Reply) -> bool:
    return (reply.header("connection") or "").lower() == "close"


def _expect_ok(reply: Reply, method: str) -> None:
    if 200 <= reply.status < 300:
        return
    if reply.status == 401:
        raise RtspFailure("auth_failed", f"{method}: 401 {reply.reason}")
    if reply.status == 404:
        raise RtspFailure("not_found", f"{method}: 404 {reply.reason} (no such stream)")
    raise RtspFailure(f"status_{reply.status}", f"{method}: {reply.status} {reply.reason}")
