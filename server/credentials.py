"""Guessing passwords is slow and cheap for us: one login limiter for the console and the API,
and a bound on concurrent password hashing.

The limiter keys failures by account *and* address together, and by address alone: an address
that keeps failing is told to wait (429, before any hashing), while the account's real owner,
logging in from elsewhere, is not locked out. Each Argon2 verification takes 64 MiB; at most
`max_hashing` run at once and a login beyond that is answered 503 at once instead of queueing
memory (200 concurrent wrong logins took a server from 305 MB to 1.2 GB).

In memory, per server process: behind several replicas an address gets a few more tries per
window, still far from a useful guessing rate. Pure apart from the semaphore; clock injected.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from server.errors import RateLimitedError, UnavailableError

MAX_TRACKED_KEYS = 10_000


@dataclass
class LoginLimiter:
    """At most `per_account_address` failed logins per `window` for one account from one
    address, and `per_address` from one address over all accounts (higher: an office behind
    one NAT shares it)."""

    per_account_address: int = 5
    per_address: int = 20
    window: timedelta = timedelta(minutes=5)
    _failures: dict[str, deque[datetime]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def _keys(username: str, address: str) -> tuple[str, str]:
        return f"u:{username.lower()}|a:{address}", f"a:{address}"

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def retry_after(self, *, username: str, address: str, now: datetime) -> timedelta | None:
        """How long this address must wait before trying this account, or None."""
        pair, alone = self._keys(username, address)
        waits = []
        with self._lock:
            for key, limit in ((pair, self.per_account_address), (alone, self.per_address)):
                times = self._recent(key, now)
                if len(times) >= limit:
                    waits.append(times[0] + self.window - now)
        return max(waits) if waits else None

    def check(self, *, username: str, address: str, now: datetime) -> None:
        """RateLimitedError (429 with Retry-After) when this address must wait."""
        wait = self.retry_after(username=username, address=address, now=now)
        if wait is not None:
            raise RateLimitedError(
                "too many failed logins from this address; wait and try again",
                retry_after_s=int(wait.total_seconds()) + 1,
            )

    def failed(self, *, username: str, address: str, now: datetime) -> None:
        with self._lock:
            for key in self._keys(username, address):
                self._recent(key, now).append(now)
            if len(self._failures) > MAX_TRACKED_KEYS:  # bound memory under a spray of names
                for key in [k for k, v in self._failures.items() if not v][: MAX_TRACKED_KEYS // 2]:
                    del self._failures[key]

    def succeeded(self, *, username: str, address: str) -> None:
        with self._lock:
            self._failures.pop(self._keys(username, address)[0], None)


class HashingGate:
    """At most `max_hashing` password verifications at once; more are refused, not queued."""

    def __init__(self, max_hashing: int = 4, wait_s: float = 2.0) -> None:
        self.max_hashing = max_hashing
        self._wait_s = wait_s
        self._slots = threading.BoundedSemaphore(max_hashing)

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._slots.acquire(timeout=self._wait_s):
            raise UnavailableError("too many logins at once; retry in a moment")
        try:
            yield
        finally:
            self._slots.release()


@dataclass
class Credentials:
    """What every login path shares (console form and API token endpoint)."""

    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    gate: HashingGate = field(default_factory=HashingGate)
