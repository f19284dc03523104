"""Sentence embeddings on the node's model host, for a SIP worker's conversation graph.

The graph's matcher calls ``encode`` synchronously (on the event loop for a turn, on a thread
for a graph reload), so this adapter has its own blocking socket, one request at a time under a
lock: a one-sentence turn costs the host's encode plus well under a millisecond of socket. A
host that does not answer raises ``HostError`` after ``timeout_s``; the matcher then goes on
with keywords and the keypad alone (graph/matcher.py), and a graph compile fails as a bad
graph does."""

from __future__ import annotations

import itertools
import socket
import threading

import numpy as np

from agent.services.model_client import HostError
from agent.services.model_host import ModelHostAddress
from agent.services.model_wire import Frame, Op, WireError, read_frame_blocking


class RemoteEmbedder:
    def __init__(self, address: ModelHostAddress, timeout_s: float = 2.0) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout_s)
        try:
            sock.connect(self.address.socket_path)
            sock.sendall(Frame(Op.HELLO, 0, {"token": self.address.token, "subscribe": False}).encode())
            if read_frame_blocking(sock).op is not Op.HELLO:
                raise HostError("refused", "the model host did not accept the token")
        except BaseException:
            sock.close()
            raise
        return sock

    def encode(self, texts: list[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        with self._lock:
            for attempt in range(2):  # a connection the host closed (it restarted) is opened again once
                try:
                    if self._sock is None:
                        self._sock = self._connect()
                    ident = next(self._ids)
                    self._sock.sendall(Frame(Op.EMBED, ident, {"texts": texts}).encode())
                    frame = read_frame_blocking(self._sock)
                    break
                except (OSError, WireError) as exc:
                    self._close_locked()
                    if attempt:
                        raise HostError("unreachable", type(exc).__name__) from None
        if frame.op is Op.ERROR or frame.id != ident:
            raise HostError(str(frame.fields.get("kind", "failed")), str(frame.fields.get("message", "")))
        rows, dim = (int(n) for n in frame.fields["shape"])
        return np.frombuffer(frame.payload, dtype=np.float32).reshape(rows, dim)

    def _close_locked(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def close(self) -> None:
        with self._lock:
            self._close_locked()


__all__ = ["RemoteEmbedder"]
