"""The fast v1/v2c path against pysnmp on real agents (net-snmp snmpd, snmpsim serving every
fixture): the same decoded answers datagram by datagram, the same readings poll by poll; and the
client's own duties (retries, deadlines, request-id demux, broken and foreign datagrams, the
fallback to pysnmp) against small UDP peers written by each test on 127.0.0.1."""

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from pyasn1.codec.ber import decoder as pyasn1_decoder
from pyasn1.codec.ber import encoder as pyasn1_encoder
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    UdpTransportTarget,
    get_cmd,
)
from pysnmp.proto.api import v1 as pysnmp_v1
from pysnmp.proto.api import v2c as pysnmp_v2c

from agent.config import DeviceConfig
from agent.probes.base import DeviceUnreachable, ProbeFailure, ProtocolError
from agent.probes.snmp import SnmpProbe, ber_tag, pysnmp_engine, raw_value
from agent.probes.snmp_ber import BerCodec, Message, Pdu, PduType, Tag, VarBind, Version
from agent.probes.snmp_fast import FastPathRefused, SnmpClient, Target, resolve
from agent.probes.snmp_profiles import PROFILE_DIR, parse_profiles
from simulate.peers.snmp import V2C_COMMUNITY, Snmpd, Snmpsim
from tests.agent.probes.test_snmp import (  # the module-scoped peers and their helpers
    FIXTURES,
    FakeClock,
    sim_communities,
    sim_device,
    snmp_device,
    snmpd,
    snmpsim,
)
from tests.agent.probes.test_snmp_ber import from_pysnmp, to_pysnmp

__all__ = ["sim_communities", "snmpd", "snmpsim"]  # fixtures used by name

# pysnmp 7.1 calls pysmi's old camelCase names when pysmi (a dev dependency of snmpsim) is there.
pytestmark = pytest.mark.filterwarnings("ignore:.* is deprecated. Please use:DeprecationWarning")

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
FIXED_NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
COMMUNITIES = sorted(path.stem for path in FIXTURES.glob("*.snmprec"))


def target(port: int, community: str = V2C_COMMUNITY, **kw: Any) -> Target:
    fields: dict[str, Any] = {
        "address": ("127.0.0.1", port),
        "version": Version.V2C,
        "community": community.encode(),
        "timeout": 1.0,
        "retries": 0,
    }
    fields.update(kw)
    return Target(**fields)


@pytest.fixture
async def client() -> AsyncIterator[SnmpClient]:
    snmp = SnmpClient()
    yield snmp
    snmp.close()


# --- the same answers as pyasn1, datagram by datagram, from real agents -------------------------


def raw_walk(port: int, community: str, *, version: Version, limit: int) -> list[bytes]:
    """Every answer datagram of a walk from 1.3.6 (GETBULK for v2c, GETNEXT for v1), as sent."""
    codec = BerCodec()
    datagrams: list[bytes] = []
    cursor, request_id, seen = "1.3.6", 1000, 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        while seen < limit:
            request_id += 1
            request = codec.request(
                version=version,
                community=community.encode(),
                pdu_type=PduType.GET_BULK if version is Version.V2C else PduType.GET_NEXT,
                request_id=request_id,
                oids=[cursor],
                max_repetitions=30,
            )
            sock.sendto(request, ("127.0.0.1", port))
            while True:
                data = sock.recv(65535)
                pdu = codec.decode(data).pdu
                if pdu.request_id == request_id:
                    break
            datagrams.append(data)
            seen += len(pdu.var_binds)
            if pdu.error_status or not pdu.var_binds:
                break
            last = pdu.var_binds[-1]
            if last.value is None:
                break
            cursor = last.oid
    return datagrams


