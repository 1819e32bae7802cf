"""Delivery through Apprise: one URL, one message, an error that says what went wrong."""

from __future__ import annotations

import asyncio
from typing import Protocol

import apprise


class DeliveryError(Exception):
    """A message did not go out; `permanent` ones are not retried (bad URL, unknown channel)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Sender(Protocol):
    async def send(self, url: str, title: str, body: str) -> None:
        """Deliver or raise DeliveryError."""


class AppriseSender:
    """Sends through Apprise in a worker thread (its transports block), under a deadline."""

    def __init__(self, *, timeout_seconds: float = 30.0) -> None:
        self.timeout_seconds = timeout_seconds

    def _send_blocking(self, url: str, title: str, body: str) -> None:
        client = apprise.Apprise()
        if not client.add(url):
            # Apprise refuses URLs it cannot parse; its log line would repeat the secret URL.
            scheme = url.split("://", 1)[0] if "://" in url else "?"
            raise DeliveryError(f"Apprise does not accept this {scheme}:// URL", permanent=True)
        result = client.notify(body=body, title=title, timeout=self.timeout_seconds)
        if not result:
            problems = [e.message for e in result.logs() if e.level in ("WARNING", "ERROR")]
            detail = "; ".join(dict.fromkeys(problems)) or f"status {result.status.name}"
            raise DeliveryError(detail)

    async def send(self, url: str, title: str, body: str) -> None:
        try:
            async with asyncio.timeout(self.timeout_seconds + 5):
                await asyncio.to_thread(self._send_blocking, url, title, body)
        except TimeoutError as err:
            raise DeliveryError(f"no answer within {self.timeout_seconds:g} s") from err
