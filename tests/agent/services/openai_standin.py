"""A STAND-IN for a real OpenAI-compatible chat-completions endpoint (no LLM can run here).

It speaks the wire format the ``openai`` client expects -- ``POST /v1/chat/completions``,
with ``stream: true`` answered as Server-Sent Events (``data: {chunk}\\n\\n`` ... ``data:
[DONE]``) in OpenAI's ``chat.completion.chunk`` shape, over HTTP/1.1 chunked transfer (so a
dropped connection is an error to the client, as with a real server) -- but its replies are
scripted by the test: the tokens, a delay before the first token (or before the headers), a
delay between tokens, an HTTP error status, a connection dropped mid-stream. Every request body
is recorded (to assert on the prompt), and every token's send time (to assert on latency).

It runs on its own thread and event loop, so sync tests, async tests and a separate agent
process can all use it. Standalone, for trying the call path by hand::

    python -m tests.agent.services.openai_standin --port 8089 --text "Hello there. How can I help?"
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

_TOKEN = re.compile(r"\s*\S+?(?=[\s.,!?;:]|$)|\s*[.,!?;:]+|\s+")


def tokenize(text: str) -> tuple[str, ...]:
    """Word-ish tokens the way an LLM streams them: a leading space on each word, punctuation apart."""
    tokens = tuple(_TOKEN.findall(text))
    assert "".join(tokens) == text, "tokenize must be lossless"
    return tokens


@dataclass(frozen=True)
class Reply:
    """How the stand-in answers one request."""

    tokens: tuple[str, ...] = ("Hello", ".")
    first_token_delay_s: float = 0.0  # after the headers and the role chunk, before the first token
    token_delay_s: float = 0.0  # between tokens
    headers_delay_s: float = 0.0  # before anything is sent (``create()`` itself waits)
    status: int = 200  # anything else: a JSON error body, no stream
    drop_after: int | None = None  # abort the connection after this many tokens (no [DONE])
    finish_reason: str = "stop"

    @classmethod
    def text(cls, text: str, **kwargs: Any) -> Reply:
        return cls(tokens=tokenize(text), **kwargs)

    @classmethod
    def error(cls, status: int = 500, **kwargs: Any) -> Reply:
        return cls(tokens=(), status=status, **kwargs)


@dataclass(frozen=True)
class ReceivedRequest:
    at: float  # time.monotonic() when the body was read
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    @property
    def system(self) -> str:
        return "\n".join(m.get("content", "") for m in self.messages if m.get("role") == "system")


@dataclass(frozen=True)
class SentToken:
    request: int  # index into ``requests``
    index: int  # token number within the reply
    text: str
    at: float  # time.monotonic() right after it was written and drained


Responder = Callable[[dict[str, Any]], Reply]


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    queued: deque[Reply] = field(default_factory=deque)
    requests: list[ReceivedRequest] = field(default_factory=list)
    sent: list[SentToken] = field(default_factory=list)


class OpenAIStandIn:
    """``with OpenAIStandIn(Reply.text("Hi.")) as server: ... server.base_url ...``

    Replies: queued ones (``queue``) answer the next requests in order; after that ``default``
    (a :class:`Reply`, or a function of the request body returning one)."""

    def __init__(self, default: Reply | Responder = Reply(), host: str = "127.0.0.1", port: int = 0) -> None:
        self._default = default
        self._host = host
        self._port = port
        self._state = _State()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # ---- test API ----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._port}/v1"

    def queue(self, *replies: Reply) -> None:
        with self._state.lock:
            self._state.queued.extend(replies)

    def set_default(self, default: Reply | Responder) -> None:
        with self._state.lock:
            self._default = default

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._state.lock:
            return list(self._state.requests)

    @property
    def sent(self) -> list[SentToken]:
        with self._state.lock:
            return list(self._state.sent)

    def tokens_sent(self, request: int) -> list[SentToken]:
        return [t for t in self.sent if t.request == request]

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> OpenAIStandIn:
        self._thread = threading.Thread(target=self._run, name="openai-standin", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the stand-in server did not start")
        if self._error is not None:
            raise RuntimeError("the stand-in server failed to start") from self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> OpenAIStandIn:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, self._host, self._port)
        self._port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            # Handlers may be sleeping in a scripted delay: do not wait for them.
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()

    # ---- HTTP --------------------------------------------------------------------------------

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._state.lock:
            if self._state.queued:
                return self._state.queued.popleft()
            default = self._default
        return default(body) if callable(default) else default

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await self._read_request(reader)
            if request is None:
                return
            method, path, headers, raw = request
            if method == "GET" and path.rstrip("/") == "/v1/models":
                await self._send_json(writer, 200, {"object": "list", "data": [{"id": "standin", "object": "model",
                                                                               "created": 0, "owned_by": "test"}]})
                return
            if method != "POST" or path.rstrip("/") != "/v1/chat/completions":
                await self._send_json(writer, 404, {"error": {"message": f"no route {method} {path}", "type": "not_found"}})
                return
            body = json.loads(raw or b"{}")
            with self._state.lock:
                index = len(self._state.requests)
                self._state.requests.append(ReceivedRequest(time.monotonic(), method, path, headers, body))
            reply = self._next_reply(body)
            if reply.headers_delay_s:
                await asyncio.sleep(reply.headers_delay_s)
            if reply.status != 200:
                error = {"error": {"message": f"stand-in error {reply.status}", "type": "server_error", "code": None}}
                await self._send_json(writer, reply.status, error)
            elif body.get("stream"):
                await self._stream(writer, index, body, reply)
            else:
                await self._complete(writer, index, body, reply)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away (e.g. it cancelled the stream): nothing to answer
        finally:
            if not writer.is_closing():
                writer.close()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, path, _version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            raw = b""
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                raw += chunk[:-2]
        else:
            raw = await reader.readexactly(int(headers.get("content-length", "0")))
        return method, path, headers, raw

    @staticmethod
    async def _send_json(writer: asyncio.StreamWriter, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        writer.write(
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode() + data
        )
        await writer.drain()

    @staticmethod
    def _chunk(body: dict[str, Any], delta: dict[str, Any], finish: str | None, created: int) -> dict[str, Any]:
        return {
            "id": "chatcmpl-standin",
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.get("model", "standin"),
            "system_fingerprint": "fp_standin",
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }

    @staticmethod
    async def _event(writer: asyncio.StreamWriter, data: str) -> None:
        payload = f"data: {data}\n\n".encode()
        writer.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
        await writer.drain()

    async def _stream(self, writer: asyncio.StreamWriter, index: int, body: dict[str, Any], reply: Reply) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        created = int(time.time())
        await self._event(writer, json.dumps(self._chunk(body, {"role": "assistant", "content": ""}, None, created)))
        if reply.first_token_delay_s:
            await asyncio.sleep(reply.first_token_delay_s)
        for number, token in enumerate(reply.tokens):
            if reply.drop_after is not None and number >= reply.drop_after:
                writer.transport.abort()  # mid-stream: no final chunk, no [DONE], no chunked terminator
                return
            if number and reply.token_delay_s:
                await asyncio.sleep(reply.token_delay_s)
            await self._event(writer, json.dumps(self._chunk(body, {"content": token}, None, created)))
            with self._state.lock:
                self._state.sent.append(SentToken(index, number, token, time.monotonic()))
        if reply.drop_after is not None:
            writer.transport.abort()
            return
        await self._event(writer, json.dumps(self._chunk(body, {}, reply.finish_reason, created)))
        await self._event(writer, "[DONE]")
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def _complete(self, writer: asyncio.StreamWriter, index: int, body: dict[str, Any], reply: Reply) -> None:
        """``stream: false``: the whole reply at once, as ``chat.completion``."""
        if reply.first_token_delay_s:
            await asyncio.sleep(reply.first_token_delay_s)
        text = "".join(reply.tokens)
        with self._state.lock:
            now = time.monotonic()
            self._state.sent.extend(SentToken(index, n, t, now) for n, t in enumerate(reply.tokens))
        await self._send_json(writer, 200, {
            "id": "chatcmpl-standin",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "standin"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                         "finish_reason": reply.finish_reason}],
            "usage": {"prompt_tokens": 0, "completion_tokens": len(reply.tokens), "total_tokens": len(reply.tokens)},
        })


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a scripted OpenAI-compatible endpoint (a test stand-in).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--text", default="Of course. I can help with that.")
    parser.add_argument("--token-delay", type=float, default=0.03)
    parser.add_argument("--first-token-delay", type=float, default=0.2)
    args = parser.parse_args(argv)
    reply = Reply.text(args.text, token_delay_s=args.token_delay, first_token_delay_s=args.first_token_delay)
    with OpenAIStandIn(reply, args.host, args.port) as server:
        print(f"stand-in OpenAI endpoint at {server.base_url} (Ctrl-C to stop)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
