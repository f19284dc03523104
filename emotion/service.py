"""The emotion service: one WebSocket per client at ``/v0/stream/models`` (Hume v0 compatible).

``bedside emotion serve`` runs it on its own; ``bedside serve`` runs it in-process by default.
Per connection, requests are answered in order (Hume's clients rely on it); within a payload the
models run in parallel (:mod:`emotion.engine`). Every bad request gets an error message with a
code and the connection stays usable; a connection silent for ``idle_timeout_s`` is closed
(1000, "idle"). A message over ``max_message_bytes`` closes the connection (1009) because
WebSocket cannot skip it. With a token configured, the handshake needs ``X-Hume-Api-Key: <token>``,
``Authorization: Bearer <token>`` or ``?apikey=<token>``, else HTTP 401. ``GET /healthz`` answers 200.

Hostile clients (docs/emotion-service.md, "Limits"): the service will not start on a non-loopback
address without a token; a handshake with an Origin not in ``allowed_origins`` gets 403 (browsers
cannot reach it), one beyond ``max_connections`` gets 503. Audio is checked by its header before it
is decoded, and decoded off the event loop, ``workers`` payloads at a time. A reply the client does
not take within ``send_timeout_s`` closes the connection (1008, "slow reader").

Nothing a caller said is logged: requests are logged by size and timing only."""

from __future__ import annotations

import asyncio
import hmac
import itertools
import json
import signal
import time
from dataclasses import replace
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from emotion.audio import AudioInputError, AudioTooLong, decode_audio
from emotion.caller_baseline import CallerBaseline
from emotion.config import AdaptationConfig, ServiceConfig
from emotion.deployment_calibration import CalibrationFile, DeploymentCalibration
from emotion.engine import EmotionEngine, SegmentPrediction, TextPrediction, Timings
from emotion.protocol import (
    DEFAULT_STREAM_WINDOW_MS,
    PATH,
    ErrorCode,
    ProtocolError,
    error_message,
    parse_request,
    scores,
)
from emotion.protocol import Request as ScoreRequest
from telephony.audio import SAMPLE_RATE
from telephony.loopback import is_loopback

log = structlog.get_logger(component="emotion.service")

# Replies buffered beyond this make send() wait for the client to read, so send_timeout_s applies.
WRITE_LIMIT_BYTES = 64 * 1024
# A slow reader rarely takes its close frame; after this long the TCP connection is aborted.
SLOW_READER_CLOSE_S = 1.0
SLOW_READER_CODE = 1008  # policy violation: the client does not read its replies


class InsecureListen(PermissionError):
    """Listening beyond loopback with no token: anyone who can reach the port could use it.

    An OSError, so an in-process service that refuses to start leaves the SIP server running on
    the workspace defaults (``emotion_unavailable``), like a port that is taken."""


def check_exposure(config: ServiceConfig, host: str | None) -> None:
    """Refuses a non-loopback address without a token (InsecureListen, naming the setting)."""
    token = config.token.get_secret_value() if config.token else ""
    if not token and not is_loopback(host):
        raise InsecureListen(
            f"emotion service: refusing to listen on {host or 'every interface'!r} without a token; "
            "set BEDSIDE_EMOTION__SERVICE__TOKEN (emotion.service.token) or listen on 127.0.0.1"
        )


class StreamContext:
    """A connection's state: its recent audio (``stream_window_ms``), prepended to payloads shorter
    than a segment, and its caller's baseline (emotion/caller_baseline.py); ``reset_stream`` clears both."""

    def __init__(self, adaptation: AdaptationConfig | None = None) -> None:
        self.adaptation = adaptation or AdaptationConfig()
        self.audio = np.zeros(0, np.float32)
        self.baseline = CallerBaseline(self.adaptation)

    def push(self, x: np.ndarray, window_ms: int) -> None:
        keep = int(window_ms * SAMPLE_RATE / 1000)
        self.audio = np.concatenate([self.audio, x])[-keep:]

    def reset(self) -> None:
        self.audio = np.zeros(0, np.float32)
        self.baseline = CallerBaseline(self.adaptation)


