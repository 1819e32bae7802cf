"""SNMP probe: one pysnmp engine per process, one poll per device (a GET of the scalars, one
GETBULK walk per table column, all under the poll's one deadline), answers handed to the pure
profile reader. pysnmp's results are translated here into the probe's few failures.

Wrong community: v1/v2c agents drop such requests without a word (net-snmp, snmpsim, and every
camera seen so far), so a wrong community cannot be told from a dead device: `device.unreachable`.
SNMPv3 agents answer with a report (unknown user, wrong digest), which is `device.auth_failed`;
a wrong privacy key alone is dropped silently by net-snmp and so is unreachable too.

Engines: v1/v2c devices are read by the lean client of `snmp_fast` (own BER codec, one socket for
all devices: pysnmp's objects cost ~7x the CPU of snmp_exporter); SNMPv3, devices whose answers
that client refuses, and every device when SECMON_SNMP_ENGINE=pysnmp, by pysnmp. Both give the
walks below the same `Pdu` of plain values.
"""

import asyncio
import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, Protocol

from pyasn1.type import univ
from pysnmp.error import PySnmpError
from pysnmp.hlapi.v3arch.asyncio import (
    USM_AUTH_HMAC96_MD5,
    USM_AUTH_HMAC96_SHA,
    USM_AUTH_HMAC128_SHA224,
    USM_AUTH_HMAC192_SHA256,
    USM_AUTH_HMAC256_SHA384,
    USM_AUTH_HMAC384_SHA512,
    USM_PRIV_CBC56_DES,
    USM_PRIV_CFB128_AES,
    USM_PRIV_CFB192_AES_BLUMENTHAL,
    USM_PRIV_CFB256_AES_BLUMENTHAL,
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
    next_cmd,
)
from pysnmp.proto import errind
from pysnmp.smi.builder import MibBuilder
from pysnmp.smi.view import MibViewController

from agent.config import DeviceConfig
from agent.probes.base import (
    AuthFailed,
    DeviceUnreachable,
    ProbeFailure,
    ProbeResult,
    ProtocolError,
)
from agent.probes.snmp_ber import Pdu, PduType, VarBind, Version, error_status_name
from agent.probes.snmp_coverage import unmonitored_reason
from agent.probes.snmp_detect import Detection, detect
from agent.probes.snmp_fast import FastPathRefused, SnmpClient, Target, resolve
from agent.probes.snmp_options import (
    DEFAULT_PORT,
    AuthProtocol,
    PrivProtocol,
    SnmpOptions,
    SnmpVersion,
)
from agent.probes.snmp_profiles import Profile, ProfileBook, builtin_profiles
from agent.probes.snmp_readings import (
    SYS_DESCR,
    SYS_OBJECT_ID,
    SYSTEM_OIDS,
    Column,
    DeviceMemory,
    Reading,
    read,
)
from agent.probes.snmp_values import RawValue, text
from wire.schema import DeviceIdentity

log = logging.getLogger(__name__)

MAX_BULK_VARBINDS = 100  # per GETBULK answer, over all columns of a table
MAX_BULK_ROUNDS = 64  # a table walk gives up after this many requests (≈ thousands of rows)
GET_CHUNK = 20  # varbinds per GET: small enough for every agent's PDU size seen
DEFAULT_COMMUNITY = "public"  # v1/v2c with no community configured: the factory default
ENGINE_ENV = "SECMON_SNMP_ENGINE"  # "pysnmp": read v1/v2c devices with pysnmp too
MAX_WALK_ROWS = MAX_BULK_ROUNDS * MAX_BULK_VARBINDS  # a GETNEXT walk gives up after this many

