"""Pusher behaviour for every server answer.

These use httpx.MockTransport on purpose: they inject 429/503/413/403/401/422 answers and network
errors on demand, which the real server does not produce at will. The e2e tests (tests/e2e) run
the agent against the real server.
"""

import asyncio
import gzip
import itertools
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from agent.inventory import InventoryBook
from agent.metrics import AgentMetrics
from agent.outbox import INVENTORY_HASH, AsyncOutbox, Outbox
from agent.pusher import Pusher, PushSettings, Step
from peers.devices import make_device
from wire.enums import ProbeKind
from wire.ids import uuid7
from wire.schema import AgentCommand, CommandAcks, DeviceIdentity, IngestBatch, Inventory, Sample

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
Handler = Callable[[httpx.Request], httpx.Response]


class Server:
    """Records what the agent sent; `answer` decides each ingest response."""

    def __init__(self, answer: Callable[[IngestBatch], httpx.Response] | None = None) -> None:
        self.batches: list[IngestBatch] = []
        self.inventories: list[Inventory] = []
        self.requests: list[httpx.Request] = []
        self.inventory_arrived = asyncio.Event()
        self.answer = answer or (lambda batch: httpx.Response(200, json={"accepted": 1}))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/api/v1/inventory":
            self.inventories.append(Inventory.model_validate_json(request.content))
            self.inventory_arrived.set()
            return httpx.Response(200, json={"registered": 1, "updated": 0})
        assert request.url.path == "/api/v1/ingest"
        batch = IngestBatch.model_validate_json(gzip.decompress(request.content))
        self.batches.append(batch)
        return self.answer(batch)


def sample(device: str = "cam-01") -> Sample:
    return Sample(id=uuid7(), device_id=device, ts=NOW, probe=ProbeKind.TCP, reachable=True)


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(tmp_path / "o.sqlite", max_bytes=10_000_000)


def make_pusher(
    outbox: Outbox,
    handler: Handler,
    *,
    batch_size: int = 100,
    metrics: AgentMetrics | None = None,
    inventory: InventoryBook | None = None,
    batch_max_age: float = 0.05,
    backoff_cap: float = 60.0,
    run_command: Callable[[AgentCommand], bool] | None = None,
) -> Pusher:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return Pusher(
        outbox=AsyncOutbox(outbox),
        client=client,
        settings=PushSettings(
            server_url="http://127.0.0.1:1",
            token="tok-123",
            call_timeout=5.0,
            batch_size=batch_size,
            batch_max_age=batch_max_age,
            backoff_cap=backoff_cap,
        ),
        inventory=inventory
        or InventoryBook([make_device(), make_device(id="cam-02")], agent_version="t"),
        metrics=metrics,
        rng=random.Random(3),
        wall_clock=lambda: NOW,
        run_command=run_command,
    )


async def test_batch_is_gzip_json_with_bearer_token_and_acked(outbox: Outbox) -> None:
    server = Server()
    metrics = AgentMetrics(CollectorRegistry())
    samples = [sample() for _ in range(3)]
    outbox.put(samples)
    result = await make_pusher(outbox, server, metrics=metrics).push_batch()
    assert result.step is Step.SENT
    request = server.requests[0]
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Bearer tok-123"
    assert server.batches[0].samples == samples
    assert outbox.depth() == 0
    assert metrics.samples_pushed._value.get() == 3


async def test_network_error_keeps_samples_and_backs_off_with_growing_ceiling(
    outbox: Outbox,
) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    outbox.put([sample()])
    pusher = make_pusher(outbox, down)
    delays = [(await pusher.push_batch()) for _ in range(8)]
    assert all(d.step is Step.WAIT for d in delays)
    assert 0 <= delays[0].delay <= 1.0
    assert max(d.delay for d in delays) > 1.0  # the ceiling grew (1, 2, 4, … 60)
    assert all(d.delay <= 60.0 for d in delays)
    assert outbox.depth() == 1


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_seconds_is_honoured(outbox: Outbox, status: int) -> None:
    outbox.put([sample()])
    busy = Server(lambda b: httpx.Response(status, headers={"Retry-After": "17"}))
    result = await make_pusher(outbox, busy).push_batch()
    assert (result.step, result.delay) == (Step.WAIT, 17.0)
    assert outbox.depth() == 1