class EmotionService:
    def __init__(self, engine: EmotionEngine, config: ServiceConfig | None = None) -> None:
        self.engine = engine
        self.config = config or ServiceConfig()
        self.pending = 0  # payloads accepted and not yet answered, across connections
        self.connections = 0
        self.served = 0
        self._ids = itertools.count(1)
        self._server: Server | None = None
        # Handshakes let in and not yet closed: counted here, not in _handle, so that a burst of
        # simultaneous handshakes cannot all pass the max_connections check.
        self._admitted: set[ServerConnection] = set()
        # At most `workers` payloads decode at once, so concurrent decodes cannot multiply memory.
        self._decode_slots = asyncio.Semaphore(self.config.workers)
        calibration = self.config.calibration_file
        self.calibration = CalibrationFile(Path(calibration) if calibration else None, on_event=log.info)

    # -- lifecycle --------------------------------------------------------------------------------
    async def start(self, host: str | None = None, port: int | None = None) -> tuple[str, int]:
        host = host if host is not None else self.config.host
        check_exposure(self.config, host)
        self._server = await serve(
            self._handle,
            host,
            port if port is not None else self.config.port,
            process_request=self._process_request,
            max_size=self.config.max_message_bytes,
            compression=None,  # base64 audio does not compress; deflate would only cost CPU
            ping_interval=20,
            ping_timeout=20,
            write_limit=WRITE_LIMIT_BYTES,
        )
        sock = next(iter(self._server.sockets))
        bound = sock.getsockname()[:2]
        log.info("emotion_service_listening", host=bound[0], port=bound[1], path=PATH, auth=self.config.token is not None)
        return bound[0], bound[1]

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = next(iter(self._server.sockets)).getsockname()[:2]
        return f"ws://{host}:{port}{PATH}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    # -- handshake --------------------------------------------------------------------------------
    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        if url.path == "/healthz":
            return connection.respond(HTTPStatus.OK, "ok\n")
        if url.path != PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, f"no such path; the service is at {PATH}\n")
        remote = str(connection.remote_address[0])
        if not self._origin_allowed(request):
            # Checked here rather than with serve(origins=...), which refuses silently (debug log).
            origins = request.headers.get_all("Origin")
            log.warning("emotion_origin_refused", remote=remote, origin=origins[0][:100] if origins else None, count=len(origins))
            return connection.respond(HTTPStatus.FORBIDDEN, "Origin not allowed (emotion.service.allowed_origins)\n")
        token = self.config.token.get_secret_value() if self.config.token else None
        if token and not self._authorised(request, url.query, token):
            log.warning("emotion_service_unauthorised", remote=remote)
            return connection.respond(HTTPStatus.UNAUTHORIZED, "missing or wrong API key\n")
        self._admitted = {c for c in self._admitted if c.state is not State.CLOSED}  # failed handshakes
        if len(self._admitted) >= self.config.max_connections:
            log.warning("emotion_connection_refused_full", remote=remote, limit=self.config.max_connections)
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "too many connections; try again later\n")
        self._admitted.add(connection)
        return None

    def _origin_allowed(self, request: Request) -> bool:
        """No Origin (non-browser clients) is fine; a browser's Origin must be listed, exactly once."""
        origins = request.headers.get_all("Origin")
        return not origins or (len(origins) == 1 and origins[0] in self.config.allowed_origins)

    @staticmethod
    def _authorised(request: Request, query: str, token: str) -> bool:
        keys, auths = request.headers.get_all("X-Hume-Api-Key"), request.headers.get_all("Authorization")
        if len(keys) > 1 or len(auths) > 1:
            return False  # repeated credentials: refuse rather than guess which one counts
        offered = keys[0] if keys else None
        auth = auths[0] if auths else ""
        if not offered and auth.lower().startswith("bearer "):
            offered = auth[7:].strip()
        if not offered:
            params = {k.lower(): v for k, v in parse_qs(query).items()}
            offered = (params.get("apikey") or [None])[0]
        return bool(offered) and hmac.compare_digest(offered.encode(), token.encode())

    # -- one connection ---------------------------------------------------------------------------
    async def _handle(self, ws: ServerConnection) -> None:
        conn = next(self._ids)
        self.connections += 1
        context = StreamContext(self.config.adaptation)
        log.info("emotion_connection_open", connection=conn, open_connections=self.connections)
        try:
            while True:
                try:
                    message = await asyncio.wait_for(ws.recv(), timeout=self.config.idle_timeout_s)
                except TimeoutError:
                    log.info("emotion_connection_idle", connection=conn, idle_s=self.config.idle_timeout_s)
                    await ws.close(1000, "idle")
                    return
                reply = await self._answer(message, context, conn)
                if not await self._send(ws, json.dumps(reply), conn):
                    return
        except ConnectionClosed as exc:
            if (exc.rcvd is not None and exc.rcvd.code == 1009) or (exc.sent is not None and exc.sent.code == 1009):
                log.warning("emotion_message_too_big", connection=conn, limit_bytes=self.config.max_message_bytes)
        finally:
            self._admitted.discard(ws)
            self.connections -= 1
            log.info("emotion_connection_closed", connection=conn, open_connections=self.connections)

    async def _send(self, ws: ServerConnection, text: str, conn: int) -> bool:
        """Sends a reply; False (connection closed) when the client has not taken it in send_timeout_s."""
        try:
            await asyncio.wait_for(ws.send(text), timeout=self.config.send_timeout_s)
            return True
        except TimeoutError:
            # send() waits only when WRITE_LIMIT_BYTES of replies are buffered: the client is not reading.
            log.warning("emotion_slow_reader", connection=conn, timeout_s=self.config.send_timeout_s,
                        buffered_bytes=ws.transport.get_write_buffer_size(), code=SLOW_READER_CODE)
        try:
            # The close frame queues behind the unread replies; give it a moment, then drop the socket.
            await asyncio.wait_for(ws.close(SLOW_READER_CODE, "slow reader"), timeout=SLOW_READER_CLOSE_S)
        except TimeoutError:
            ws.transport.abort()
        return False

    async def _answer(self, message: str | bytes, context: StreamContext, conn: int) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            request = parse_request(message, self.config.max_text_chars)
        except ProtocolError as exc:
            log.info("emotion_request_refused", connection=conn, code=str(exc.code), bytes=len(message))
            return exc.as_dict()
        if self.pending >= self.config.max_pending:
            log.warning("emotion_overloaded", connection=conn, pending=self.pending)
            return error_message(ErrorCode.OVERLOADED, f"{self.pending} payloads waiting; try again", request.payload_id)
        self.pending += 1
        try:
            reply = await self._score(request, context)
        except ProtocolError as exc:
            log.info("emotion_request_refused", connection=conn, code=str(exc.code), bytes=len(message))
            return exc.as_dict()
        except Exception:
            log.exception("emotion_scoring_failed", connection=conn)
            return error_message(ErrorCode.INTERNAL, "scoring failed; the error is in the service log", request.payload_id)
        finally:
            self.pending -= 1
        self.served += 1
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        log.debug("emotion_request_done", connection=conn, models=sorted(request.models), ms=round(elapsed_ms, 1))
        if request.job_details:
            reply["job_details"]["total_ms"] = round(elapsed_ms, 2)
        return reply

    async def _score(self, request: ScoreRequest, context: StreamContext) -> dict[str, Any]:
        timings = Timings()
        reply: dict[str, Any] = {"payload_id": request.payload_id}
        details: dict[str, Any] = {}
        if request.reset_stream:
            context.reset()
        if request.audio is not None:
            x = await self._decode(request.audio, request.payload_id)
            window_ms = request.stream_window_ms or DEFAULT_STREAM_WINDOW_MS
            baseline = context.baseline if "prosody" in request.models else None
            predictions = await self.engine.score_audio(x, request.models, context.audio, timings, baseline)
            calibration = self.calibration.current()
            if calibration is not None:
                predictions = [calibrated(p, calibration) for p in predictions]
            context.push(x, window_ms)
            for model in ("prosody", "burst"):
                if model in request.models:
                    reply[model] = {"predictions": [_audio_prediction(p, model) for p in predictions]}
            details = {"audio_s": round(x.size / SAMPLE_RATE, 3), "segments": len(predictions)}
        else:
            assert request.text is not None
            predictions = await self.engine.score_text(request.text, request.language.granularity, timings)
            calibration = self.calibration.current()
            if calibration is not None:
                predictions = [calibrated_words(p, calibration) for p in predictions]
            reply["language"] = {
                "predictions": [_text_prediction(p, request.language.sentiment, request.language.toxicity) for p in predictions]
            }
            details = {"characters": len(request.text), "granularity": str(request.language.granularity)}
        if request.job_details:
            reply["job_details"] = {**details, "models_ms": timings.ms}
        return reply

    async def _decode(self, audio: bytes, payload_id: str | None) -> np.ndarray:
        """Decodes off the event loop (a slow codec must not stall every other connection and, in
        process, the SIP front), a bounded number at a time; the header is checked first."""
        async with self._decode_slots:
            try:
                return await asyncio.to_thread(decode_audio, audio, self.config.max_audio_s)
            except AudioTooLong as exc:
                raise ProtocolError(ErrorCode.AUDIO_TOO_LONG, str(exc), payload_id) from None
            except AudioInputError as exc:
                raise ProtocolError(ErrorCode.UNDECODABLE_AUDIO, str(exc), payload_id) from None


