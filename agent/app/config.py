"""Bedside's whole configuration: one pydantic model, loaded from YAML, then environment, then flags.

Precedence (highest first): command-line flags, ``BEDSIDE_*`` environment variables
(nested with ``__``, e.g. ``BEDSIDE_SIP__PORT=5070``), the YAML file, the defaults below.
``configs/bedside.yaml`` lists every value with its default."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.app.console.config import ConsoleConfig
from agent.app.telemetry import TelemetryConfig
from agent.call.call_phase import CallPhaseConfig
from agent.call.escalation import EscalationConfig
from agent.call.turn_config import TurnConfig
from agent.call.voice_style import VoiceStyleConfig
from agent.services.llm import LlmConfig
from agent.services.records.config import RecordsConfig
from agent.services.stt_config import SttConfig
from emotion.config import EmotionConfig
from graph.config import GraphConfig
from graph.yaml_source import ConfigError, key_positions, read_mapping, validation_problems
from telephony.config import SegmentationConfig, SipConfig, WebRtcConfig
from tts.config import TtsConfig


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LoggingConfig(_Strict):
    level: str = Field("INFO", description="DEBUG, INFO, WARNING, ERROR")
    json_output: bool = Field(True, description="JSON lines (structlog); false = console rendering")
    log_transcripts: bool = Field(False, description="log transcript text and caller numbers at INFO (PHI!)")


class NodeConfig(_Strict):
    """Which Bedside node this is, when several run behind one SIP front (docs/deployment.md)."""

    name: str | None = Field(
        None, min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="this node's name in call records, the webhook outbox, metrics and traces; null = the host name. "
        "Nodes that share one records database must have different names (a starting node marks its own "
        "unfinished calls interrupted)",
    )
    shared_models: bool = Field(
        True, description="SIP worker processes (sip.max_calls over 3) use the front process's Whisper, piper voice, "
        "sentence encoder and pre-synthesized sentences over a local socket instead of loading their own "
        "(about 600 MB less per worker; docs/benchmarks.md). false: every process loads its own",
    )


class BedsideConfig(_Strict):
    node: NodeConfig = Field(default_factory=NodeConfig)
    sip: SipConfig = Field(default_factory=SipConfig)
    segmentation: SegmentationConfig = Field(default_factory=SegmentationConfig)
    stt: SttConfig = Field(default_factory=SttConfig)
    tts: TtsConfig = Field(default_factory=TtsConfig)
    turn: TurnConfig = Field(default_factory=TurnConfig)
    graph: GraphConfig = Field(default_factory=GraphConfig)
    voice_style: VoiceStyleConfig = Field(default_factory=VoiceStyleConfig)
    call_phase: CallPhaseConfig = Field(default_factory=CallPhaseConfig)
    escalation: EscalationConfig = Field(default_factory=EscalationConfig)
    llm: LlmConfig = Field(default_factory=LlmConfig)
    emotion: EmotionConfig = Field(default_factory=EmotionConfig)
    records: RecordsConfig = Field(default_factory=RecordsConfig)
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    webrtc: WebRtcConfig = Field(default_factory=WebRtcConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)


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