async def test_retry_after_http_date_is_honoured(outbox: Outbox) -> None:
    outbox.put([sample()])
    when = format_datetime(NOW + timedelta(seconds=45), usegmt=True)
    busy = Server(lambda b: httpx.Response(503, headers={"Retry-After": when}))
    result = await make_pusher(outbox, busy).push_batch()
    assert (result.step, result.delay) == (Step.WAIT, 45.0)


async def test_server_error_backs_off_and_keeps(outbox: Outbox) -> None:
    outbox.put([sample()])
    result = await make_pusher(outbox, Server(lambda b: httpx.Response(500))).push_batch()
    assert result.step is Step.WAIT
    assert outbox.depth() == 1
    assert outbox.rejected_total() == 0


async def test_413_halves_the_batch_until_it_fits(outbox: Outbox) -> None:
    server = Server(lambda b: httpx.Response(413 if len(b.samples) > 2 else 200))
    samples = [sample() for _ in range(5)]
    outbox.put(samples)
    pusher = make_pusher(outbox, server, batch_size=8)
    steps = []
    while (step := (await pusher.push_batch()).step) is not Step.EMPTY:
        steps.append(step)
    assert pusher.batch_size == 2
    assert Step.AGAIN in steps
    accepted = [s.id for b in server.batches if len(b.samples) <= 2 for s in b.samples]
    assert accepted == [s.id for s in samples]
    assert outbox.rejected_total() == 0


async def test_413_on_a_single_sample_rejects_it(outbox: Outbox) -> None:
    outbox.put([sample()])
    pusher = make_pusher(outbox, Server(lambda b: httpx.Response(413)), batch_size=1)
    assert (await pusher.push_batch()).step is Step.AGAIN
    assert outbox.depth() == 0
    assert outbox.rejected_total() == 1


def forbidden(unknown: list[str]) -> httpx.Response:
    return httpx.Response(403, json={"error": "forbidden", "detail": {"unknown_devices": unknown}})


async def test_403_unknown_devices_resends_inventory_then_succeeds(outbox: Outbox) -> None:
    server = Server()
    server.answer = lambda b: (
        forbidden(["cam-02"]) if not server.inventories else httpx.Response(200)
    )
    outbox.put([sample("cam-01"), sample("cam-02")])
    pusher = make_pusher(outbox, server)
    assert (await pusher.push_batch()).step is Step.AGAIN
    assert len(server.inventories) == 1
    assert (await pusher.push_batch()).step is Step.SENT
    assert outbox.depth() == 0
    assert outbox.rejected_total() == 0


