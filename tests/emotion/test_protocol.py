"""Parsing Hume v0 requests: every field, every refusal, and the text spans per granularity."""

from __future__ import annotations

import base64
import json

import pytest

from emotion.engine import text_spans
from emotion.protocol import ErrorCode, Granularity, ProtocolError, encode_audio_request, encode_text_request, parse_request


def parse(body: dict | str) -> object:
    return parse_request(body if isinstance(body, str) else json.dumps(body), max_text_chars=100)


def refused(body: dict | str | bytes) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse_request(body if isinstance(body, (str, bytes)) else json.dumps(body), max_text_chars=100)
    return info.value


def test_audio_and_text_payloads() -> None:
    req = parse_request(encode_audio_request(b"RIFFdata", "p1"), 100)
    assert req.audio == b"RIFFdata" and req.models == {"prosody", "burst"} and req.payload_id == "p1"
    req = parse_request(encode_text_request("hello there", "p2"), 100)
    assert req.text == "hello there" and req.language.granularity is Granularity.PASSAGE
    assert req.language.sentiment and req.language.toxicity
    req = parse({"data": "hi", "raw_text": True, "models": {"language": {}}, "reset_stream": True,
                 "stream_window_ms": 2000, "job_details": True})
    assert req.language.granularity is Granularity.WORD and not req.language.sentiment
    assert req.reset_stream and req.stream_window_ms == 2000 and req.job_details and req.payload_id is None
    req = parse({"data": base64.b64encode("héllo".encode()).decode(), "models": {"language": {}}})
    assert req.text == "héllo"  # Hume: a base64 text file for language


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{not json", ErrorCode.BAD_JSON),
        (b"\xff\xfe", ErrorCode.BAD_JSON),
        ("[1, 2]", ErrorCode.BAD_REQUEST),
        ({"data": "x", "models": {"prosody": {}}, "extra": 1}, ErrorCode.BAD_REQUEST),
        ({"data": "x", "raw_text": True}, ErrorCode.NO_MODELS),
        ({"data": "x", "raw_text": True, "models": {}}, ErrorCode.NO_MODELS),
        ({"data": "x", "raw_text": True, "models": {"face": {}}}, ErrorCode.UNKNOWN_MODEL),
        ({"data": "x", "raw_text": True, "models": {"language": 3}}, ErrorCode.BAD_REQUEST),
        ({"models": {"prosody": {}}}, ErrorCode.MISSING_DATA),
        ({"data": "", "models": {"prosody": {}}}, ErrorCode.MISSING_DATA),
        ({"data": "   ", "raw_text": True, "models": {"language": {}}}, ErrorCode.MISSING_DATA),
        ({"data": 5, "models": {"prosody": {}}}, ErrorCode.BAD_REQUEST),
        ({"data": "@@@@", "models": {"prosody": {}}}, ErrorCode.BAD_BASE64),
        ({"data": "x" * 101, "raw_text": True, "models": {"language": {}}}, ErrorCode.TEXT_TOO_LONG),
        ({"data": "x", "raw_text": True, "models": {"burst": {}}}, ErrorCode.BAD_REQUEST),
        ({"data": "eA==", "models": {"prosody": {}, "language": {}}}, ErrorCode.BAD_REQUEST),
        ({"data": "/w==", "models": {"language": {}}}, ErrorCode.BAD_REQUEST),
        ({"data": "x", "raw_text": "yes", "models": {"language": {}}}, ErrorCode.BAD_REQUEST),
        ({"data": "x", "raw_text": True, "models": {"language": {"granularity": "para"}}}, ErrorCode.BAD_REQUEST),
        ({"data": "x", "raw_text": True, "models": {"language": {"sentiment": True}}}, ErrorCode.BAD_REQUEST),
        ({"data": "x", "raw_text": True, "models": {"language": {"colour": 1}}}, ErrorCode.BAD_REQUEST),
        ({"data": "x", "raw_text": True, "models": {"language": {}}, "stream_window_ms": 20_000}, ErrorCode.BAD_REQUEST),
        ({"data": "x", "raw_text": True, "models": {"language": {}}, "payload_id": 7}, ErrorCode.BAD_REQUEST),
        ("[" * 100_000, ErrorCode.BAD_JSON),  # nested too deeply: a RecursionError before the fix
        ('{"a":' * 100_000, ErrorCode.BAD_JSON),
        ('{"data": ' + "1" * 5000 + "}", ErrorCode.BAD_JSON),  # over Python's int digit limit: a ValueError
        ({"data": "hi \ud800", "raw_text": True, "models": {"language": {}}}, ErrorCode.BAD_REQUEST),  # lone surrogate
    ],
)
def test_refusals(body: dict | str | bytes, code: ErrorCode) -> None:
    error = refused(body)
    assert error.code is code and error.message
    d = error.as_dict()
    assert set(d) == {"error", "code", "payload_id"} and d["code"] == code.value


def test_refusal_keeps_the_payload_id() -> None:
    assert refused({"data": "x", "raw_text": True, "models": {"face": {}}, "payload_id": "z9"}).payload_id == "z9"


def test_text_spans() -> None:
    text = "Hello there.  I need help!\nSecond line"
    assert text_spans(text, Granularity.PASSAGE) == [(0, len(text), text)]
    assert [t for *_, t in text_spans(text, Granularity.UTTERANCE)] == ["Hello there.  I need help!", "Second line"]
    sentences = text_spans(text, Granularity.SENTENCE)
    assert [text[b:e] for b, e, _ in sentences] == ["Hello there.", "I need help!", "Second line"]
    words = text_spans(text, Granularity.WORD)
    assert [text[b:e] for b, e, _ in words][:4] == ["Hello", "there.", "I", "need"]
    assert words[3][2] == "I need"  # a word is scored with the words before it in its sentence
    many = " ".join(f"w{i}" for i in range(30))
    assert len(text_spans(many, Granularity.WORD)[-1][2].split()) == 12
