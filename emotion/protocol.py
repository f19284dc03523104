"""The emotion service's wire format: Hume's retired v0 streaming Expression Measurement API.

A request is one JSON text message::

    {"data": "<base64 audio file> | <text>", "raw_text": false,
     "models": {"prosody": {}, "burst": {},
                "language": {"granularity": "word|sentence|utterance|passage", "sentiment": {}, "toxicity": {}}},
     "payload_id": "...", "reset_stream": false, "stream_window_ms": 5000, "job_details": false}

An *audio payload* (``raw_text`` false) asks for prosody and/or burst; a *text payload*
(``raw_text`` true) asks for language. The answer holds only the requested models, in Hume's
shape; Bedside adds fields (``valence``, ``arousal``, ``embedding``, ``type``) without removing any.
A request that cannot be served gets ``{"error", "code", "payload_id"}`` and the connection stays
open. :func:`parse_request` turns a message into a :class:`Request` or a :class:`ProtocolError`."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

PATH = "/v0/stream/models"
AUDIO_MODELS = frozenset({"prosody", "burst"})
TEXT_MODELS = frozenset({"language"})
KNOWN_MODELS = AUDIO_MODELS | TEXT_MODELS
STREAM_WINDOW_MS = (500, 10_000)  # Hume's accepted range
DEFAULT_STREAM_WINDOW_MS = 5000


class ErrorCode(StrEnum):
    BAD_JSON = "bad_json"
    BAD_REQUEST = "bad_request"  # valid JSON, wrong shape or types, or models that do not fit the payload
    MISSING_DATA = "missing_data"
    BAD_BASE64 = "bad_base64"
    UNDECODABLE_AUDIO = "undecodable_audio"
    AUDIO_TOO_LONG = "audio_too_long"
    TEXT_TOO_LONG = "text_too_long"
    UNKNOWN_MODEL = "unknown_model"
    NO_MODELS = "no_models"
    OVERLOADED = "overloaded"  # too many payloads waiting: try again, nothing was scored
    INTERNAL = "internal"


class Granularity(StrEnum):
    WORD = "word"  # each word, in the context of the words before it in its sentence
    SENTENCE = "sentence"
    UTTERANCE = "utterance"  # each line of the text (a transcript turn)
    PASSAGE = "passage"  # the whole text


class ProtocolError(Exception):
    def __init__(self, code: ErrorCode, message: str, payload_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.payload_id = payload_id

    def as_dict(self) -> dict[str, Any]:
        return error_message(self.code, self.message, self.payload_id)


def error_message(code: ErrorCode, message: str, payload_id: str | None) -> dict[str, Any]:
    return {"error": message, "code": str(code), "payload_id": payload_id}


@dataclass(frozen=True)
class LanguageOptions:
    granularity: Granularity = Granularity.WORD  # Hume's default
    sentiment: bool = False
    toxicity: bool = False


@dataclass(frozen=True)
class Request:
    payload_id: str | None
    models: frozenset[str]
    audio: bytes | None = None  # an audio file's bytes (wav, flac, mp3, ...)
    text: str | None = None
    language: LanguageOptions = field(default_factory=LanguageOptions)
    reset_stream: bool = False
    stream_window_ms: int | None = None
    job_details: bool = False


_REQUEST_KEYS = {"data", "raw_text", "models", "payload_id", "reset_stream", "stream_window_ms", "job_details"}
_LANGUAGE_KEYS = {"granularity", "sentiment", "toxicity", "identify_speakers"}


def parse_request(message: str | bytes, max_text_chars: int) -> Request:
    """Validate one message; every problem is a ProtocolError with the code a client can act on."""
    if isinstance(message, bytes):
        try:
            message = message.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(ErrorCode.BAD_JSON, "binary frames are not accepted: send the request as JSON text") from None
    try:
        body = json.loads(message)
    except json.JSONDecodeError as exc:
        raise ProtocolError(ErrorCode.BAD_JSON, f"request is not valid JSON: {exc.msg} at character {exc.pos}") from None
    except RecursionError:
        # The C parser stops at the interpreter's recursion limit (under 1,000 levels; a request
        # needs 3) after reading only that many characters, so deep nesting costs nothing.
        raise ProtocolError(ErrorCode.BAD_JSON, "request is nested too deeply") from None
    except ValueError:  # e.g. an integer over Python's 4,300-digit limit
        raise ProtocolError(ErrorCode.BAD_JSON, "request holds a value this parser refuses (e.g. a number too long)") from None
    if not isinstance(body, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"request must be a JSON object, not {type(body).__name__}")
    payload_id = body.get("payload_id")
    if payload_id is not None and not isinstance(payload_id, str):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "payload_id must be a string")

    def fail(code: ErrorCode, msg: str) -> ProtocolError:
        return ProtocolError(code, msg, payload_id)

    unknown = sorted(set(body) - _REQUEST_KEYS)
    if unknown:
        raise fail(ErrorCode.BAD_REQUEST, f"unknown request fields {unknown}; known: {sorted(_REQUEST_KEYS)}")
    raw_text = _bool(body, "raw_text", fail)
    models = body.get("models")
    if models is None:
        raise fail(ErrorCode.NO_MODELS, "no models requested: set \"models\", e.g. {\"prosody\": {}}")
    if not isinstance(models, dict):
        raise fail(ErrorCode.BAD_REQUEST, "models must be an object, e.g. {\"prosody\": {}, \"burst\": {}}")
    unknown_models = sorted(set(models) - KNOWN_MODELS)
    if unknown_models:
        raise fail(ErrorCode.UNKNOWN_MODEL, f"unknown model(s) {unknown_models}; this service runs {sorted(KNOWN_MODELS)}")
    if not models:
        raise fail(ErrorCode.NO_MODELS, "no models requested: models is empty")
    for name, options in models.items():
        if not isinstance(options, dict):
            raise fail(ErrorCode.BAD_REQUEST, f"models.{name} must be an object (use {{}} for defaults)")
    chosen = frozenset(models)
    language = _language_options(models.get("language") or {}, fail)
    data = body.get("data")
    if data is None or data == "":
        raise fail(ErrorCode.MISSING_DATA, "no data: send base64 audio, or text with raw_text true")
    if not isinstance(data, str):
        raise fail(ErrorCode.BAD_REQUEST, "data must be a string (base64, or text with raw_text true)")
    window = body.get("stream_window_ms")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or not STREAM_WINDOW_MS[0] <= window <= STREAM_WINDOW_MS[1]):
        raise fail(ErrorCode.BAD_REQUEST, f"stream_window_ms must be an integer from {STREAM_WINDOW_MS[0]} to {STREAM_WINDOW_MS[1]}")
    common = dict(
        payload_id=payload_id, models=chosen, language=language, reset_stream=_bool(body, "reset_stream", fail),
        stream_window_ms=window, job_details=_bool(body, "job_details", fail),
    )
    if raw_text:
        if chosen & AUDIO_MODELS:
            raise fail(ErrorCode.BAD_REQUEST, f"{sorted(chosen & AUDIO_MODELS)} score audio; a text payload (raw_text) takes only language")
        return Request(text=_checked_text(data, max_text_chars, fail), **common)  # type: ignore[arg-type]
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise fail(ErrorCode.BAD_BASE64, "data is not valid base64 (send text with raw_text true)") from None
    if chosen <= TEXT_MODELS:  # Hume: a base64 text file for the language model
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise fail(ErrorCode.BAD_REQUEST, "language needs text: the base64 data is not UTF-8 text") from None
        return Request(text=_checked_text(text, max_text_chars, fail), **common)  # type: ignore[arg-type]
    if chosen & TEXT_MODELS:
        raise fail(
            ErrorCode.BAD_REQUEST,
            "language scores text: send the transcript as its own text payload (raw_text true), audio with prosody/burst",
        )
    return Request(audio=raw, **common)  # type: ignore[arg-type]


def _bool(body: dict[str, Any], key: str, fail) -> bool:
    value = body.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise fail(ErrorCode.BAD_REQUEST, f"{key} must be true or false")
    return value


def _language_options(options: dict[str, Any], fail) -> LanguageOptions:
    unknown = sorted(set(options) - _LANGUAGE_KEYS)
    if unknown:
        raise fail(ErrorCode.BAD_REQUEST, f"unknown language options {unknown}; known: {sorted(_LANGUAGE_KEYS)}")
    granularity = options.get("granularity", Granularity.WORD.value)
    try:
        granularity = Granularity(granularity)
    except ValueError:
        raise fail(ErrorCode.BAD_REQUEST, f"granularity must be one of {[g.value for g in Granularity]}") from None
    for key in ("sentiment", "toxicity"):
        if key in options and options[key] is not None and not isinstance(options[key], dict):
            raise fail(ErrorCode.BAD_REQUEST, f"language.{key} must be an object ({{}} turns it on)")
    return LanguageOptions(granularity, options.get("sentiment") is not None, options.get("toxicity") is not None)


def _checked_text(text: str, max_chars: int, fail) -> str:
    if len(text) > max_chars:
        raise fail(ErrorCode.TEXT_TOO_LONG, f"text is {len(text):,} characters; the limit is {max_chars:,}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") would fail later, in the tokenizer
        raise fail(ErrorCode.BAD_REQUEST, "text is not valid Unicode (lone surrogate)") from None
    if not text.strip():
        raise fail(ErrorCode.MISSING_DATA, "text is empty")
    return text


def scores(mapping: dict[str, float]) -> list[dict[str, Any]]:
    """{name: score} -> Hume's [{"name": ..., "score": ...}] (model order kept)."""
    return [{"name": name, "score": round(float(value), 6)} for name, value in mapping.items()]


def encode_audio_request(wav: bytes, payload_id: str, models: tuple[str, ...] = ("prosody", "burst")) -> str:
    return json.dumps({"data": base64.b64encode(wav).decode("ascii"), "models": {m: {} for m in models}, "payload_id": payload_id})


def encode_text_request(text: str, payload_id: str, granularity: Granularity = Granularity.PASSAGE) -> str:
    return json.dumps({
        "data": text, "raw_text": True, "payload_id": payload_id,
        "models": {"language": {"granularity": str(granularity), "sentiment": {}, "toxicity": {}}},
    })