async def test_403_unknown_devices_still_refused_rejects_only_those(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    server = Server()

    def answer(batch: IngestBatch) -> httpx.Response:
        if any(s.device_id == "cam-02" for s in batch.samples):
            return forbidden(["cam-02"])
        return httpx.Response(200)

    server.answer = answer
    keep = [sample("cam-01"), sample("cam-01")]
    outbox.put([keep[0], sample("cam-02"), keep[1], sample("cam-02")])
    pusher = make_pusher(outbox, server)
    steps = [(await pusher.push_batch()).step for _ in range(4)]
    assert steps == [Step.AGAIN, Step.AGAIN, Step.SENT, Step.EMPTY]
    assert len(server.inventories) == 1
    assert server.batches[-1].samples == keep
    assert outbox.rejected_total() == 2
    assert "cam-02" in caplog.text


async def test_401_keeps_samples_and_backs_off(outbox: Outbox) -> None:
    outbox.put([sample()])
    result = await make_pusher(outbox, Server(lambda b: httpx.Response(401))).push_batch()
    assert result.step is Step.WAIT
    assert outbox.depth() == 1
    assert outbox.rejected_total() == 0


@pytest.mark.parametrize("status", [400, 422])
async def test_bad_request_rejects_batch_with_servers_reason(
    outbox: Outbox, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    outbox.put([sample(), sample()])
    reply = Server(lambda b: httpx.Response(status, json={"error": "invalid", "detail": "bad ts"}))
    assert (await make_pusher(outbox, reply).push_batch()).step is Step.AGAIN
    assert outbox.depth() == 0
    assert outbox.rejected_total() == 2
    assert "bad ts" in caplog.text


async def test_run_sends_inventory_first_then_aged_batch_and_stops(outbox: Outbox) -> None:
    stop = asyncio.Event()
    server = Server()

    def answer(batch: IngestBatch) -> httpx.Response:
        stop.set()
        return httpx.Response(200)

    server.answer = answer
    outbox.put([sample()])  # fewer than batch_size: goes out once batch_max_age passed
    pusher = make_pusher(outbox, server)
    await asyncio.wait_for(pusher.run(stop), timeout=30)
    paths = [r.url.path for r in server.requests]
    assert paths == ["/api/v1/inventory", "/api/v1/ingest"]
    assert server.requests[0].headers["Authorization"] == "Bearer tok-123"
    assert server.requests[0].headers["Content-Type"] == "application/json"
    assert [d.id for d in server.inventories[0].devices] == ["cam-01", "cam-02"]
    assert outbox.depth() == 0
    assert outbox.get_meta(INVENTORY_HASH) is not None


async def test_run_resends_inventory_when_identity_learned(outbox: Outbox) -> None:
    stop = asyncio.Event()
    server = Server()
    book = InventoryBook([make_device()], agent_version="t")
    pusher = make_pusher(outbox, server, inventory=book)
    task = asyncio.create_task(pusher.run(stop))
    await asyncio.wait_for(server.inventory_arrived.wait(), timeout=30)
    server.inventory_arrived.clear()
    book.learn("cam-01", DeviceIdentity(vendor="Axis", serial="ACCC8E000001"))
    pusher.wake()
    await asyncio.wait_for(server.inventory_arrived.wait(), timeout=30)
    stop.set()
    await asyncio.wait_for(task, timeout=30)
    assert server.inventories[1].devices[0].identity.serial == "ACCC8E000001"
    assert len(server.inventories) == 2


def stopping_on_success(stop: asyncio.Event) -> Callable[[IngestBatch], httpx.Response]:
    def answer(batch: IngestBatch) -> httpx.Response:
        stop.set()
        return httpx.Response(200)

    return answer


async def test_urgent_wake_sends_at_once_without_waiting_for_batch_age(outbox: Outbox) -> None:
    """A trap's sample must not sit out batch_max_age; an ordinary wake leaves it waiting."""
    stop = asyncio.Event()
    server = Server(stopping_on_success(stop))
    pusher = make_pusher(outbox, server, batch_max_age=3600)
    task = asyncio.create_task(pusher.run(stop))
    await asyncio.wait_for(server.inventory_arrived.wait(), timeout=30)
    outbox.put([sample()])
    pusher.wake()
    await asyncio.sleep(0.3)
    assert server.batches == []  # one poll sample, far younger than batch_max_age: it waits
    outbox.put([sample("cam-02")])
    pusher.wake(urgent=True)
    await asyncio.wait_for(task, timeout=5)
    assert [[s.device_id for s in b.samples] for b in server.batches] == [["cam-01", "cam-02"]]


async def test_urgent_sample_is_retried_after_backoff_not_after_batch_age(outbox: Outbox) -> None:
    stop = asyncio.Event()
    busy_once = [httpx.Response(503, headers={"Retry-After": "0"})]
    succeed = stopping_on_success(stop)
    server = Server(lambda batch: busy_once.pop() if busy_once else succeed(batch))
    pusher = make_pusher(outbox, server, batch_max_age=3600)
    task = asyncio.create_task(pusher.run(stop))
    await asyncio.wait_for(server.inventory_arrived.wait(), timeout=30)
    outbox.put([sample()])
    pusher.wake(urgent=True)
    await asyncio.wait_for(task, timeout=5)
    assert len(server.batches) == 2
    assert outbox.depth() == 0


async def test_flush_sends_everything_waiting(outbox: Outbox) -> None:
    server = Server()
    outbox.put([sample() for _ in range(7)])
    left = await make_pusher(outbox, server, batch_size=3).flush(30)
    assert left == 0
    assert [len(b.samples) for b in server.batches] == [3, 3, 1]


async def test_flush_stops_at_first_failure_and_keeps_samples(outbox: Outbox) -> None:
    outbox.put([sample() for _ in range(2)])
    left = await make_pusher(outbox, Server(lambda b: httpx.Response(503))).flush(30)
    assert left == 2


async def test_failing_inventory_does_not_hold_back_samples(outbox: Outbox) -> None:
    stop = asyncio.Event()
    server = Server()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/inventory":
            server.requests.append(request)
            return httpx.Response(500)
        return server(request)

    def answer(batch: IngestBatch) -> httpx.Response:
        stop.set()
        return httpx.Response(200)

    server.answer = answer
    outbox.put([sample()])
    await asyncio.wait_for(make_pusher(outbox, handler).run(stop), timeout=30)
    assert [r.url.path for r in server.requests] == ["/api/v1/inventory", "/api/v1/ingest"]
    assert outbox.depth() == 0
    assert outbox.get_meta(INVENTORY_HASH) is None


async def test_repeated_failure_is_logged_once_and_recovery_once(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    up = False

    def flaky(request: httpx.Request) -> httpx.Response:
        if not up:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200)

    caplog.set_level(logging.INFO, logger="agent.pusher")
    outbox.put([sample()])
    pusher = make_pusher(outbox, flaky)
    for _ in range(5):
        await pusher.push_batch()
    up = True
    assert (await pusher.push_batch()).step is Step.SENT
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert messages == [
        "push failed (ConnectError: connection refused); retrying with backoff",
        "pushing again after 5 failed attempts",
    ]


async def test_batch_size_cut_by_413_grows_back_gradually_after_successes(outbox: Outbox) -> None:
    """A burst of big samples made the server answer 413; later batches fit again, so the
    batch size climbs back to the configured one in small steps, never past it."""
    limit = {"max": 3}
    server = Server(lambda b: httpx.Response(413 if len(b.samples) > limit["max"] else 200))
    pusher = make_pusher(outbox, server, batch_size=16)
    outbox.put([sample() for _ in range(16)])
    sizes: list[int] = []
    while (await pusher.push_batch()).step is not Step.EMPTY:
        sizes.append(pusher.batch_size)
    assert min(sizes) == 2  # 16 → 8 → 4 → 2: fits under the limit of 3
    assert pusher.batch_size <= 3  # full batches of 2 were accepted: it may have grown to 3
    limit["max"] = 1000  # the big samples are gone: the server takes anything
    for _ in range(40):
        outbox.put([sample() for _ in range(pusher.batch_size)])  # always a full batch
        assert (await pusher.push_batch()).step is Step.SENT
        sizes.append(pusher.batch_size)
    assert pusher.batch_size == 16
    grown = sizes[sizes.index(2) :]
    changes = [(a, b) for a, b in itertools.pairwise(grown) if b != a]
    assert len(changes) >= 5  # 2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 16: many small steps
    assert all(0 < b - a <= max(1, a // 4) for a, b in changes), changes
    assert max(sizes) == 16
    assert outbox.rejected_total() == 0


async def test_partial_batches_do_not_grow_the_batch_size(outbox: Outbox) -> None:
    server = Server(lambda b: httpx.Response(413 if len(b.samples) > 4 else 200))
    pusher = make_pusher(outbox, server, batch_size=8)
    outbox.put([sample() for _ in range(8)])
    while (await pusher.push_batch()).step is not Step.EMPTY:
        pass
    assert pusher.batch_size == 4
    for _ in range(20):  # quiet site: one sample at a time says nothing about size 5
        outbox.put([sample()])
        assert (await pusher.push_batch()).step is Step.SENT
    assert pusher.batch_size == 4


def test_waits_after_failed_pushes_grow_to_the_configured_cap_and_no_further(
    outbox: Outbox,
) -> None:
    pusher = make_pusher(outbox, Server(lambda b: httpx.Response(503)), backoff_cap=5.0)
    waits = [pusher._backoff() for _ in range(40)]
    assert max(waits) <= 5.0
    assert max(waits[10:]) > 2.5  # full jitter up to the cap once the attempts have grown


class CommandServer(Server):
    """Answers every ingest with `commands` and records the acknowledgements it gets."""

    def __init__(self, commands: list[dict[str, object]], ack_status: int = 200) -> None:
        super().__init__(lambda batch: httpx.Response(200, json=self.answer_body()))
        self.commands = commands
        self.ack_status = ack_status
        self.acks: list[list[str]] = []

    def answer_body(self) -> dict[str, object]:
        return {"accepted": 1, "duplicates": 0, "commands": self.commands}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/commands/ack":
            self.requests.append(request)
            self.acks.append([str(i) for i in CommandAcks.model_validate_json(request.content).ids])
            return httpx.Response(self.ack_status, json={"acknowledged": 1})
        return super().__call__(request)


async def test_commands_on_the_ingest_answer_run_once_and_are_acknowledged(
    outbox: Outbox,
) -> None:
    mine, other = str(uuid7()), str(uuid7())
    server = CommandServer(
        [
            {"id": mine, "kind": "picture.relearn", "device": "cam-01"},
            {"id": other, "kind": "picture.relearn", "device": "cam-77"},  # not this agent's
            {"id": str(uuid7()), "kind": "firmware.flash", "device": "cam-01"},  # unknown kind
            {"id": "not-a-uuid", "kind": "picture.relearn", "device": "cam-01"},
        ],
        ack_status=503,  # the first acknowledgement is lost
    )
    ran: list[AgentCommand] = []

    def run(command: AgentCommand) -> bool:
        ran.append(command)
        return command.device == "cam-01"

    pusher = make_pusher(outbox, server, run_command=run)
    for _ in range(2):
        outbox.put([sample()])
        assert (await pusher.push_batch()).step is Step.SENT
        server.ack_status = 200

    # Run once although the server repeated it, acknowledged again since the first ack was
    # lost; another agent's camera is offered to the runner each time, never acknowledged.
    ran_ids = [(str(c.id), c.device) for c in ran]
    assert ran_ids == [(mine, "cam-01"), (other, "cam-77"), (other, "cam-77")]
    assert server.acks == [[mine], [mine]]
    assert outbox.depth() == 0  # a failed acknowledgement never holds samples back


async def test_answer_without_commands_sends_no_acknowledgement(outbox: Outbox) -> None:
    server = Server()  # answers {"accepted": 1}: a server that predates commands
    ran: list[AgentCommand] = []
    outbox.put([sample()])

    def run(command: AgentCommand) -> bool:
        ran.append(command)
        return True

    pusher = make_pusher(outbox, server, run_command=run)

    assert (await pusher.push_batch()).step is Step.SENT
    assert ran == []
    assert [r.url.path for r in server.requests] == ["/api/v1/ingest"]


async def test_a_sample_the_server_keeps_failing_on_is_found_and_quarantined(
    outbox: Outbox,
) -> None:
    """One poison sample among 8: the same 500 on the same batch narrows the batch down to it,
    it goes to quarantine (kept on disk, counted) and everything behind it is delivered."""
    samples = [sample() for _ in range(8)]
    poison = samples[5].id
    server = Server(
        lambda b: httpx.Response(500 if any(s.id == poison for s in b.samples) else 200)
    )
    outbox.put(samples)
    metrics = AgentMetrics(CollectorRegistry())
    metrics.watch_outbox(outbox)
    pusher = make_pusher(outbox, server, batch_size=8, metrics=metrics)
    for _ in range(100):
        if (await pusher.push_batch()).step is Step.EMPTY:
            break
    assert outbox.depth() == 0
    assert outbox.quarantined() == 1
    assert outbox.quarantined_total() == 1
    delivered = {
        s.id
        for b in server.batches
        if not any(x.id == poison for x in b.samples)
        for s in b.samples
    }
    assert delivered == {s.id for s in samples} - {poison}
    assert metrics.registry.get_sample_value("secmon_agent_samples_quarantined") == 1


async def test_server_errors_below_the_poison_count_keep_the_batch(outbox: Outbox) -> None:
    outbox.put([sample() for _ in range(4)])
    pusher = make_pusher(outbox, Server(lambda b: httpx.Response(500)), batch_size=4)
    steps = [(await pusher.push_batch()).step for _ in range(4)]
    assert steps == [Step.WAIT] * 4
    assert (outbox.depth(), outbox.quarantined(), pusher.batch_size) == (4, 0, 4)


async def test_samples_refused_for_their_time_are_dropped_and_counted(outbox: Outbox) -> None:
    samples = [sample() for _ in range(3)]
    refused = [{"id": str(samples[1].id), "reason": "timestamp is more than 30 days before"}]
    server = Server(
        lambda b: httpx.Response(200, json={"accepted": 2, "duplicates": 0, "refused": refused})
    )
    outbox.put(samples)
    assert (await make_pusher(outbox, server).push_batch()).step is Step.SENT
    assert outbox.depth() == 0
    assert outbox.rejected_total() == 1
    assert len(server.batches) == 1  # not retried


async def test_a_refusal_naming_samples_rejects_only_those(outbox: Outbox) -> None:
    samples = [sample() for _ in range(4)]
    detail = [{"field": "samples[2].ts", "message": "bad"}]
    calls: list[int] = []

    def answer(batch: IngestBatch) -> httpx.Response:
        calls.append(len(batch.samples))
        if len(calls) == 1:
            return httpx.Response(422, json={"error": "invalid", "detail": detail})
        return httpx.Response(200, json={"accepted": len(batch.samples), "duplicates": 0})

    outbox.put(samples)
    pusher = make_pusher(outbox, Server(answer))
    assert (await pusher.push_batch()).step is Step.AGAIN
    assert (outbox.depth(), outbox.rejected_total()) == (3, 1)
    assert (await pusher.push_batch()).step is Step.SENT
    assert calls == [4, 3]
