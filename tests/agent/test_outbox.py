"""The outbox keeps every sample until acked, stays within its byte bound, counts every drop,
and survives kill -9."""

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.outbox import INVENTORY_HASH, AsyncOutbox, Outbox
from wire.enums import ProbeKind
from wire.ids import uuid7
from wire.schema import Sample


def sample(device: str = "cam-01", pad: int = 0) -> Sample:
    return Sample(
        id=uuid7(),
        device_id=device,
        ts=datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
        probe=ProbeKind.TCP,
        reachable=True,
        latency_ms=1.5,
        checks={"pad": "x" * pad},
    )


def size_of(s: Sample) -> int:
    return len(s.model_dump_json().encode())


@pytest.fixture
def outbox(tmp_path: Path) -> Outbox:
    return Outbox(tmp_path / "outbox.sqlite", max_bytes=1_000_000)


def test_put_peek_ack_keeps_fifo_order_and_bodies(outbox: Outbox) -> None:
    samples = [sample(device=f"d-{i}") for i in range(5)]
    outbox.put(samples)
    pending = outbox.peek(3)
    assert [Sample.model_validate_json(p.body) for p in pending] == samples[:3]
    assert [p.device_id for p in pending] == ["d-0", "d-1", "d-2"]
    assert outbox.ack(p.seq for p in pending) == 3
    assert [Sample.model_validate_json(p.body).id for p in outbox.peek(10)] == [
        s.id for s in samples[3:]
    ]
    assert outbox.depth() == 2
    assert outbox.bytes() == sum(size_of(s) for s in samples[3:])
    assert outbox.total_enqueued() == 5


def test_state_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    first = Outbox(path, max_bytes=1_000_000)
    first.put([sample(), sample()])
    first.ack([first.peek(1)[0].seq])
    first.reject([first.peek(1)[0].seq], "test")
    first.put([sample()])
    first.set_meta(INVENTORY_HASH, "abc")
    first.close()
    again = Outbox(path, max_bytes=1_000_000)
    assert again.depth() == 1
    assert again.total_enqueued() == 3
    assert again.rejected_total() == 1
    assert again.get_meta(INVENTORY_HASH) == "abc"
    assert again.bytes() == size_of(Sample.model_validate_json(again.peek(1)[0].body))


def test_uses_wal_journal(outbox: Outbox) -> None:
    with sqlite3.connect(outbox.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_full_outbox_drops_oldest_counts_and_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    one = size_of(sample())
    box = Outbox(tmp_path / "o.sqlite", max_bytes=one * 3)
    samples = [sample() for _ in range(5)]
    for s in samples:
        box.put([s])
    kept = [Sample.model_validate_json(p.body).id for p in box.peek(10)]
    assert kept == [s.id for s in samples[2:]]
    assert box.dropped_total() == 2
    assert "dropped 1 oldest samples" in caplog.text


def test_oldest_age_uses_the_injected_clock(tmp_path: Path) -> None:
    now = [1000.0]
    box = Outbox(tmp_path / "o.sqlite", max_bytes=1_000_000, clock=lambda: now[0])
    assert box.oldest_age() is None
    box.put([sample()])
    now[0] = 1042.5
    box.put([sample()])
    assert box.oldest_age() == pytest.approx(42.5)


def test_reject_counts_and_logs_reason(outbox: Outbox, caplog: pytest.LogCaptureFixture) -> None:
    outbox.put([sample(), sample()])
    assert outbox.reject([p.seq for p in outbox.peek(5)], "HTTP 422 bad checks") == 2
    assert outbox.rejected_total() == 2
    assert outbox.depth() == 0
    assert "HTTP 422 bad checks" in caplog.text


async def test_async_facade_runs_the_same_operations(outbox: Outbox) -> None:
    box = AsyncOutbox(outbox)
    await box.put([sample()])
    pending = await box.peek(5)
    assert await box.depth() == 1
    await box.ack([p.seq for p in pending])
    stats = await box.stats()
    assert (stats.depth, stats.bytes, stats.oldest_age) == (0, 0, None)


# Each operation: ("put", pad sizes) or ("ack", how many of the oldest).
operations = st.lists(
    st.one_of(
        st.tuples(st.just("put"), st.lists(st.integers(0, 400), min_size=1, max_size=4)),
        st.tuples(st.just("ack"), st.integers(0, 5)),
    ),
    max_size=25,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations, bound=st.integers(600, 3000))
def test_bound_fifo_and_exact_drop_count(
    tmp_path_factory: pytest.TempPathFactory, ops: list[tuple[str, object]], bound: int
) -> None:
    box = Outbox(tmp_path_factory.mktemp("prop") / "o.sqlite", max_bytes=bound)
    model: list[tuple[str, int]] = []  # (sample id, size) in queue order
    dropped = acked = 0
    for op, arg in ops:
        if op == "put":
            assert isinstance(arg, list)
            new = [sample(pad=p) for p in arg]
            box.put(new)
            model += [(str(s.id), size_of(s)) for s in new]
            while sum(size for _, size in model) > bound:
                model.pop(0)
                dropped += 1
        else:
            assert isinstance(arg, int)
            pending = box.peek(arg)
            box.ack(p.seq for p in pending)
            acked += len(pending)
            model = model[len(pending) :]
        assert box.bytes() <= bound
        assert box.bytes() == sum(size for _, size in model)
        ids = [json.loads(p.body)["id"] for p in box.peek(1000)]
        assert ids == [sid for sid, _ in model]
    assert box.dropped_total() == dropped
    assert box.total_enqueued() == dropped + acked + box.depth()
    box.close()


WRITER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from pathlib import Path
    from agent.outbox import Outbox
    from wire.enums import ProbeKind
    from wire.ids import uuid7
    from wire.schema import Sample

    box = Outbox(Path(sys.argv[1]), max_bytes=100_000_000)
    while True:
        s = Sample(id=uuid7(), device_id="cam-01", ts=datetime.now(UTC), probe=ProbeKind.TCP,
                   reachable=True)
        box.put([s])
        print(s.id, flush=True)  # printed only after put() committed
    """
)


def test_committed_samples_survive_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    committed = [child.stdout.readline().strip() for _ in range(200)]
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    box = Outbox(path, max_bytes=100_000_000)
    stored = {json.loads(p.body)["id"] for p in box.peek(1_000_000)}
    assert set(committed) <= stored
    assert box.total_enqueued() == box.depth() >= len(committed)
    box.put([sample()])  # and it still takes writes
    assert box.total_enqueued() == box.depth()