AUTH_PROTOCOLS = {
    AuthProtocol.MD5: USM_AUTH_HMAC96_MD5,
    AuthProtocol.SHA: USM_AUTH_HMAC96_SHA,
    AuthProtocol.SHA224: USM_AUTH_HMAC128_SHA224,
    AuthProtocol.SHA256: USM_AUTH_HMAC192_SHA256,
    AuthProtocol.SHA384: USM_AUTH_HMAC256_SHA384,
    AuthProtocol.SHA512: USM_AUTH_HMAC384_SHA512,
}
# AES-192/256 with Blumenthal key extension, as net-snmp implements them.
PRIV_PROTOCOLS = {
    PrivProtocol.DES: USM_PRIV_CBC56_DES,
    PrivProtocol.AES: USM_PRIV_CFB128_AES,
    PrivProtocol.AES192: USM_PRIV_CFB192_AES_BLUMENTHAL,
    PrivProtocol.AES256: USM_PRIV_CFB256_AES_BLUMENTHAL,
}
# Reports and errors that mean "the device answered and refused our credentials".
_AUTH_ERRORS = (
    errind.UnknownUserName,
    errind.WrongDigest,
    errind.UnknownSecurityName,
    errind.UnsupportedSecurityLevel,
    errind.AuthenticationError,
    errind.AuthenticationFailure,
    errind.DecryptionError,
    errind.UnknownCommunityName,
)
_NO_SUCH_NAME = 2
_TOO_BIG = 1
_GEN_ERR = 5
_NO_ACCESS = 6
_AUTHORIZATION_ERROR = 16


@dataclass
class _DeviceState:
    detection: Detection | None = None
    profile: Profile | None = None  # the detection's stack as one profile
    sys_object_id: str | None = None
    sys_descr: str | None = None
    memory: DeviceMemory = field(default_factory=DeviceMemory)
    rows: dict[str, int] = field(default_factory=dict)  # per table: rows seen at the last poll
    pysnmp: bool = False  # the fast client refused this device's answers once: pysnmp reads it


class _Exchange(Protocol):
    """One request, one answer, for one device; failures are domain errors."""

    async def get(self, oids: list[str]) -> Pdu: ...

    async def get_next(self, oids: list[str]) -> Pdu: ...

    async def get_bulk(self, oids: list[str], max_repetitions: int) -> Pdu: ...


@dataclass(frozen=True)
class _FastExchange:
    client: SnmpClient
    target: Target

    async def get(self, oids: list[str]) -> Pdu:
        return await self.client.get(self.target, oids)

    async def get_next(self, oids: list[str]) -> Pdu:
        return await self.client.get_next(self.target, oids)

    async def get_bulk(self, oids: list[str], max_repetitions: int) -> Pdu:
        return await self.client.get_bulk(self.target, oids, max_repetitions=max_repetitions)


@dataclass(frozen=True)
class _PysnmpExchange:
    engine: Any
    auth: Any
    target: Any
    context: Any

    async def get(self, oids: list[str]) -> Pdu:
        return _pdu(await get_cmd(*self._head(), *_object_types(oids), lookupMib=False))

    async def get_next(self, oids: list[str]) -> Pdu:
        return _pdu(await next_cmd(*self._head(), *_object_types(oids), lookupMib=False))

    async def get_bulk(self, oids: list[str], max_repetitions: int) -> Pdu:
        answer = await bulk_cmd(
            *self._head(), 0, max_repetitions, *_object_types(oids), lookupMib=False
        )
        return _pdu(answer)

    def _head(self) -> tuple[Any, Any, Any, Any]:
        return self.engine, self.auth, self.target, self.context


@dataclass(frozen=True)
class _Session:
    exchange: _Exchange
    version: SnmpVersion
    max_repetitions: int