def assert_decoded_alike(datagrams: list[bytes], version: Version) -> set[int]:
    """Ours and pyasn1 (through the probe's raw_value) agree on every datagram; the value types
    seen are returned so that the caller can check the walk covered them."""
    spec = (pysnmp_v1 if version is Version.V1 else pysnmp_v2c).Message
    codec = BerCodec()
    tags: set[int] = set()
    for data in datagrams:
        ours = codec.decode(data)
        theirs, _ = pyasn1_decoder.decode(data, asn1Spec=spec())
        assert ours == from_pysnmp(theirs, version)
        tags |= {vb.tag for vb in ours.pdu.var_binds}
    return tags


def test_snmpd_walk_decodes_alike_v2c(snmpd: Snmpd) -> None:
    datagrams = raw_walk(snmpd.port, V2C_COMMUNITY, version=Version.V2C, limit=20_000)
    tags = assert_decoded_alike(datagrams, Version.V2C)
    # net-snmp's own MIB reaches every type the probe meets, Opaque (UCD laLoadFloat) included.
    assert tags >= {
        Tag.INTEGER,
        Tag.OCTET_STRING,
        Tag.OID,
        Tag.IP_ADDRESS,
        Tag.COUNTER32,
        Tag.GAUGE32,
        Tag.TIME_TICKS,
        Tag.OPAQUE,
        Tag.COUNTER64,
        Tag.END_OF_MIB_VIEW,
    }


def test_snmpd_walk_decodes_alike_v1(snmpd: Snmpd) -> None:
    datagrams = raw_walk(snmpd.port, V2C_COMMUNITY, version=Version.V1, limit=400)
    assert len(datagrams) >= 400
    assert_decoded_alike(datagrams, Version.V1)


def test_every_fixture_walk_decodes_alike(snmpsim: Snmpsim) -> None:
    tags: set[int] = set()
    for community in COMMUNITIES:
        datagrams = raw_walk(snmpsim.port, community, version=Version.V2C, limit=5000)
        assert datagrams, community
        tags |= assert_decoded_alike(datagrams, Version.V2C)
    assert {Tag.INTEGER, Tag.OCTET_STRING, Tag.OID, Tag.TIME_TICKS, Tag.COUNTER32} <= tags


# --- the same readings either path ---------------------------------------------------------------


def all_profiles() -> Any:
    sources = {
        str(p): p.read_text()
        for p in [*PROFILE_DIR.glob("*.yaml"), *(FIXTURES / "profiles").glob("*.yaml")]
    }
    return parse_profiles(sources)


async def three_polls(fast: bool, device: DeviceConfig) -> list[Any]:
    """Three polls a minute apart on a fake clock: readings, rates, events and identity."""
    clock = FakeClock()
    probe = SnmpProbe(all_profiles(), clock=clock, now=lambda: FIXED_NOW, fast=fast)
    outcomes: list[Any] = []
    try:
        for _ in range(3):
            try:
                result = await probe.poll(device)
            except ProbeFailure as failure:
                outcomes.append((type(failure).__name__, str(failure)))
            else:
                outcomes.append((result.checks, result.events, result.identity))
            clock.now += 60
    finally:
        probe.close()
    return outcomes


@pytest.mark.parametrize("community", COMMUNITIES)
async def test_every_fixture_reads_the_same_either_path(snmpsim: Snmpsim, community: str) -> None:
    # A roomy deadline: pysnmp's first request in a process loads its MIBs (≈0.5 s).
    device = sim_device(snmpsim, community).model_copy(update={"timeout": 8})
    fast, slow = await three_polls(True, device), await three_polls(False, device)
    assert fast == slow
    assert any(isinstance(o[0], dict) for o in fast) or community == "denied"


def kinds(checks: dict[str, Any]) -> dict[str, type]:
    return {name: type(value) for name, value in checks.items()}


