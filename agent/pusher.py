"""Owns the network to the server: batches from the outbox, gzip JSON, retries that never lose
a sample and never get stuck on one (poison samples are rejected, counted and logged)."""

import asyncio
import enum
import gzip
import json
import logging
import random
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import httpx
from pydantic import ValidationError

from agent.backoff import full_jitter, parse_retry_after
from agent.inventory import InventoryBook
from agent.metrics import AgentMetrics
from agent.outbox import INVENTORY_HASH, AsyncOutbox, Pending
from wire.schema import AgentCommand, CommandAcks

log = logging.getLogger(__name__)

INGEST_PATH = "/api/v1/ingest"
INVENTORY_PATH = "/api/v1/inventory"
ACK_PATH = "/api/v1/commands/ack"
# Commands run, remembered by id so that one the server repeats (its ack lost) is not run again.
RAN_COMMANDS_KEPT = 1000
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 60.0
RETRY_AFTER_CAP_S = 600.0
# After a 413 halved the batch: grow it back by a quarter (at least 1) after this many full
# batches in a row were accepted, up to the configured size. Additive growth after a
# multiplicative cut, so a server limit is approached slowly and hit rarely.
REGROW_AFTER = 4
# The same server error this many times in a row on the same oldest sample marks poison: the
# batch is halved until the one sample is found, which is quarantined (kept, out of the way).
POISON_AFTER = 5


class Step(enum.Enum):
    """What one push attempt leaves for the loop to do next."""

    EMPTY = "empty"  # nothing to send
    SENT = "sent"  # a batch was stored; go on at once
    AGAIN = "again"  # something was fixed (batch halved, poison rejected, inventory sent)
    WAIT = "wait"  # the server or the network is not ready: wait `delay`


@dataclass(frozen=True)
class PushStep:
    step: Step
    delay: float = 0.0


# Runs one command from the server (in a worker thread: it may touch files); True when done
# (acknowledge it), False when it is not this agent's to run (e.g. a device it does not poll).
CommandRunner = Callable[[AgentCommand], bool]


@dataclass(frozen=True)
class PushSettings:
    server_url: str
    token: str
    call_timeout: float
    batch_size: int
    batch_max_age: float
    backoff_cap: float = BACKOFF_CAP_S  # longest wait between failed pushes
    poison_after: int = POISON_AFTER