class SnmpProbe:
    """Polls SNMP devices; keeps per device its detected profile stack and the last
    counters/uptime."""

    def __init__(
        self,
        profiles: ProfileBook | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        fast: bool | None = None,
    ) -> None:
        # Read here, not in the first poll: parsing the shipped profiles blocks the loop for
        # a second or more on a loaded machine, which would eat that poll's deadline.
        self._profiles = profiles if profiles is not None else builtin_profiles()
        _mib_view()  # likewise, for the first pysnmp poll
        self._clock = clock
        self._now = now
        self._fast = os.environ.get(ENGINE_ENV, "").lower() != "pysnmp" if fast is None else fast
        self._engine: Any = None
        self._engine_loop: asyncio.AbstractEventLoop | None = None
        # pysnmp keeps one local USM entry per user name in an engine: SNMPv3 credentials that
        # reuse a user name with other keys (a typo on one device, or per-device keys) get an
        # engine of their own, or one device's keys would replace the other's.
        self._v3_first: dict[str, str] = {}  # user → digest of the first keys seen for it
        self._v3_engines: dict[str, Any] = {}  # digest → engine, for the other keys
        self._client: SnmpClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._devices: dict[str, _DeviceState] = {}

    async def _engine_for_loop(self, options: SnmpOptions | None = None) -> Any:
        """One engine per process; a new one only if the event loop changed (tests, `check`).
        Built in a thread: pysnmp compiles its MIB modules for every engine (a second of CPU
        on a loaded gateway), which on the loop would hold up every other device's poll."""
        loop = asyncio.get_running_loop()
        if self._engine is None or self._engine_loop is not loop:
            engine = await asyncio.to_thread(pysnmp_engine)
            if self._engine is None or self._engine_loop is not loop:  # not built meanwhile
                if self._engine is not None:
                    self._close_engine()
                self._engine = engine
                self._engine_loop = loop
        if options is None or options.version is not SnmpVersion.V3 or options.user is None:
            return self._engine
        digest = _credentials_digest(options)
        if self._v3_first.setdefault(options.user, digest) == digest:
            return self._engine
        if digest not in self._v3_engines:
            engine = await asyncio.to_thread(pysnmp_engine)
            self._v3_engines.setdefault(digest, engine)
        return self._v3_engines[digest]

    def _close_engine(self) -> None:
        for engine in [self._engine, *self._v3_engines.values()]:
            try:
                engine.close_dispatcher()
            except (PySnmpError, RuntimeError):  # its loop is already closed: nothing to close
                log.debug("closing an SNMP engine of a finished loop", exc_info=True)
        self._engine = None
        self._v3_first.clear()
        self._v3_engines.clear()

    def _client_for_loop(self) -> SnmpClient:
        """One fast client (one socket) per process, like the engine."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            if self._client is not None:
                self._client.close()
            self._client = SnmpClient()
            self._client_loop = loop
        return self._client

    def close(self) -> None:
        if self._engine is not None:
            self._close_engine()
        if self._client is not None:
            self._client.close()
            self._client = None

    async def poll(self, device: DeviceConfig) -> ProbeResult:
        options = device.snmp or SnmpOptions()
        profiles = self._profiles
        state = self._devices.setdefault(device.id, _DeviceState())
        started = self._clock()
        # No deadline of its own: `poll_device` holds the poll's one deadline (device.timeout)
        # and the requests' tries are sized to fit inside it, so a silent device is unreachable
        # well before it. A second deadline just inside the first races it under load.
        try:
            fast = self._fast and options.version is not SnmpVersion.V3 and not state.pysnmp
            try:
                session = await self._session(device, options, fast=fast)
                first_answer_ms, result = await self._poll(
                    session, device, options, profiles, state
                )
            except FastPathRefused as refused:
                log.info("%s: read with pysnmp from now on (%s)", device.id, refused)
                state.pysnmp = True
                session = await self._session(device, options, fast=False)
                first_answer_ms, result = await self._poll(
                    session, device, options, profiles, state
                )
        except PySnmpError as err:
            raise ProtocolError(f"SNMP: {err}") from err
        except ExceptionGroup as group:  # concurrent table walks failed: report one reason
            raise _one_failure(group) from group
        poll_ms = (self._clock() - started) * 1000.0
        log.debug(
            "polled %s in %.0f ms (first answer %.0f ms)", device.id, poll_ms, first_answer_ms
        )
        # the device's state now: a changed identity replaced it with a fresh one mid-poll
        detection = self._devices[device.id].detection
        assert detection is not None  # set by every poll that got this far
        checks = {**result.checks, "snmp.profiles": detection.names}
        identity = (result.identity or DeviceIdentity()).model_copy(
            update={"profiles": detection.names, "profile_reason": detection.reason[:500]}
        )
        return ProbeResult(
            checks=checks,
            latency_ms=poll_ms,  # the whole poll: system group, scalars and every table walk
            events=result.events,
            identity=identity,
            unmonitored=unmonitored_reason(detection, checks, device.device_class),
        )

    async def _session(self, device: DeviceConfig, options: SnmpOptions, *, fast: bool) -> _Session:
        # Two round trips in a row at most before the tables (system, then the profile's
        # scalars): each gets half of the poll's deadline, retries included.
        per_try = device.timeout / 2 / (options.retries + 1)
        if fast:
            address = await resolve(device.address, device.port or DEFAULT_PORT)
            community = options.community.reveal() if options.community else DEFAULT_COMMUNITY
            target = Target(
                address=address,
                version=Version.V1 if options.version is SnmpVersion.V1 else Version.V2C,
                community=community.encode(),
                timeout=per_try,
                retries=options.retries,
            )
            return _Session(
                exchange=_FastExchange(self._client_for_loop(), target),
                version=options.version,
                max_repetitions=options.max_repetitions,
            )
        try:
            target = await UdpTransportTarget.create(
                (device.address, device.port or DEFAULT_PORT),
                timeout=per_try,
                retries=options.retries,
            )
        except PySnmpError as err:
            raise DeviceUnreachable(f"{device.address}: {err}") from err
        exchange = _PysnmpExchange(
            engine=await self._engine_for_loop(options),
            auth=_auth_data(options),
            target=target,
            context=ContextData(contextName=options.context),
        )
        return _Session(
            exchange=exchange, version=options.version, max_repetitions=options.max_repetitions
        )

    async def _poll(
        self,
        session: _Session,
        device: DeviceConfig,
        options: SnmpOptions,
        profiles: ProfileBook,
        state: _DeviceState,
    ) -> tuple[float, Reading]:
        started = self._clock()
        if state.profile is None:
            system = await _get(session, [*SYSTEM_OIDS, *profiles.probe_oids()])
            latency_ms = (self._clock() - started) * 1000.0
            detection = detect(
                profiles,
                sys_object_id=text(system.get(SYS_OBJECT_ID)),
                sys_descr=text(system.get(SYS_DESCR)),
                answers=system,
                configured=options.profile,
            )
            if detection.notes:
                log.info("%s: %s", device.id, "; ".join(detection.notes))
            state.detection, profile = detection, detection.profile()
            missing = [o for o in profile.scalar_oids() if o not in system]
            scalars = {**system, **(await _get(session, missing) if missing else {})}
        else:
            profile = state.profile
            wanted = [*SYSTEM_OIDS, *(o for o in profile.scalar_oids() if o not in SYSTEM_OIDS)]
            scalars = await _get(session, wanted)
            latency_ms = (self._clock() - started) * 1000.0
        sys_object_id = text(scalars.get(SYS_OBJECT_ID))
        sys_descr = text(scalars.get(SYS_DESCR))
        if state.profile is not None and (sys_object_id, sys_descr) != (
            state.sys_object_id,
            state.sys_descr,
        ):
            # Another device answers at this address now (swapped hardware), or new firmware
            # that may speak other MIBs: detect the stack again.
            log.info("%s: identity changed to %s (%s)", device.id, sys_object_id, sys_descr)
            self._devices[device.id] = fresh = _DeviceState()
            return await self._poll(session, device, options, profiles, fresh)
        state.profile, state.sys_object_id, state.sys_descr = profile, sys_object_id, sys_descr

        columns: dict[str, Column] = {}
        if session.version is SnmpVersion.V1:  # no GETBULK: one GETNEXT walk per column
            walk_oids = dict.fromkeys(o for t in profile.tables for o in t.walk_oids())
            try:
                async with asyncio.TaskGroup() as group:
                    tasks = {
                        oid: group.create_task(
                            _walk(session, oid), name=f"snmp-walk:{device.id}:{oid}"
                        )
                        for oid in walk_oids
                    }
            except BaseExceptionGroup as failed:
                raise _first_failure(failed) from None
            columns = {oid: task.result() for oid, task in tasks.items()}
        elif profile.tables:
            try:
                async with asyncio.TaskGroup() as group:
                    table_tasks = [
                        group.create_task(
                            _walk_table(session, table.walk_oids(), state.rows.get(table.name)),
                            name=f"snmp-walk:{device.id}:{table.name}",
                        )
                        for table in profile.tables
                    ]
            except BaseExceptionGroup as failed:
                raise _first_failure(failed) from None
            for table, task in zip(profile.tables, table_tasks, strict=True):
                walked = task.result()
                columns.update(walked)
                state.rows[table.name] = max(map(len, walked.values()), default=0)

        reading = read(
            profile,
            scalars=scalars,
            columns=columns,
            previous=state.memory,
            at=self._clock(),
            now=self._now(),
            options=options,
        )
        state.memory = reading.memory
        return latency_ms, reading


def _one_failure(group: ExceptionGroup[Exception]) -> ProbeFailure:
    """The failure to report when several table walks failed at once (each timed out, say):
    refused credentials first, then a dead device, then anything else."""
    failures = [e for e in _leaves(group) if isinstance(e, ProbeFailure)]
    for kind in (AuthFailed, DeviceUnreachable):
        for failure in failures:
            if isinstance(failure, kind):
                return failure
    if failures:
        return failures[0]
    return ProtocolError(f"SNMP: {_leaves(group)[0]}")


def _leaves(group: BaseExceptionGroup[Exception]) -> list[Exception]:
    found: list[Exception] = []
    for error in group.exceptions:
        found += _leaves(error) if isinstance(error, BaseExceptionGroup) else [error]
    return found


@cache
def _mib_view() -> Any:
    """The MIB view every engine of the process resolves OIDs with. The probe sends numeric
    OIDs only, so the base MIBs do; built once, because each engine's own view loads them again
    and, where pysmi is installed (snmpsim brings it), builds a MIB compiler: seconds of CPU on
    the event loop, inside the first poll's deadline."""
    view = MibViewController(MibBuilder())
    ObjectIdentity(SYS_DESCR).resolve_with_mib(view)  # loads what every later poll needs
    return view