@pytest.mark.parametrize("version", ["1", "2c"])
async def test_snmpd_reads_the_same_checks_either_path(snmpd: Snmpd, version: str) -> None:
    """A live host: values move between polls, so names and value types are compared."""
    device = snmp_device(snmpd.port, {"version": version}, timeout=8)
    fast, slow = await three_polls(True, device), await three_polls(False, device)
    for ours, theirs in zip(fast, slow, strict=True):
        assert isinstance(ours[0], dict), ours
        assert isinstance(theirs[0], dict), theirs
        assert {k: type(v) for k, v in ours[0].items()} == {
            k: type(v) for k, v in theirs[0].items()
        }
        assert ours[2] == theirs[2]  # identity
    assert any(k.startswith("hr_storage.") for k in fast[0][0])


async def test_concurrent_requests_of_many_devices_on_one_socket_are_told_apart(
    snmpsim: Snmpsim, client: SnmpClient
) -> None:
    """Five rounds of every fixture at once through one socket: each answer is its device's
    own, as pysnmp reads it one by one."""
    oids = [SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_NAME]
    engine = pysnmp_engine()  # one for all: each engine compiles pysnmp's MIB modules anew
    try:
        expected = {c: await pysnmp_get(engine, snmpsim.port, c, oids) for c in COMMUNITIES}
    finally:
        engine.close_dispatcher()
    # 150 requests at once on one snmpsim (one Python process): generous, so a loaded machine
    # cannot turn a slow answer into a false failure; telling answers apart is what is tested.
    jobs = [(c, client.get(target(snmpsim.port, c, timeout=15), oids)) for c in COMMUNITIES * 5]
    answers = await asyncio.gather(*(job for _, job in jobs))
    for (community, _), answer in zip(jobs, answers, strict=True):
        assert (answer.error_status, answer.var_binds) == expected[community], community
    assert len({repr(v) for v in expected.values()}) > len(COMMUNITIES) // 2  # a mixup would show
    assert client.in_flight == 0


async def pysnmp_get(
    engine: Any, port: int, community: str, oids: list[str]
) -> tuple[int, list[VarBind]]:
    transport = await UdpTransportTarget.create(("127.0.0.1", port), timeout=3, retries=1)
    indication, status, _, var_binds = await get_cmd(
        engine,
        CommunityData(community),
        transport,
        ContextData(),
        *(ObjectType(ObjectIdentity(oid)) for oid in oids),
        lookupMib=False,
    )
    assert not indication, indication
    return int(status), [VarBind(str(o), ber_tag(v), raw_value(v)) for o, v in var_binds]


# --- the client's duties, against peers written here ---------------------------------------------

Reply = Callable[[bytes], list[tuple[float, bytes]]]  # request → (delay s, datagram) to send