def calibrated(p: SegmentPrediction, calibration: DeploymentCalibration) -> SegmentPrediction:
    """The segment as this deployment's calibration reads it (a segment without signal is left)."""
    if p.prosody is None or p.prosody.no_signal:
        return p
    reading = calibration.apply(p.prosody.valence, p.prosody.arousal, p.embedding)
    prosody = replace(p.prosody, valence=reading.valence, arousal=reading.arousal)
    return replace(p, prosody=prosody, calibration=reading)


def calibrated_words(p: TextPrediction, calibration: DeploymentCalibration) -> TextPrediction:
    """The words' valence as this deployment's QA reads it (words without signal are left)."""
    if p.result.no_signal:
        return p
    return replace(p, result=replace(p.result, valence=calibration.apply_language(p.result.valence)))


def _audio_prediction(p: SegmentPrediction, model: str) -> dict[str, Any]:
    out: dict[str, Any] = {"time": {"begin": round(p.begin, 3), "end": round(p.end, 3)}}
    if model == "prosody":
        assert p.prosody is not None and p.embedding is not None
        out["emotions"] = scores(p.prosody.emotions)
        out["valence"] = round(p.prosody.valence, 4)
        out["arousal"] = round(p.prosody.arousal, 4)
        # additive, like the burst's affect: how sure the reading is, and how it was read against the caller
        out["confidence"] = round(p.prosody.confidence, 4)
        if p.prosody.adaptation is not None:
            out["adaptation"] = p.prosody.adaptation.as_dict()
        out["embedding"] = [round(float(v), 5) for v in p.embedding]
        if p.calibration is not None:  # additive: how far this deployment's corrections moved it
            out["calibration"] = {"pull": round(p.calibration.pull, 4)}
        if p.prosody.no_signal:
            out["no_signal"] = True
    else:
        assert p.burst is not None
        out["emotions"] = scores(p.burst.emotions)
        out["type"] = p.burst.top
        if p.calibration is not None and p.calibration.burst is not None:
            out["type"] = p.calibration.burst  # QA said moments that sound like this are this burst
            out["calibrated"] = True
        # additive (Hume-v0 clients ignore unknown keys): the burst's meaning over EmoGator's 30
        # categories, as a {name: score} map like "emotions", and its valence/arousal
        out["affect"] = {name: round(float(v), 6) for name, v in p.burst.affect.items()}
        out["affect_valence"] = round(p.burst.affect_valence, 4)
        out["affect_arousal"] = round(p.burst.affect_arousal, 4)
        if p.burst.no_signal:
            out["no_signal"] = True
    return out


