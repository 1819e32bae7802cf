"""Basic and Digest answers to RTSP/HTTP challenges, checked against the RFCs' own examples."""

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.probes.onvif.auth import (
    Challenge,
    UnsupportedChallenge,
    authorization,
    choose,
    parse_challenges,
)

RFC7616_HEADERS = [
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
]
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


def _response(header: str) -> str:
    return header.split('response="')[1].split('"')[0]


def test_parses_every_challenge_of_every_line() -> None:
    found = parse_challenges(
        ['Basic realm="cam", Digest realm="cam", nonce="abc, def", stale=FALSE', "Negotiate"]
    )
    assert [c.scheme for c in found] == ["basic", "digest", "negotiate"]
    assert found[1].params == {"realm": "cam", "nonce": "abc, def", "stale": "FALSE"}


def test_digest_sha256_matches_rfc7616_example() -> None:
    challenge = choose(parse_challenges(RFC7616_HEADERS))
    assert challenge.params["algorithm"] == "SHA-256"
    header = authorization(
        challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle of Life",
        cnonce=RFC7616_CNONCE,
    )
    assert _response(header) == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    assert 'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"' in header
    assert "qop=auth, nc=00000001" in header


def test_digest_md5_matches_rfc7616_example() -> None:
    challenge = parse_challenges(RFC7616_HEADERS[1:])[0]
    header = authorization(
        challenge,
        method="GET",
        uri="/dir/index.html",
        username="Mufasa",
        password="Circle of Life",
        cnonce=RFC7616_CNONCE,
    )
    assert _response(header) == "8ca523f5e9506fed4657c9700eebdbec"


def test_digest_without_qop_uses_the_rfc2069_form() -> None:
    challenge = Challenge("digest", {"realm": "GStreamer RTSP Server", "nonce": "n1"})
    header = authorization(
        challenge, method="DESCRIBE", uri="rtsp://h/cam1", username="u", password="p", cnonce="c"
    )
    assert "qop" not in header
    assert "cnonce" not in header
    assert header.startswith('Digest username="u", realm="GStreamer RTSP Server"')


def test_basic_is_user_colon_password() -> None:
    header = authorization(
        Challenge("basic", {"realm": "x"}),
        method="GET",
        uri="/",
        username="admin",
        password="pa:ss",
        cnonce="",
    )
    assert base64.b64decode(header.removeprefix("Basic ")) == b"admin:pa:ss"


def test_digest_is_preferred_over_basic() -> None:
    chosen = choose(parse_challenges(['Basic realm="a"', 'Digest realm="a", nonce="n"']))
    assert chosen.scheme == "digest"


def test_nothing_answerable_is_a_clear_error() -> None:
    with pytest.raises(UnsupportedChallenge, match="negotiate"):
        choose(parse_challenges(["Negotiate", 'Digest realm="a", algorithm=SHA-512-256, nonce=n']))
    with pytest.raises(UnsupportedChallenge, match="none"):
        choose([])


@given(st.lists(st.text(max_size=80), max_size=3))
def test_parsing_any_header_text_never_raises(values: list[str]) -> None:
    for challenge in parse_challenges(values):
        assert challenge.scheme == challenge.scheme.lower()