class Peer(asyncio.DatagramProtocol):
    """A UDP peer on 127.0.0.1 that answers as the test says and records what it got."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.received: list[bytes] = []
        self.senders: list[Any] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Python 3.11's selector transport is not a DatagramTransport subclass.
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.append(data)
        self.senders.append(addr)
        loop = asyncio.get_running_loop()
        for delay, answer in self.reply(data):
            assert self.transport is not None
            loop.call_later(delay, self.transport.sendto, answer, addr)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])


@asynccontextmanager
async def peer(reply: Reply) -> AsyncIterator[Peer]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: Peer(reply), local_addr=("127.0.0.1", 0)
    )
    try:
        yield protocol
    finally:
        transport.close()


def answer_to(request: bytes, *var_binds: VarBind, request_id: int | None = None) -> bytes:
    codec = BerCodec()
    asked = codec.decode(request)
    pdu = Pdu(
        type=PduType.RESPONSE,
        request_id=asked.pdu.request_id if request_id is None else request_id,
        error_status=0,
        error_index=0,
        var_binds=list(var_binds),
    )
    return codec.encode(Message(version=asked.version, community=asked.community, pdu=pdu))


UPTIME = VarBind(SYS_UPTIME, Tag.TIME_TICKS, 123)


async def test_answer_is_returned_as_plain_values(client: SnmpClient) -> None:
    async with peer(lambda req: [(0, answer_to(req, UPTIME))]) as agent:
        answer = await client.get(target(agent.port), [SYS_UPTIME])
    assert answer.var_binds == [UPTIME]
    assert client.in_flight == 0


async def test_silence_is_unreachable_after_every_retry_with_one_request_id(
    client: SnmpClient,
) -> None:
    """A wrong community looks like this: v1/v2c agents drop it without a word."""
    async with peer(lambda req: []) as agent:
        with pytest.raises(DeviceUnreachable, match="after 3 tries"):
            await client.get(target(agent.port, timeout=0.1, retries=2), [SYS_UPTIME])
    assert len(agent.received) == 3
    assert len({BerCodec().decode(d).pdu.request_id for d in agent.received}) == 1
    assert client.in_flight == 0


async def test_wrong_community_on_snmpd_is_unreachable(snmpd: Snmpd, client: SnmpClient) -> None:
    with pytest.raises(DeviceUnreachable):
        await client.get(target(snmpd.port, "not-public", timeout=0.3, retries=1), [SYS_UPTIME])


async def test_late_answer_to_the_first_try_is_taken(client: SnmpClient) -> None:
    """Retries reuse the request-id, so a slow device's first answer still counts."""
    first = True

    def slow(request: bytes) -> list[tuple[float, bytes]]:
        nonlocal first
        if not first:
            return []
        first = False
        return [(0.3, answer_to(request, UPTIME))]

    async with peer(slow) as agent:
        answer = await client.get(target(agent.port, timeout=0.2, retries=2), [SYS_UPTIME])
    assert answer.var_binds == [UPTIME]
    assert len(agent.received) == 2


async def test_answers_for_other_requests_are_ignored(client: SnmpClient) -> None:
    def confusing(request: bytes) -> list[tuple[float, bytes]]:
        request_id = BerCodec().decode(request).pdu.request_id
        wrong_id = answer_to(
            request, VarBind(SYS_UPTIME, Tag.TIME_TICKS, 1), request_id=~request_id
        )
        return [(0, wrong_id), (0.05, answer_to(request, UPTIME))]

    async with peer(confusing) as agent:
        answer = await client.get(target(agent.port), [SYS_UPTIME])
    assert answer.var_binds == [UPTIME]
    assert client.strays == 1


async def test_answer_from_another_port_or_community_is_not_taken(client: SnmpClient) -> None:
    """A response must come from the polled address and port, in the request's community."""
    polled: list[Peer] = []

    def wrong_community(request: bytes) -> list[tuple[float, bytes]]:
        asked = BerCodec().decode(request)
        foreign = Message(
            version=asked.version,
            community=b"other",
            pdu=Pdu(PduType.RESPONSE, asked.pdu.request_id, 0, 0, [UPTIME]),
        )
        # ...and the right answer, but sent from another port of the same host
        assert spoofer.transport is not None
        spoofer.transport.sendto(answer_to(request, UPTIME), polled[0].senders[-1])
        return [(0, BerCodec().encode(foreign))]

    async with peer(lambda req: []) as spoofer, peer(wrong_community) as agent:
        polled.append(agent)
        with pytest.raises(DeviceUnreachable):
            await client.get(target(agent.port, timeout=0.3), [SYS_UPTIME])
    assert client.strays == 2


async def test_garbage_is_a_protocol_error_not_a_timeout(client: SnmpClient) -> None:
    """A UDP service that is not SNMP (a camera's discovery port) answers junk."""
    async with peer(lambda req: [(0, b"\x30\x03\x02\x01\xff garbage")]) as agent:
        with pytest.raises(ProtocolError, match="undecodable"):
            await client.get(target(agent.port, timeout=0.2, retries=1), [SYS_UPTIME])


