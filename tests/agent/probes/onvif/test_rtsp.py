"""The RTSP stream check against Debian's gst-rtsp-server (Basic, Digest, no auth) and against
simple misbehaving servers on 127.0.0.1."""

import asyncio
from collections.abc import Awaitable, Callable, Iterator

import pytest

from agent.probes.onvif.rtsp import RtspFailure, check_stream, parse_reply
from tests.agent.factories import closed_port
from tests.peers.rtsp import HEIGHT, PASSWORD, USERNAME, WIDTH, GstRtspServer, missing_gstreamer


@pytest.fixture(scope="module", params=["digest", "basic", "none"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GstRtspServer]:
    reason = missing_gstreamer()
    if reason is not None:
        pytest.skip(reason)
    with GstRtspServer(tmp_path_factory.mktemp("gst"), auth=request.param) as running:
        yield running


@pytest.mark.gstreamer
async def test_describe_gives_codec_and_resolution(server: GstRtspServer) -> None:
    check = await check_stream(server.url(), username=USERNAME, password=PASSWORD, deadline=10)
    assert (check.track.codec, check.track.width, check.track.height) == ("h264", WIDTH, HEIGHT)
    assert check.status == 200
    assert check.authenticated is (server.auth != "none")


@pytest.mark.gstreamer
async def test_credentials_in_the_url_are_used_when_none_configured(server: GstRtspServer) -> None:
    check = await check_stream(server.url(credentials=True), deadline=10)
    assert check.track.codec == "h264"


@pytest.mark.gstreamer
async def test_wrong_or_missing_password_is_auth_failed(server: GstRtspServer) -> None:
    if server.auth == "none":
        pytest.skip("this server asks for no credentials")
    with pytest.raises(RtspFailure) as wrong:
        await check_stream(server.url(), username=USERNAME, password="nope", deadline=10)
    assert wrong.value.reason == "auth_failed"
    with pytest.raises(RtspFailure) as missing:
        await check_stream(server.url(), deadline=10)
    assert missing.value.reason == "auth_failed"


@pytest.mark.gstreamer
async def test_unknown_path_is_not_found(server: GstRtspServer) -> None:
    with pytest.raises(RtspFailure) as info:
        await check_stream(server.url("/nope"), username=USERNAME, password=PASSWORD, deadline=10)
    assert info.value.reason in ("not_found", "auth_failed")  # gst checks auth first
    if server.auth == "none":
        assert info.value.reason == "not_found"


async def test_closed_port_is_unreachable() -> None:
    with pytest.raises(RtspFailure) as info:
        await check_stream(f"rtsp://127.0.0.1:{closed_port()}/x", deadline=5)
    assert info.value.reason == "unreachable"


async def _serve(
    handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_silent_server_times_out() -> None:
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server, port = await _serve(silent)
    try:
        with pytest.raises(RtspFailure) as info:
            await check_stream(f"rtsp://127.0.0.1:{port}/x", deadline=0.3)
    finally:
        server.close()
        for writer in held:
            writer.close()
    assert info.value.reason == "timeout"


async def test_http_server_is_a_bad_reply() -> None:
    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server, port = await _serve(http)
    try:
        with pytest.raises(RtspFailure) as info:
            await check_stream(f"rtsp://127.0.0.1:{port}/x", deadline=5)
    finally:
        server.close()
    assert info.value.reason == "bad_reply"


async def test_non_sdp_describe_is_bad_sdp_and_503_is_named() -> None:
    replies = iter(
        [
            b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nPublic: OPTIONS, DESCRIBE\r\n\r\n",
            b"RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Length: 5\r\n\r\nhello",
            b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n",
            b"RTSP/1.0 503 Service Unavailable\r\nCSeq: 2\r\n\r\n",
        ]
    )

    async def scripted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(2):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(next(replies))
            await writer.drain()
        writer.close()

    server, port = await _serve(scripted)
    try:
        with pytest.raises(RtspFailure) as sdp:
            await check_stream(f"rtsp://127.0.0.1:{port}/x", deadline=5)
        with pytest.raises(RtspFailure) as busy:
            await check_stream(f"rtsp://127.0.0.1:{port}/x", deadline=5)
    finally:
        server.close()
    assert sdp.value.reason == "bad_sdp"
    assert busy.value.reason == "status_503"


def test_reply_headers_keep_repeats() -> None:
    status, reason, headers = parse_reply(
        b"RTSP/1.0 401 Unauthorized\r\nCSeq: 3\r\nWWW-Authenticate: Digest realm=a, nonce=b\r\n"
        b"www-authenticate: Basic realm=a"
    )
    assert (status, reason) == (401, "Unauthorized")
    assert headers["www-authenticate"] == ["Digest realm=a, nonce=b", "Basic realm=a"]


def test_not_rtsp_url_is_refused() -> None:
    with pytest.raises(RtspFailure) as info:
        asyncio.run(check_stream("http://127.0.0.1/x", deadline=1))
    assert info.value.reason == "bad_uri"