def _text_prediction(p: TextPrediction, sentiment: bool, toxicity: bool) -> dict[str, Any]:
    r = p.result
    out: dict[str, Any] = {
        "text": p.text,
        "position": {"begin": p.begin, "end": p.end},
        "emotions": scores(r.emotions),
        "valence": round(r.valence, 4),
        "arousal": round(r.arousal, 4),
        "confidence": round(r.confidence, 4),  # additive: how much the words say about feeling (valence is scaled by it)
    }
    if sentiment:
        out["sentiment"] = scores(r.sentiment)
    if toxicity:
        out["toxicity"] = scores(r.toxicity)
    return out


async def serve_forever(config: ServiceConfig, host: str | None = None, port: int | None = None) -> None:
    """``bedside emotion serve``: load the models, listen, and on SIGINT/SIGTERM close every
    connection (1001) and exit within a few seconds."""
    check_exposure(config, host if host is not None else config.host)  # before minutes of model loading
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    started = time.perf_counter()
    engine = await asyncio.to_thread(EmotionEngine.load, None, config.workers)
    log.info("emotion_models_loaded", seconds=round(time.perf_counter() - started, 2))
    service = EmotionService(engine, config)
    await service.start(host, port)
    log.info("ready", url=service.url)
    try:
        await stop.wait()
    finally:
        log.info("stopping", open_connections=service.connections)
        try:
            await asyncio.wait_for(service.stop(), timeout=5.0)
        except TimeoutError:
            log.warning("emotion_stop_timeout")
        engine.close()
        log.info("stopped", served=service.served)