async def test_broken_varbinds_fail_their_request_at_once(client: SnmpClient) -> None:
    def broken(request: bytes) -> list[tuple[float, bytes]]:
        good = answer_to(request, VarBind(SYS_UPTIME, Tag.OCTET_STRING, b"abcd"))
        assert good.endswith(b"\x04\x04abcd")
        return [(0, good[:-6] + b"\x04\x09abcd")]  # the string runs past its varbind

    async with peer(broken) as agent:
        with pytest.raises(ProtocolError, match="malformed answer"):
            await client.get(target(agent.port, timeout=30), [SYS_UPTIME])


async def test_outer_deadline_leaves_no_request_behind(client: SnmpClient) -> None:
    async with peer(lambda req: []) as agent:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.1):
                await client.get(target(agent.port, timeout=5, retries=3), [SYS_UPTIME])
        assert client.in_flight == 0


async def test_close_fails_waiting_requests(client: SnmpClient) -> None:
    async with peer(lambda req: []) as agent:
        waiting = asyncio.create_task(
            client.get(target(agent.port, timeout=5), [SYS_UPTIME]), name="test-get"
        )
        await asyncio.sleep(0.05)
        client.close()
        with pytest.raises(DeviceUnreachable, match="closed"):
            await waiting


async def test_getbulk_is_refused_for_v1(client: SnmpClient) -> None:
    with pytest.raises(ValueError, match="GETBULK"):
        await client.get_bulk(target(1, version=Version.V1), [SYS_UPTIME], max_repetitions=5)


async def test_ip_literals_resolve_without_a_lookup() -> None:
    assert await resolve("127.0.0.1", 161) == ("127.0.0.1", 161)
    assert await resolve("::1", 1161) == ("::1", 1161)


# --- fallback to pysnmp -------------------------------------------------------------------------

MINI_MIB = {
    SYS_DESCR: VarBind(SYS_DESCR, Tag.OCTET_STRING, b"Linux nvr-mini 5.10 armv7l"),
    SYS_OBJECT_ID: VarBind(SYS_OBJECT_ID, Tag.OID, "1.3.6.1.4.1.8072.3.2.10"),
    SYS_UPTIME: VarBind(SYS_UPTIME, Tag.TIME_TICKS, 4200),
    SYS_NAME: VarBind(SYS_NAME, Tag.OCTET_STRING, b"nvr-mini"),
    "1.3.6.1.2.1.2.2.1.2.1": VarBind("1.3.6.1.2.1.2.2.1.2.1", Tag.OCTET_STRING, b"eth0"),
    "1.3.6.1.2.1.2.2.1.3.1": VarBind("1.3.6.1.2.1.2.2.1.3.1", Tag.INTEGER, 6),  # ethernet
    "1.3.6.1.2.1.2.2.1.8.1": VarBind("1.3.6.1.2.1.2.2.1.8.1", Tag.INTEGER, 1),  # up
}


def _key(oid: str) -> tuple[int, ...]:
    return tuple(int(arc) for arc in oid.split("."))


class MiniAgent:
    """A v2c agent over a dict MIB, answering GET, GETNEXT and GETBULK; `indefinite` writes
    BER with indefinite lengths (legal; pyasn1 reads it, our codec leaves it to pysnmp)."""

    def __init__(self, mib: dict[str, VarBind], *, indefinite: bool = False) -> None:
        self.mib = dict(mib)
        self.indefinite = indefinite
        self.bulk_repetitions: list[int] = []

    def _next(self, oid: str) -> VarBind:
        later = sorted((k for k in self.mib if _key(k) > _key(oid)), key=_key)
        return self.mib[later[0]] if later else VarBind(oid, Tag.END_OF_MIB_VIEW, None)

    def __call__(self, request: bytes) -> list[tuple[float, bytes]]:
        asked = BerCodec().decode(request)
        pdu = asked.pdu
        binds: list[VarBind] = []
        if pdu.type is PduType.GET:
            missing = Tag.NO_SUCH_OBJECT
            binds = [self.mib.get(vb.oid, VarBind(vb.oid, missing, None)) for vb in pdu.var_binds]
        elif pdu.type is PduType.GET_NEXT:
            binds = [self._next(vb.oid) for vb in pdu.var_binds]
        elif pdu.type is PduType.GET_BULK:
            self.bulk_repetitions.append(pdu.error_index)
            cursors = [vb.oid for vb in pdu.var_binds]
            for _ in range(pdu.error_index):
                row = [self._next(c) for c in cursors]
                binds += row
                cursors = [vb.oid for vb in row]
        answer = Message(
            version=asked.version,
            community=asked.community,
            pdu=Pdu(PduType.RESPONSE, pdu.request_id, 0, 0, binds),
        )
        if self.indefinite:
            return [(0, pyasn1_encoder.encode(to_pysnmp(answer), defMode=False))]
        return [(0, BerCodec().encode(answer))]