class Pusher:
    """Sends the inventory at start and on change, then samples in batches, oldest first."""

    def __init__(
        self,
        *,
        outbox: AsyncOutbox,
        client: httpx.AsyncClient,
        settings: PushSettings,
        inventory: InventoryBook,
        metrics: AgentMetrics | None = None,
        rng: random.Random | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        run_command: CommandRunner | None = None,
    ) -> None:
        self._outbox = outbox
        self._run_command = run_command
        self._ran: OrderedDict[UUID, None] = OrderedDict()
        self._client = client
        self._settings = settings
        self._inventory = inventory
        self._metrics = metrics
        self._rng = rng or random.Random()
        self._wall_clock = wall_clock
        self.batch_size = settings.batch_size
        self._full_batches_accepted = 0  # in a row, since the last cut or growth
        self._attempt = 0
        self._inventory_attempt = 0
        self._inventory_retry_at = 0.0  # loop time before which a failed inventory is not retried
        self._sent_digest: str | None = None  # None: send once at start, whatever was sent before
        self._inventory_resent_for_403 = False
        self._wake = asyncio.Event()
        self._urgent = False  # queued samples that must not sit out batch_max_age (a trap's)
        self._trouble: str | None = None  # kind of the ongoing push failure, logged once
        self._trouble_count = 0
        self._same_error: tuple[int, int] | None = None  # (oldest seq, status) of the last 5xx
        self._same_error_count = 0

    def wake(self, *, urgent: bool = False) -> None:
        """New samples or a changed inventory: re-check now instead of at the next tick.

        `urgent` (call it after the sample is in the outbox): push without waiting for
        batch_max_age, and keep pushing at once until the outbox has been seen empty.
        """
        if urgent:
            self._urgent = True
        self._wake.set()

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._settings.token}"}

    async def run(self, stop: asyncio.Event) -> None:
        """Push until `stop` is set; waits are cut short by `stop` and by `wake()`."""
        while not stop.is_set():
            # Cleared here, not in the pause: a wake while the outbox is being read still cuts
            # the pause short. An urgent wake is taken before the outbox is read, so its sample
            # is either seen now or brings the loop round again.
            self._wake.clear()
            urgent, self._urgent = self._urgent, False
            await self._inventory_if_due()
            ready_in = await self._ready_in()
            if ready_in is None:
                await self._pause(stop, self._settings.batch_max_age, wakeable=True)
                continue
            if urgent:
                self._urgent = True  # until the outbox is seen empty (a failed push retries)
                ready_in = 0.0
            if ready_in > 0:
                await self._pause(stop, ready_in, wakeable=True)
                continue
            result = await self.push_batch()
            if result.step is Step.WAIT:
                await self._pause(stop, result.delay, wakeable=False)

    async def _inventory_if_due(self) -> None:
        """Send the inventory when it changed; a failure is retried later with backoff, and
        samples keep flowing meanwhile (known devices need no new inventory)."""
        now = asyncio.get_running_loop().time()
        if self._sent_digest == self._inventory.digest() or now < self._inventory_retry_at:
            return
        if await self.send_inventory():
            self._inventory_attempt = 0
            return
        self._inventory_retry_at = now + full_jitter(
            self._inventory_attempt,
            base=BACKOFF_BASE_S,
            cap=self._settings.backoff_cap,
            rng=self._rng,
        )
        self._inventory_attempt += 1

    async def flush(self, seconds: float) -> int:
        """Final push at shutdown: send what is waiting, for at most `seconds`; returns samples
        left in the outbox (they stay there for the next start)."""
        try:
            async with asyncio.timeout(seconds):
                while True:
                    result = await self.push_batch()
                    if result.step in (Step.EMPTY, Step.WAIT):
                        break
        except TimeoutError:
            log.warning("final flush cut short after %.1f s", seconds)
        return await self._outbox.depth()

    async def _ready_in(self) -> float | None:
        """None when empty, 0 when a batch should go now, else seconds until the oldest is due."""
        depth = await self._outbox.depth()
        if depth == 0:
            return None
        if depth >= self.batch_size:
            return 0.0
        age = await self._outbox.oldest_age() or 0.0
        return max(0.0, self._settings.batch_max_age - age)

    async def _pause(self, stop: asyncio.Event, seconds: float, *, wakeable: bool) -> None:
        waits = [asyncio.ensure_future(stop.wait())]
        if wakeable:
            waits.append(asyncio.ensure_future(self._wake.wait()))
        try:
            await asyncio.wait(waits, timeout=max(0.0, seconds), return_when="FIRST_COMPLETED")
        finally:
            for waiter in waits:
                waiter.cancel()

    def _backoff(self) -> float:
        delay = full_jitter(
            self._attempt, base=BACKOFF_BASE_S, cap=self._settings.backoff_cap, rng=self._rng
        )
        self._attempt += 1
        return delay

    def _failed(self, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.push_failures.labels(reason).inc()

    def _trouble_log(self, kind: str, level: int, message: str, *args: object) -> None:
        """Log a push failure when its kind changes; repeats go to debug (they are counted)."""
        self._trouble_count += 1
        if kind != self._trouble:
            self._trouble = kind
            log.log(level, message, *args)
        else:
            log.debug(message, *args)

    def _recovered(self) -> None:
        if self._trouble is not None:
            log.info("pushing again after %d failed attempts", self._trouble_count)
        self._trouble = None
        self._trouble_count = 0

    async def send_inventory(self) -> bool:
        """POST the device inventory; True when the server took it."""
        digest = self._inventory.digest()
        body = self._inventory.snapshot().model_dump_json()
        try:
            async with asyncio.timeout(self._settings.call_timeout):
                response = await self._client.post(
                    self._settings.server_url + INVENTORY_PATH,
                    content=body.encode(),
                    headers={**self._headers(), "Content-Type": "application/json"},
                )
        except (httpx.HTTPError, TimeoutError) as err:
            self._failed("inventory_network")
            self._trouble_log("network", logging.WARNING, "inventory not sent: %s", _describe(err))
            return False
        if response.status_code != 200:
            self._failed(f"inventory_http_{response.status_code}")
            self._trouble_log(
                f"inventory_{response.status_code}",
                logging.WARNING,
                "inventory refused: HTTP %d %s",
                response.status_code,
                _reason(response),
            )
            return False
        self._sent_digest = digest
        await self._outbox.set_meta(INVENTORY_HASH, digest)
        log.info("inventory sent: %s", response.text[:200])
        return True

    async def push_batch(self) -> PushStep:
        """Send the oldest batch once and act on the answer."""
        batch = await self._outbox.peek(self.batch_size)
        if not batch:
            return PushStep(Step.EMPTY)
        payload = b'{"samples":[' + ",".join(p.body for p in batch).encode() + b"]}"
        compressed = await asyncio.to_thread(gzip.compress, payload, 6)
        try:
            async with asyncio.timeout(self._settings.call_timeout):
                response = await self._client.post(
                    self._settings.server_url + INGEST_PATH,
                    content=compressed,
                    headers={
                        **self._headers(),
                        "Content-Type": "application/json",
                        "Content-Encoding": "gzip",
                    },
                )
        except (httpx.HTTPError, TimeoutError) as err:
            self._failed("network")
            delay = self._backoff()
            self._trouble_log(
                "network",
                logging.WARNING,
                "push failed (%s); retrying with backoff",
                _describe(err),
            )
            return PushStep(Step.WAIT, delay)
        return await self._handle(response, batch)

    async def _handle(self, response: httpx.Response, batch: list[Pending]) -> PushStep:
        status = response.status_code
        seqs = [p.seq for p in batch]
        if 200 <= status < 300:
            refused = _refused(response)
            if refused:
                by_id = {p.sample_id: p.seq for p in batch}
                out = [by_id[i] for i in refused if i in by_id]
                reasons = sorted(set(refused.values()))[:3]
                await self._outbox.reject(out, f"refused by the server: {'; '.join(reasons)}")
            await self._outbox.ack(seqs)
            self._same_error, self._same_error_count = None, 0
            self._recovered()
            self._regrow(len(batch))
            if self._metrics is not None:
                self._metrics.samples_pushed.inc(len(seqs))
            self._attempt = 0
            self._inventory_resent_for_403 = False
            await self._commands(response)
            return PushStep(Step.SENT)
        self._failed(f"http_{status}")
        if status in (429, 503):
            after = parse_retry_after(response.headers.get("Retry-After"), now=self._wall_clock())
            delay = min(after, RETRY_AFTER_CAP_S) if after is not None else self._backoff()
            self._trouble_log(
                f"http_{status}",
                logging.WARNING,
                "server busy (HTTP %d); retry in %.1f s",
                status,
                delay,
            )
            return PushStep(Step.WAIT, delay)
        if status >= 500:
            if self._is_poison(batch, status):
                return await self._poison(batch, status, response)
            delay = self._backoff()
            self._trouble_log(
                f"http_{status}",
                logging.WARNING,
                "server error HTTP %d; retrying with backoff",
                status,
            )
            return PushStep(Step.WAIT, delay)
        if status == 413:
            return await self._too_large(batch)
        if status == 403:
            unknown = _unknown_devices(response)
            if unknown:
                return await self._unknown_devices(batch, unknown)
        if status in (401, 403):
            # The token may be fixed or re-scoped on the server: keep every sample, back off.
            delay = self._backoff()
            self._trouble_log(
                f"http_{status}",
                logging.ERROR,
                "server refuses this agent (HTTP %d %s); keeping samples, retrying with backoff",
                status,
                _reason(response),
            )
            return PushStep(Step.WAIT, delay)
        # 400/422 and friends: the batch itself is wrong (a bug); keeping it would block the queue.
        # When the answer names the bad samples (`samples[3].ts`), only those go.
        bad = _invalid_samples(response, len(batch))
        poison = [batch[i].seq for i in sorted(bad)] if bad else seqs
        await self._outbox.reject(poison, f"HTTP {status} {_reason(response)}")
        return PushStep(Step.AGAIN)

    async def _commands(self, response: httpx.Response) -> None:
        """Run the commands an ingest answer carries (none from a server that predates them),
        each once by id, and acknowledge them. A lost acknowledgement makes the server repeat
        the command: it is acknowledged again, not run again."""
        if self._run_command is None:
            return
        done: list[UUID] = []
        for command in _commands(response):
            if command.id not in self._ran:
                if not await asyncio.to_thread(self._run_command, command):
                    continue
                log.info("ran %s for %s (command %s)", command.kind, command.device, command.id)
                self._ran[command.id] = None
                while len(self._ran) > RAN_COMMANDS_KEPT:
                    self._ran.popitem(last=False)
            done.append(command.id)
        if not done:
            return
        body = CommandAcks(ids=done).model_dump_json()
        try:
            async with asyncio.timeout(self._settings.call_timeout):
                answer = await self._client.post(
                    self._settings.server_url + ACK_PATH,
                    content=body,
                    headers={**self._headers(), "Content-Type": "application/json"},
                )
        except (httpx.HTTPError, TimeoutError) as err:
            log.warning("command acknowledgement not sent (%s); sent again later", _describe(err))
            return
        if answer.status_code != 200:
            log.warning(
                "command acknowledgement refused: HTTP %d %s; sent again later",
                answer.status_code,
                _reason(answer),
            )

    def _regrow(self, accepted: int) -> None:
        """A cut batch size grows back after full batches were accepted; a smaller batch (the
        outbox held fewer samples) says nothing about whether a bigger one would fit."""
        if self.batch_size >= self._settings.batch_size or accepted < self.batch_size:
            return
        self._full_batches_accepted += 1
        if self._full_batches_accepted < REGROW_AFTER:
            return
        self._full_batches_accepted = 0
        grown = self.batch_size + max(1, self.batch_size // 4)
        self.batch_size = min(self._settings.batch_size, grown)
        log.info("batches fit again; batch size now %d", self.batch_size)

    def _is_poison(self, batch: list[Pending], status: int) -> bool:
        """The same server error on the same oldest sample `poison_after` times in a row."""
        key = (batch[0].seq, status)
        if key == self._same_error:
            self._same_error_count += 1
        else:
            self._same_error, self._same_error_count = key, 1
        return self._same_error_count >= self._settings.poison_after

    async def _poison(
        self, batch: list[Pending], status: int, response: httpx.Response
    ) -> PushStep:
        """Narrow a batch the server keeps failing on down to one sample, then set it aside."""
        self._same_error, self._same_error_count = None, 0
        self._full_batches_accepted = 0
        if self.batch_size > 1 and len(batch) > 1:
            self.batch_size = max(1, min(self.batch_size, len(batch)) // 2)
            log.warning(
                "server keeps failing (HTTP %d); batch size now %d", status, self.batch_size
            )
            return PushStep(Step.AGAIN)
        reason = f"HTTP {status} {self._settings.poison_after} times: {_reason(response)}"
        await self._outbox.quarantine([p.seq for p in batch], reason)
        return PushStep(Step.AGAIN)

    async def _too_large(self, batch: list[Pending]) -> PushStep:
        self._full_batches_accepted = 0
        if self.batch_size > 1 and len(batch) > 1:
            self.batch_size = max(1, min(self.batch_size, len(batch)) // 2)
            log.warning("server says batch too large; batch size now %d", self.batch_size)
            return PushStep(Step.AGAIN)
        await self._outbox.reject([p.seq for p in batch], "HTTP 413: a single sample too large")
        return PushStep(Step.AGAIN)

    async def _unknown_devices(self, batch: list[Pending], unknown: set[str]) -> PushStep:
        if not self._inventory_resent_for_403:
            self._inventory_resent_for_403 = True
            log.warning("server does not know devices %s; re-sending inventory", sorted(unknown))
            if not await self.send_inventory():
                return PushStep(Step.WAIT, self._backoff())
            return PushStep(Step.AGAIN)
        self._inventory_resent_for_403 = False
        poison = [p.seq for p in batch if p.device_id in unknown]
        if not poison:
            return PushStep(Step.WAIT, self._backoff())
        await self._outbox.reject(
            poison, f"HTTP 403: devices unknown even after re-sending inventory: {sorted(unknown)}"
        )
        return PushStep(Step.AGAIN)


def _commands(response: httpx.Response) -> list[AgentCommand]:
    """The well-formed commands of an ingest answer; a kind this agent does not know (a newer
    server) or a malformed entry is skipped and never acknowledged."""
    try:
        body = response.json()
    except ValueError:
        return []
    listed = body.get("commands") if isinstance(body, dict) else None
    if not isinstance(listed, list):
        return []
    found = []
    for item in listed:
        try:
            found.append(AgentCommand.model_validate(item))
        except ValidationError as err:
            log.debug("command skipped: %s", err.errors(include_url=False)[:1])
    return found


def _unknown_devices(response: httpx.Response) -> set[str]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return set()
    if not isinstance(body, dict) or body.get("error") != "forbidden":
        return set()
    detail = body.get("detail")
    devices = detail.get("unknown_devices") if isinstance(detail, dict) else None
    if not isinstance(devices, list):
        return set()
    return {d for d in devices if isinstance(d, str)}


def _refused(response: httpx.Response) -> dict[str, str]:
    """Samples a stored batch left out, by id, with the server's reason (e.g. a clock far off)."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    items = body.get("refused") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return {}
    return {
        str(item["id"]): str(item.get("reason", ""))
        for item in items
        if isinstance(item, dict) and "id" in item
    }


_SAMPLE_FIELD = re.compile(r"^samples\[(\d+)\]")


def _invalid_samples(response: httpx.Response, size: int) -> set[int]:
    """Positions in the batch that a 422 answer names (`samples[3].ts`); empty when it names
    none, or something outside the batch."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return set()
    detail = body.get("detail") if isinstance(body, dict) else None
    if not isinstance(detail, list):
        return set()
    found: set[int] = set()
    for item in detail:
        match = _SAMPLE_FIELD.match(str(item.get("field", ""))) if isinstance(item, dict) else None
        if match is None or int(match[1]) >= size:
            return set()
        found.add(int(match[1]))
    return found


def _reason(response: httpx.Response) -> str:
    return response.text[:300].replace("\n", " ")


def _describe(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
