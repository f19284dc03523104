"""A SIP worker's connection to its node's model host (agent/services/model_host.py).

One socket per worker process, shared by its calls: requests carry ids, a reader task routes
each answer to its waiter, keeps the host's last ``STATUS`` and hands each ``PHRASE`` to the
worker's shared phrases. A request whose caller gives up (hang-up, barge-in) is cancelled at the
host too. A lost connection fails the requests in flight (each adapter turns that into its own
"the call goes on" answer) and the next request connects again."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable

import structlog

from agent.services.model_host import ModelHostAddress
from agent.services.model_wire import Frame, HostStatus, Op, WireError, read_frame

log = structlog.get_logger(component="model_client")

CONNECT_TIMEOUT_S = 5.0


class HostError(RuntimeError):
    """The host answered with an error (``kind``: overloaded, stopped, failed, refused) or could not be reached."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


class ModelHostClient:
    def __init__(self, address: ModelHostAddress, on_phrase: Callable[[Frame], None] | None = None) -> None:
        self.address = address
        self._on_phrase = on_phrase
        self._ids = itertools.count(1)
        self._waiters: dict[int, asyncio.Queue[Frame]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._connecting: asyncio.Lock | None = None
        self.status = HostStatus()
        self.reconnects = 0

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self) -> None:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self.connected:
                return
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_unix_connection(self.address.socket_path), CONNECT_TIMEOUT_S)
                writer.write(Frame(Op.HELLO, 0, {"token": self.address.token, "subscribe": True}).encode())
                hello = await asyncio.wait_for(read_frame(reader), CONNECT_TIMEOUT_S)
            except (OSError, TimeoutError, WireError) as exc:
                raise HostError("unreachable", type(exc).__name__) from None
            if hello.op is not Op.HELLO:
                writer.close()
                raise HostError("refused", "the model host did not accept the token")
            if self._reader_task is not None:
                self.reconnects += 1
            self._writer = writer
            self._reader_task = asyncio.create_task(self._read(reader, writer), name="model-client-reader")

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                frame = await read_frame(reader)
                if frame.op is Op.STATUS:
                    self.status = HostStatus(**frame.fields)
                elif frame.op is Op.PHRASE:
                    self._phrase(frame)
                elif (queue := self._waiters.get(frame.id)) is not None:
                    queue.put_nowait(frame)
        except (WireError, OSError) as exc:
            log.error("model_host_lost", error=type(exc).__name__, in_flight=len(self._waiters))
        finally:
            writer.close()
            if self._writer is writer:
                self._writer = None
                self.status = HostStatus()
            for queue in self._waiters.values():  # every request in flight learns at once
                queue.put_nowait(Frame(Op.ERROR, 0, {"kind": "unreachable", "message": "connection lost"}))

    def _phrase(self, frame: Frame) -> None:
        if self._on_phrase is None:
            return
        try:
            self._on_phrase(frame)
        except Exception as exc:  # noqa: BLE001 - an entry it cannot read is a cache miss (synthesized instead), not a lost host
            log.error("model_host_phrase_unreadable", error=type(exc).__name__)

    async def _send(self, frame: Frame) -> None:
        if not self.connected:
            await self.connect()
        assert self._writer is not None
        self._writer.write(frame.encode())
        await self._writer.drain()

    def _cancel(self, ident: int) -> None:
        self._waiters.pop(ident, None)
        if self.connected:
            assert self._writer is not None
            self._writer.write(Frame(Op.CANCEL, ident).encode())

    async def request(self, op: Op, fields: dict[str, object], payload: bytes = b"") -> Frame:
        """One request, one answer (``RESULT``); an ``ERROR`` raises ``HostError``."""
        ident, queue = self._open()
        try:
            await self._send(Frame(op, ident, fields, payload))
            frame = await queue.get()
        except (OSError, WireError) as exc:
            self._waiters.pop(ident, None)
            raise HostError("unreachable", type(exc).__name__) from None
        except BaseException:
            self._cancel(ident)  # given up on (the call hung up): the host drops it too
            raise
        self._waiters.pop(ident, None)
        return _raise_error(frame)

    async def stream(self, op: Op, fields: dict[str, object], payload: bytes = b"") -> AsyncIterator[Frame]:
        """One request, its ``CHUNK`` answers until ``END``; closing early cancels it at the host."""
        ident, queue = self._open()
        finished = False
        try:
            await self._send(Frame(op, ident, fields, payload))
            while True:
                frame = await queue.get()
                if frame.op in (Op.END, Op.ERROR):
                    finished = True
                    _raise_error(frame)
                    return
                yield frame
        except (OSError, WireError) as exc:
            finished = True
            raise HostError("unreachable", type(exc).__name__) from None
        finally:
            if finished:
                self._waiters.pop(ident, None)
            else:
                self._cancel(ident)  # closed early (barge-in) or cancelled

    def _open(self) -> tuple[int, asyncio.Queue[Frame]]:
        ident = next(self._ids)
        queue: asyncio.Queue[Frame] = asyncio.Queue()
        self._waiters[ident] = queue
        return ident, queue

    @property
    def in_flight(self) -> int:
        return len(self._waiters)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task


def _raise_error(frame: Frame) -> Frame:
    if frame.op is Op.ERROR:
        raise HostError(str(frame.fields.get("kind", "failed")), str(frame.fields.get("message", "")))
    return frame


__all__ = ["HostError", "ModelHostClient"]
