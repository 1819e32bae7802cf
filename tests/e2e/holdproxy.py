"""A TCP pass-through that, when armed, keeps the server's next answer from reaching the agent.

Why not a mock: the server must really store the batch while the agent never hears back, which is
the moment a SIGKILL of the agent is most dangerous ("stored on the server, not yet acked").
"""

import asyncio
import contextlib
import threading


class HoldProxy:
    """Forwards 127.0.0.1:`port` to 127.0.0.1:`upstream_port` in a thread of its own."""

    def __init__(self, *, port: int, upstream_port: int) -> None:
        self.port = port
        self.upstream_port = upstream_port
        self.held = threading.Event()
        self._armed = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="holdproxy", daemon=True
        )
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=5)

    def arm(self) -> None:
        """Hold the next server → agent bytes and drop that connection."""
        self.held.clear()
        self._armed.set()

    def disarm(self) -> None:
        self._armed.clear()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        to_server = asyncio.create_task(self._pipe(reader, up_writer, hold=False))
        to_agent = asyncio.create_task(self._pipe(up_reader, writer, hold=True))
        await asyncio.wait((to_server, to_agent), return_when=asyncio.FIRST_COMPLETED)
        for task in (to_server, to_agent):
            task.cancel()
        for w in (writer, up_writer):
            w.close()
            self._writers.discard(w)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, hold: bool
    ) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while chunk := await reader.read(65536):
                if hold and self._armed.is_set():
                    self._armed.clear()
                    self.held.set()
                    # Keep the agent's connection open and silent until the test kills it.
                    await asyncio.Event().wait()
                writer.write(chunk)
                await writer.drain()
