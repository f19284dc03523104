"""A node's speech models, loaded once, served to the node's SIP worker processes.

The pjsua2 wheel holds four calls per process, so a node of 16 calls runs five SIP processes.
Each one loading Whisper, the piper voice (whose onnxruntime arena grows with every sentence),
the MiniLM sentence encoder and the phrase cache cost about 850 MB per process (docs/benchmarks.md).
The front process loads them once and serves them here, on a Unix socket (agent/services/model_wire.py):

- ``TRANSCRIBE``: the front's ``SttWorker``. One queue for the node: the calls of every process
  queue fairly for the decoder instead of five Whispers contending for the same cores.
- ``SYNTHESIZE``: the front's piper voice, one ``CHUNK`` per sentence as ``PiperSynthesizer.stream``.
- ``EMBED``: the graph's sentence encoder (the workers' graphs and turns).
- The pre-synthesized sentences: a file the workers map (tts/shared_phrases.py), each new one
  announced with ``PHRASE``.
- ``STATUS`` on change: whether STT is idle, its queue depth, whether TTS is busy; partial
  decodes and sentences prepared ahead give way to live turns node-wide, as they did per process.

The socket is in a directory only this user can open (removed at stop, or by the next front if
this one was killed), and a connection must present the token the front handed its workers on
stdin (agent/app/workers.py) before anything else."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import secrets
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import structlog

from agent.services.model_wire import Frame, HostStatus, Op, WireError, read_frame
from agent.services.private_dirs import make_private_dir, remove_orphans
from agent.services.stt import SttOverloaded, SttStopped, SttWorker
from tts.shared_phrases import PhraseFileWriter
from tts.synthesizer import PiperSynthesizer, VoiceParams

log = structlog.get_logger(component="model_host")

HELLO_TIMEOUT_S = 5.0
STATUS_EVERY_S = 0.02  # one playout tick: a worker's view of the node's STT/TTS is at most this old
PREFIX = "bedside-models-"
MAX_IN_FLIGHT = 64  # per connection; a worker has four calls, each with a few requests at most


class Embedder(Protocol):
    def encode(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class ModelHostAddress:
    """What a worker needs to reach its node's models (a secret: handed over on stdin only)."""

    socket_path: str
    phrase_path: str
    token: str

    def fields(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> ModelHostAddress:
        return cls(str(fields["socket_path"]), str(fields["phrase_path"]), str(fields["token"]))


class _Connection:
    def __init__(self, writer: asyncio.StreamWriter, subscribed: bool) -> None:
        self.writer = writer
        self.subscribed = subscribed  # gets STATUS and PHRASE (the embedder's blocking socket does not)
        self.requests: dict[int, asyncio.Task[None]] = {}

    def send(self, frame: Frame) -> None:
        if not self.writer.is_closing():
            self.writer.write(frame.encode())  # one write per frame: concurrent senders never interleave


class ModelHost:
    def __init__(self, stt: SttWorker, synth: PiperSynthesizer, embedder: Embedder | None, max_phrase_bytes: int) -> None:
        self.stt = stt
        self.synth = synth
        self.embedder = embedder
        remove_orphans(PREFIX)  # a front killed with SIGKILL could not remove its own
        self._dir = make_private_dir(PREFIX)  # 0700: only this user can reach the socket
        self.address = ModelHostAddress(str(self._dir / "models.sock"), str(self._dir / "phrases.pcm"),
                                        secrets.token_urlsafe(32))
        self.phrases = PhraseFileWriter(Path(self.address.phrase_path), max_phrase_bytes)
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._status: HostStatus | None = None
        self._status_task: asyncio.Task[None] | None = None
        self.requests = 0

    async def start(self) -> ModelHostAddress:
        self._server = await asyncio.start_unix_server(self._serve, path=self.address.socket_path)
        self._status_task = asyncio.create_task(self._keep_status(), name="model-host-status")
        log.info("model_host_ready", phrases=len(self.phrases.entries), phrase_mb=round(self.phrases.bytes / 1e6, 1),
                 embeddings=self.embedder is not None)
        return self.address

    def phrase_added(self, text: str, params: VoiceParams, pcm: bytes) -> None:
        """``PhraseCache.on_added``: into the shared file, then announced to every worker."""
        entry = self.phrases.append(text, params, pcm)
        if entry is not None:
            self._broadcast(Frame(Op.PHRASE, 0, entry.fields()))

    def _current_status(self) -> HostStatus:
        return HostStatus(self.stt.idle, self.stt.queue_depth, self.synth.busy)

    def _broadcast(self, frame: Frame) -> None:
        for connection in list(self._connections):
            if connection.subscribed:
                connection.send(frame)

    async def _keep_status(self) -> None:
        while True:
            status = self._current_status()
            if status != self._status:
                self._status = status
                self._broadcast(Frame(Op.STATUS, 0, asdict(status)))
            await asyncio.sleep(STATUS_EVERY_S)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection: _Connection | None = None
        try:
            hello = await asyncio.wait_for(read_frame(reader), HELLO_TIMEOUT_S)
            token = str(hello.fields.get("token", ""))
            if hello.op is not Op.HELLO or not hmac.compare_digest(token.encode(), self.address.token.encode()):
                log.warning("model_host_refused", reason="bad hello")
                return
            connection = _Connection(writer, bool(hello.fields.get("subscribe", True)))
            connection.send(Frame(Op.HELLO, hello.id))
            if connection.subscribed:
                connection.send(Frame(Op.STATUS, 0, asdict(self._current_status())))
                for entry in list(self.phrases.entries.values()):
                    connection.send(Frame(Op.PHRASE, 0, entry.fields()))
            self._connections.add(connection)
            while True:
                frame = await read_frame(reader)
                if frame.op is Op.CANCEL:
                    task = connection.requests.get(frame.id)
                    if task is not None:
                        task.cancel()
                    continue
                if len(connection.requests) >= MAX_IN_FLIGHT or frame.id in connection.requests:
                    connection.send(Frame(Op.ERROR, frame.id, {"kind": "refused", "message": "too many requests"}))
                    continue
                task = asyncio.create_task(self._handle(connection, frame), name=f"model-host-{frame.op}")
                connection.requests[frame.id] = task
                task.add_done_callback(lambda _, c=connection, i=frame.id: c.requests.pop(i, None))
        except (WireError, TimeoutError, OSError) as exc:
            if connection is None:
                log.warning("model_host_refused", reason=type(exc).__name__)
        finally:
            if connection is not None:
                self._connections.discard(connection)
                for task in list(connection.requests.values()):
                    task.cancel()  # the worker is gone: its queued decodes are skipped
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _handle(self, connection: _Connection, frame: Frame) -> None:
        self.requests += 1
        try:
            if frame.op is Op.TRANSCRIBE:
                transcript = await self.stt.transcribe(frame.payload, str(frame.fields.get("call_id", "")))
                connection.send(Frame(Op.RESULT, frame.id, asdict(transcript)))
            elif frame.op is Op.SYNTHESIZE:
                params = VoiceParams(**frame.fields["params"])
                async for pcm in self.synth.stream(str(frame.fields["text"]), params):
                    connection.send(Frame(Op.CHUNK, frame.id, payload=pcm))
                    await connection.writer.drain()
                connection.send(Frame(Op.END, frame.id))
            elif frame.op is Op.EMBED and self.embedder is not None:
                texts = [str(t) for t in frame.fields["texts"]]
                vectors = np.ascontiguousarray(await asyncio.to_thread(self.embedder.encode, texts), dtype=np.float32)
                connection.send(Frame(Op.RESULT, frame.id, {"shape": list(vectors.shape)}, vectors.tobytes()))
            else:
                connection.send(Frame(Op.ERROR, frame.id, {"kind": "refused", "message": f"no {frame.op} here"}))
        except asyncio.CancelledError:
            raise
        except SttOverloaded as exc:
            connection.send(Frame(Op.ERROR, frame.id, {"kind": "overloaded", "message": str(exc)}))
        except SttStopped as exc:
            connection.send(Frame(Op.ERROR, frame.id, {"kind": "stopped", "message": str(exc)}))
        except Exception as exc:  # noqa: BLE001 - one bad request must not end the host; the worker is told
            log.exception("model_host_request_failed", op=frame.op.value)  # no text: only the op is logged
            connection.send(Frame(Op.ERROR, frame.id, {"kind": "failed", "message": type(exc).__name__}))

    async def stop(self) -> None:
        if self._status_task is not None:
            self._status_task.cancel()
            await asyncio.gather(self._status_task, return_exceptions=True)
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.writer.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)
        self.phrases.close()
        shutil.rmtree(self._dir, ignore_errors=True)
        log.info("model_host_stopped", requests=self.requests)


__all__ = ["ModelHost", "ModelHostAddress"]
