"""UUIDv7 (RFC 9562) sample ids: time-ordered, so index appends stay cheap on both databases."""

import os
import threading
import time
from collections.abc import Callable
from uuid import UUID


class Uuid7Factory:
    """Monotonic UUIDv7 generator; within one millisecond, rand_a counts up (RFC 9562 §6.2 m.1)."""

    def __init__(self, clock_ns: "Callable[[], int] | None" = None) -> None:
        self._clock_ns = clock_ns or time.time_ns
        self._lock = threading.Lock()
        self._last_ms = -1
        self._counter = 0

    def __call__(self) -> UUID:
        with self._lock:
            ms = self._clock_ns() // 1_000_000
            if ms > self._last_ms:
                self._last_ms = ms
                self._counter = int.from_bytes(os.urandom(2)) & 0x3FF  # leave room to count up
            else:
                # Same (or a backwards-stepped) millisecond: stay on the last one and count up.
                self._counter += 1
                if self._counter > 0xFFF:
                    self._last_ms += 1
                    self._counter = 0
                ms = self._last_ms
            rand_b = int.from_bytes(os.urandom(8)) & ((1 << 62) - 1)
            value = (ms & ((1 << 48) - 1)) << 80
            value |= 0x7 << 76
            value |= self._counter << 64
            value |= 0b10 << 62
            value |= rand_b
            return UUID(int=value)


uuid7 = Uuid7Factory()
