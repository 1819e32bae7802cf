"""WS-Discovery messages for finding ONVIF devices: the Probe we send and the ProbeMatches we
read back. Pure; `discovery.py` does the sockets.

Reading is tolerant on purpose: some firmware sends a bare `ProbeMatch` without namespaces
(ipycam 1.3 does; so do several low-cost cameras), elements in another order, no `Types`, or
scopes separated by runs of blanks. Elements are matched by local name wherever they are.
"""

import uuid
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from lxml import etree

WSD_GROUP = "239.255.255.250"
WSD_PORT = 3702
NVT_TYPE = "dn:NetworkVideoTransmitter"
DEVICE_TYPE = "tds:Device"
ONVIF_SCOPE = "onvif://www.onvif.org/"
MAX_MESSAGE_BYTES = 65_535

# No entities, no network, no huge trees: these bytes come from anyone on the segment.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, recover=True)


def probe_message(types: str = NVT_TYPE, message_id: str | None = None) -> tuple[str, bytes]:
    """(MessageID, the Probe datagram) asking devices of `types` to answer."""
    message_id = message_id or f"urn:uuid:{uuid.uuid4()}"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl" '
        'xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><s:Header>'
        '<a:Action s:mustUnderstand="1">'
        "http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>"
        f"<a:MessageID>{message_id}</a:MessageID>"
        "<a:ReplyTo><a:Address>"
        "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
        "</a:Address></a:ReplyTo>"
        '<a:To s:mustUnderstand="1">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>'
        f"</s:Header><s:Body><d:Probe><d:Types>{types}</d:Types></d:Probe></s:Body>"
        "</s:Envelope>"
    )
    return message_id, body.encode()


@dataclass(frozen=True)
class ProbeMatch:
    """One device's answer."""

    endpoint: str  # its stable id (urn:uuid:...), or the first XAddr when it sent none
    xaddrs: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    sender: str = ""  # the IP the datagram came from

    @property
    def scope_values(self) -> dict[str, list[str]]:
        """onvif:// scopes by key: `name`, `hardware`, `location`, `type`, `Profile`, ..."""
        out: dict[str, list[str]] = {}
        for scope in self.scopes:
            if not scope.lower().startswith(ONVIF_SCOPE):
                continue
            key, _, value = scope[len(ONVIF_SCOPE) :].partition("/")
            if key and value:
                out.setdefault(key.lower(), []).append(unquote(value))
        return out

    def scope(self, key: str) -> str | None:
        values = self.scope_values.get(key.lower())
        return values[0] if values else None

    @property
    def name(self) -> str | None:
        return self.scope("name")

    @property
    def model(self) -> str | None:
        return self.scope("hardware")

    @property
    def location(self) -> str | None:
        values = self.scope_values.get("location")
        return "/".join(values) if values else None

    @property
    def host(self) -> str:
        """The address to configure: from the first http(s) XAddr, else the sender."""
        for xaddr in self.xaddrs:
            parts = urlsplit(xaddr)
            if parts.scheme in ("http", "https") and parts.hostname:
                return parts.hostname
        return self.sender

    @property
    def port(self) -> int | None:
        for xaddr in self.xaddrs:
            parts = urlsplit(xaddr)
            if parts.scheme in ("http", "https") and parts.hostname:
                try:
                    return parts.port or (443 if parts.scheme == "https" else 80)
                except ValueError:  # a port that is not a number
                    continue
        return None


@dataclass
class _Fields:
    endpoint: str = ""
    xaddrs: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)


def _local(el: etree._Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2].rpartition(":")[2]


def parse_matches(datagram: bytes, *, sender: str = "") -> list[ProbeMatch]:
    """Every ProbeMatch in a datagram (a ProbeMatches list, or bare ones); [] for anything else."""
    if not datagram or len(datagram) > MAX_MESSAGE_BYTES:
        return []
    try:
        root = etree.fromstring(datagram, _PARSER)
    except etree.XMLSyntaxError:
        return []
    if root is None:
        return []
    found = []
    for match in root.iter(etree.Element):
        if _local(match) != "ProbeMatch":
            continue
        fields = _Fields()
        for el in match.iter(etree.Element):
            name, text = _local(el), (el.text or "").strip()
            if name == "Address" and text and not fields.endpoint:
                fields.endpoint = text
            elif name == "XAddrs":
                fields.xaddrs += text.split()
            elif name == "Scopes":
                fields.scopes += text.split()
            elif name == "Types":
                fields.types += text.split()
        if not fields.endpoint and not fields.xaddrs:
            continue  # nothing to find it by
        found.append(
            ProbeMatch(
                endpoint=fields.endpoint or fields.xaddrs[0],
                xaddrs=tuple(fields.xaddrs),
                scopes=tuple(fields.scopes),
                types=tuple(fields.types),
                sender=sender,
            )
        )
    return found
