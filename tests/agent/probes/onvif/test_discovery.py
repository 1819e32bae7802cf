"""WS-Discovery: reading ProbeMatches (conforming or not), the table and the config snippet."""

from datetime import UTC, datetime

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from agent.config import DeviceConfig
from agent.probes.onvif.discovery import (
    DiscoveryError,
    config_snippet,
    interface_address,
    table,
)
from agent.probes.onvif.wsd import NVT_TYPE, ProbeMatch, parse_matches, probe_message
from tests.peers.onvif_fake import probe_match

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_probe_is_a_soap_probe_for_video_transmitters() -> None:
    message_id, datagram = probe_message(NVT_TYPE, "urn:uuid:1")
    root = etree.fromstring(datagram)
    ns = {"d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
          "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing"}  # fmt: skip
    assert root.findtext(".//d:Probe/d:Types", namespaces=ns) == "dn:NetworkVideoTransmitter"
    assert root.findtext(".//a:MessageID", namespaces=ns) == message_id == "urn:uuid:1"
    # The dn: prefix in Types must be declared, or strict devices ignore the probe.
    assert root.nsmap["dn"] == "http://www.onvif.org/ver10/network/wsdl"


@pytest.mark.parametrize("variant", ["conforming", "bare", "reordered"])
def test_every_shape_of_probe_match_is_read(variant: str) -> None:
    datagram = probe_match(variant, index=2, address="192.0.2.1", relates_to="urn:uuid:x")
    [match] = parse_matches(datagram, sender="192.0.2.1")
    assert match.endpoint == "urn:uuid:00000000-0000-0000-0000-000000000003"
    assert match.xaddrs == ("http://192.0.2.1:8002/onvif/device_service",)
    assert (match.host, match.port) == ("192.0.2.1", 8002)
    assert match.name == "Fake Cam 2"  # percent-decoded
    assert match.model == "FK-102"
    assert match.location == "country/test"
    assert (
        match.types
        == {
            "conforming": ("dn:NetworkVideoTransmitter",),
            "bare": ("NetworkVideoTransmitter",),
            "reordered": (),
        }[variant]
    )


def test_several_matches_in_one_message_are_all_read() -> None:
    one = probe_match("conforming", index=0, address="192.0.2.1", relates_to="")
    root = etree.fromstring(one)
    body = root.find(".//{http://schemas.xmlsoap.org/ws/2005/04/discovery}ProbeMatches")
    body.append(etree.fromstring(etree.tostring(body[0]).replace(b"8000", b"8001")
                                 .replace(b"0001</", b"0009</")))  # fmt: skip
    assert len(parse_matches(etree.tostring(root))) == 2


def test_match_without_xaddrs_uses_the_sender() -> None:
    datagram = b"<Envelope><Body><ProbeMatch><EndpointReference><Address>urn:uuid:7</Address>"
    datagram += b"</EndpointReference></ProbeMatch></Body></Envelope>"
    [match] = parse_matches(datagram, sender="192.0.2.44")
    assert (match.host, match.port) == ("192.0.2.44", None)


@pytest.mark.parametrize(
    "datagram",
    [
        b"",
        b"\x00\x01 not a SOAP message <<<",
        b"<Envelope><Body><Hello/></Body></Envelope>",  # an announcement, not an answer
        b"<ProbeMatch></ProbeMatch>",  # nothing to find the device by
        b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><ProbeMatch><XAddrs>&e;</XAddrs>'
        b"</ProbeMatch>",
    ],
)
def test_what_is_not_a_usable_answer_is_skipped(datagram: bytes) -> None:
    assert parse_matches(datagram) == []


@given(st.binary(max_size=2000))
def test_no_datagram_makes_the_parser_raise(datagram: bytes) -> None:
    parse_matches(datagram)


def test_port_that_is_not_a_number_falls_back() -> None:
    match = ProbeMatch(endpoint="e", xaddrs=("http://192.0.2.1:abc/x",), sender="192.0.2.1")
    assert (match.host, match.port) == ("192.0.2.1", None)


def test_table_lists_one_line_per_device() -> None:
    matches = [
        parse_matches(probe_match(v, index=i, address="192.0.2.1", relates_to=""))[0]
        for i, v in enumerate(["conforming", "bare"])
    ]
    lines = table(matches).splitlines()
    assert lines[0].split() == ["ADDRESS", "PORT", "NAME", "MODEL", "LOCATION", "ENDPOINT"]
    assert lines[1].split()[:6] == ["192.0.2.1", "8000", "Fake", "Cam", "0", "FK-100"]
    assert len(lines) == 3


def test_config_snippet_is_a_valid_device_list() -> None:
    matches = [
        parse_matches(probe_match("conforming", index=0, address="192.0.2.1", relates_to=""))[0],
        ProbeMatch(
            endpoint="urn:uuid:9",
            scopes=("onvif://www.onvif.org/name/Fake%20Cam%200",),
            xaddrs=("http://192.0.2.7/onvif/device_service",),
        ),  # the same name as the first
        ProbeMatch(endpoint="urn:uuid:8", sender="192.0.2.8"),  # no name, no xaddrs
    ]
    text = config_snippet(matches, interface="vcli", now=NOW)
    assert text.startswith("# Found by `secmon agent discover` on vcli at 2026-11-23 12:00 UTC.")
    devices = yaml.safe_load(text)["devices"]
    assert [d["id"] for d in devices] == ["cam-fake-cam-0", "cam-fake-cam-0-2", "cam-192-0-2-8"]
    assert [d.get("port") for d in devices] == [8000, 80, None]
    for device in devices:
        DeviceConfig.model_validate(device)  # pastes into a config as it is


def test_interface_address_accepts_an_address_and_names_a_bad_interface() -> None:
    assert interface_address("192.0.2.5") == "192.0.2.5"
    assert interface_address("lo") == "127.0.0.1"
    with pytest.raises(DiscoveryError, match="no-such-if0"):
        interface_address("no-such-if0")