def interface(index: int, up: bool) -> dict[str, VarBind]:
    rows = {
        2: VarBind(f"1.3.6.1.2.1.2.2.1.2.{index}", Tag.OCTET_STRING, f"eth{index}".encode()),
        3: VarBind(f"1.3.6.1.2.1.2.2.1.3.{index}", Tag.INTEGER, 6),  # ethernet
        8: VarBind(f"1.3.6.1.2.1.2.2.1.8.{index}", Tag.INTEGER, 1 if up else 2),
    }
    return {vb.oid: vb for vb in rows.values()}


async def test_later_polls_ask_for_the_rows_of_the_last_poll_and_see_a_grown_table() -> None:
    agent_mib = {k: v for k, v in MINI_MIB.items() if not k.startswith("1.3.6.1.2.1.2.2")}
    mini = MiniAgent({**agent_mib, **interface(1, True), **interface(2, False)})
    probe = SnmpProbe(fast=True)
    try:
        async with peer(mini) as agent:
            device = snmp_device(agent.port, timeout=8, interval=30)  # roomy: pysnmp loads MIBs
            first = await probe.poll(device)
            asked_first = list(mini.bulk_repetitions)
            mini.bulk_repetitions.clear()
            second = await probe.poll(device)
            asked_second = list(mini.bulk_repetitions)
            mini.mib.update(interface(3, True))  # a port is added between polls
            mini.bulk_repetitions.clear()
            third = await probe.poll(device)
    finally:
        probe.close()
    up = {k: v for k, v in first.checks.items() if k.endswith(".oper_up")}
    assert up == {"if.eth1.oper_up": True, "if.eth2.oper_up": False}
    assert second.checks == first.checks
    assert max(asked_second) < max(asked_first)
    assert 3 in asked_second  # the interface table: its 2 rows and one to see its end
    assert third.checks["if.eth3.oper_up"] is True
    assert {k: v for k, v in third.checks.items() if k in up} == up


async def test_client_refuses_an_agent_writing_indefinite_lengths(client: SnmpClient) -> None:
    async with peer(MiniAgent(MINI_MIB, indefinite=True)) as agent:
        with pytest.raises(FastPathRefused, match="indefinite"):
            await client.get(target(agent.port), [SYS_UPTIME])


async def test_probe_reads_such_an_agent_with_pysnmp_from_then_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    probe = SnmpProbe(fast=True)
    try:
        async with peer(MiniAgent(MINI_MIB, indefinite=True)) as agent:
            device = snmp_device(agent.port, timeout=8, interval=30)  # roomy: pysnmp loads MIBs
            with caplog.at_level(logging.INFO, logger="agent.probes.snmp"):
                first = await probe.poll(device)
                received = len(agent.received)
                second = await probe.poll(device)
    finally:
        probe.close()
    assert first.checks["system.uptime_s"] == 42
    assert [v for k, v in first.checks.items() if k.endswith(".oper_up")] == [True], first.checks
    assert second.checks == first.checks
    refusals = [r for r in caplog.records if "pysnmp from now on" in r.getMessage()]
    assert len(refusals) == 1  # the second poll went to pysnmp straight away
    assert len(agent.received) > received