def pysnmp_engine() -> Any:
    """A pysnmp engine that resolves OIDs with the process's one MIB view (see `_mib_view`)."""
    engine = SnmpEngine()
    engine.cache["mibViewController"] = _mib_view()  # where pysnmp's hlapi looks it up
    return engine


def _credentials_digest(options: SnmpOptions) -> str:
    parts = [options.user or "", options.auth_protocol, options.priv_protocol]
    parts += [key.reveal() if key else "" for key in (options.auth_key, options.priv_key)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _auth_data(options: SnmpOptions) -> Any:
    if options.version is not SnmpVersion.V3:
        community = options.community.reveal() if options.community else DEFAULT_COMMUNITY
        return CommunityData(community, mpModel=0 if options.version is SnmpVersion.V1 else 1)
    assert options.user is not None
    kwargs: dict[str, Any] = {}
    if options.auth_key is not None:
        kwargs["authKey"] = options.auth_key.reveal()
        kwargs["authProtocol"] = AUTH_PROTOCOLS[options.auth_protocol]
    if options.priv_key is not None:
        kwargs["privKey"] = options.priv_key.reveal()
        kwargs["privProtocol"] = PRIV_PROTOCOLS[options.priv_protocol]
    return UsmUserData(options.user, **kwargs)


def _raise_for(indication: Any) -> None:
    if isinstance(indication, errind.RequestTimedOut):
        raise DeviceUnreachable(f"SNMP: {indication}")
    if isinstance(indication, _AUTH_ERRORS):
        raise AuthFailed(f"SNMP: {indication}")
    raise ProtocolError(f"SNMP: {indication}")


def _pdu(answer: tuple[Any, Any, Any, Any]) -> Pdu:
    """pysnmp's (indication, status, index, var_binds) → the fast client's answer type."""
    indication, status, index, var_binds = answer
    if indication:
        _raise_for(indication)
    return Pdu(
        type=PduType.RESPONSE,
        request_id=0,
        error_status=int(status),
        error_index=int(index),
        var_binds=[VarBind(str(oid), ber_tag(value), raw_value(value)) for oid, value in var_binds],
    )


def _object_types(oids: list[str]) -> list[Any]:
    return [ObjectType(ObjectIdentity(oid)) for oid in oids]


def ber_tag(value: Any) -> int:
    """The BER tag octet of a pysnmp value (0x41 for Counter32, 0x82 for endOfMibView ...)."""
    tag = value.tagSet[-1]
    return int(tag.tagClass | tag.tagFormat | tag.tagId)


def _first_failure(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """What a failed TaskGroup of walks means for the poll: a refusal of the fast client first
    (the poll is redone with pysnmp), then refused credentials, a dead device, any other domain
    failure; else the group itself."""
    leaves: list[BaseException] = []
    pending: list[BaseException] = [group]
    while pending:
        current = pending.pop(0)
        if isinstance(current, BaseExceptionGroup):
            pending += current.exceptions
        else:
            leaves.append(current)
    for kind in (FastPathRefused, AuthFailed, DeviceUnreachable, ProbeFailure):
        for leaf in leaves:
            if isinstance(leaf, kind):
                return leaf
    return group


async def _get(session: _Session, oids: list[str]) -> dict[str, RawValue]:
    """GET in chunks; an OID the agent does not have becomes None rather than failing the poll.

    Quirk: v1 agents (and some v2c ones, e.g. old Dahua DVR firmware) refuse the whole request
    with noSuchName/genErr at the index of one missing OID: drop that OID and ask again.
    """
    found: dict[str, RawValue] = {}
    pending = [oids[i : i + GET_CHUNK] for i in range(0, len(oids), GET_CHUNK)]
    while pending:
        chunk = pending.pop()
        if not chunk:
            continue
        answer = await session.exchange.get(chunk)
        code, index = answer.error_status, answer.error_index
        if code == 0:
            for vb in answer.var_binds:
                found[vb.oid] = vb.value
            continue
        if code in (_AUTHORIZATION_ERROR, _NO_ACCESS):
            raise AuthFailed(f"SNMP: {error_status_name(code)}")
        if code == _TOO_BIG and len(chunk) > 1:
            half = len(chunk) // 2
            pending += [chunk[:half], chunk[half:]]
            continue
        if code in (_NO_SUCH_NAME, _GEN_ERR) and 1 <= index <= len(chunk):
            found[chunk[index - 1]] = None
            pending.append(chunk[: index - 1] + chunk[index:])
            continue
        raise ProtocolError(f"SNMP GET: {error_status_name(code)} at {index}")
    return found


async def _walk_table(
    session: _Session, columns: list[str], rows_before: int | None = None
) -> dict[str, Column]:
    """Walk all columns of a table in the same GETBULK requests: one request per round instead
    of one per column, so a few PDUs per table (most of a poll's CPU is BER decoding). The first
    round asks for one row more than the table had at the last poll (`rows_before`): the agent
    encodes and we decode no rows past its end; a grown table takes more rounds.

    A column ends at endOfMibView, at the first OID outside it, or at an OID that does not
    increase (quirk: some embedded agents, e.g. old Dahua DVR firmware, loop on their last row).
    """
    found: dict[str, Column] = {column: {} for column in columns}
    cursor = {column: column for column in columns}  # last OID seen, per unfinished column
    repetitions = max(1, min(session.max_repetitions, MAX_BULK_VARBINDS // len(columns)))
    asking = repetitions if rows_before is None else min(repetitions, rows_before + 1)
    for _ in range(MAX_BULK_ROUNDS):
        if not cursor:
            break
        walking = list(cursor)
        answer = await session.exchange.get_bulk([cursor[column] for column in walking], asking)
        asking = repetitions
        if not _walk_goes_on(answer, walking):
            break
        if not answer.var_binds:
            break
        finished: set[str] = set()
        for position, (oid, _tag, value) in enumerate(answer.var_binds):
            column = walking[position % len(walking)]
            if column in finished:
                continue
            prefix = column + "."
            if value is None or not oid.startswith(prefix) or not _increases(cursor[column], oid):
                finished.add(column)
                continue
            found[column][oid[len(prefix) :]] = value
            cursor[column] = oid
        for column in finished:
            del cursor[column]
    return found


def _walk_goes_on(answer: Pdu, what: object) -> bool:
    """False when the agent ended the walk with an error status; raises for authorisation
    failures (a fault of the device, not the end of a table)."""
    if answer.error_status == 0:
        return True
    if answer.error_status == _AUTHORIZATION_ERROR:
        raise AuthFailed(f"SNMP: {error_status_name(answer.error_status)}")
    log.debug("walk of %s stopped: %s", what, error_status_name(answer.error_status))
    return False


def _increases(before: str, after: str) -> bool:
    return tuple(map(int, after.split("."))) > tuple(map(int, before.split(".")))


async def _walk(session: _Session, column: str) -> Column:
    """Walk one column with GETNEXT (SNMPv1 has no GETBULK), row index → value. A column the
    agent refuses is left empty: the device stays monitored without it. noSuchName ends a v1
    walk (the end of the agent's MIB); an OID that does not increase ends it too."""
    rows: Column = {}
    prefix = column + "."
    cursor = column
    for _ in range(MAX_WALK_ROWS):
        answer = await session.exchange.get_next([cursor])
        if answer.error_status == _NO_SUCH_NAME or not _walk_goes_on(answer, column):
            break
        if not answer.var_binds:
            break
        oid, _tag, value = answer.var_binds[0]
        if value is None or not oid.startswith(prefix) or not _increases(cursor, oid):
            break
        rows[oid[len(prefix) :]] = value
        cursor = oid
    return rows


def raw_value(value: Any) -> RawValue:
    """pysnmp value → plain Python: exceptions (noSuchObject, endOfMibView) and Null are None."""
    if isinstance(value, univ.Null):
        return None
    if isinstance(value, univ.Integer):
        return int(value)
    if isinstance(value, univ.ObjectIdentifier):
        return str(value)
    if isinstance(value, univ.OctetString):
        return bytes(value.asOctets())
    return str(value)
