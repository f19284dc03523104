"""Configuration of the emotion subsystem: the service, each call's client, the rolling window and
the workspace defaults. Every threshold lives here, with its default and meaning."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceMode(StrEnum):
    IN_PROCESS = "in_process"  # `bedside serve` runs the service itself
    REMOTE = "remote"  # calls connect to `url` (a `bedside emotion serve` elsewhere)
    OFF = "off"  # no emotion: every call runs on the workspace defaults


class AdaptationConfig(_Strict):
    """Per-caller adaptation of the prosody reading; the rule is in emotion/caller_baseline.py."""

    enabled: bool = Field(True, description="read each caller against their own voice as well as in absolute terms")
    prior_segments: float = Field(
        1.0, ge=0, description="the actors' resting voice counts as this many of the caller's segments in the baseline"
    )
    learn_segments: int = Field(5, ge=1, description="the caller's first voiced segments always teach the baseline")
    resting_min: float = Field(
        0.2, ge=0, le=1, description="later segments teach it only if read this resting (neutral + calm probability)"
    )
    max_segments: int = Field(150, ge=1, description="the baseline stops learning after this many segments (5 min of speech)")
    resting_share: float = Field(
        0.5, gt=0, lt=1, description="share of a caller's segments expected to be resting (neutral or calm); the actors' "
        "recordings had a fifth, so a caller's reading is re-weighted toward rest (0.2 = no change)",
    )


class ServiceConfig(_Strict):
    mode: ServiceMode = Field(ServiceMode.IN_PROCESS, description="in_process, remote or off")
    host: str = Field(
        "127.0.0.1",
        description="address the service listens on (in_process and `emotion serve`); a non-loopback address needs a token",
    )
    port: int = Field(8765, ge=0, le=65535, description="service port (0 = any free port)")
    url: str | None = Field(None, description="remote mode: ws://host:port/v0/stream/models")
    token: SecretStr | None = Field(
        None, description="require this token (X-Hume-Api-Key or Authorization: Bearer); prefer BEDSIDE_EMOTION__SERVICE__TOKEN"
    )
    idle_timeout_s: float = Field(60.0, gt=0, description="close connections silent for this long")
    max_audio_s: float = Field(5.0, gt=0, le=60, description="longest audio payload scored")
    max_text_chars: int = Field(10_000, ge=1, description="longest text payload scored")
    max_message_bytes: int = Field(
        4 * 1024 * 1024, ge=1024, description="largest WebSocket message accepted; bigger ones close the connection (1009)"
    )
    workers: int = Field(2, ge=1, le=16, description="scoring threads (the models release the GIL)")
    max_pending: int = Field(64, ge=1, description="payloads waiting for a scoring thread; beyond it, answer 'overloaded'")
    max_connections: int = Field(
        64, ge=1, description="open WebSocket connections (each call holds one: keep >= sip.max_calls); beyond it the handshake gets HTTP 503"
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="browser Origins allowed to connect (e.g. https://ops.example.org); a handshake with any other Origin "
        "gets 403; clients that send no Origin (the calls, SDKs) are not affected",
    )
    adaptation: AdaptationConfig = Field(default_factory=AdaptationConfig)
    calibration_file: str | None = Field(
        "var/emotion-calibration.json",
        description="this deployment's calibration (`bedside emotion calibrate` writes it from QA's corrections); "
        "picked up while running when it appears or changes; missing = the models as trained; null = never",
    )
    send_timeout_s: float = Field(
        10.0, gt=0, description="a reply the client has not taken in this long closes the connection (1008, slow reader)"
    )

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        # YAML 1.1 reads a bare `off` (file, env or --set) as false; it means the mode.
        return ServiceMode.OFF if value is False else value


class BreakerConfig(_Strict):
    failure_threshold: int = Field(2, ge=1, description="consecutive failures (timeout, error, disconnect) that open it")
    open_s: float = Field(10.0, gt=0, description="seconds it stays open before a half-open probe")


class ClientConfig(_Strict):
    audio_queue: int = Field(5, ge=1, description="2-s segments waiting to be sent; when full, new ones are dropped")
    text_queue: int = Field(20, ge=1, description="transcripts waiting to be sent; when full, new ones are dropped")
    timeout_s: float = Field(2.0, gt=0, description="an answer slower than this is a failure")
    connect_timeout_s: float = Field(2.0, gt=0, description="opening the WebSocket")
    backoff_initial_s: float = Field(0.5, gt=0, description="first reconnect delay; doubles per failed attempt")
    backoff_max_s: float = Field(10.0, gt=0, description="longest reconnect delay")
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)


class WindowConfig(_Strict):
    """The rolling window's rule is in emotion/window.py; these are its numbers."""

    horizon_s: float = Field(30.0, gt=0, description="readings older than this drop out; weights fall linearly to 0 here")
    max_readings: int = Field(15, ge=1, description="readings kept per channel (15 x 2-s segments = 30 s)")
    prior_weight: float = Field(
        1.0, ge=0, description="each channel starts from neutral with this weight of readings: a few unsure readings stay near it"
    )
    prosody_weight: float = Field(0.4, gt=0, description="prosody's share of the fused valence/arousal")
    burst_weight: float = Field(0.2, gt=0, description="vocal bursts' share (only while a burst is in the window)")
    language_weight: float = Field(0.4, gt=0, description="the words' share when voice and words agree")
    language_min_weight: float = Field(
        0.12, gt=0, description="the words' share when voice and words disagree completely (keep >= language_weight/4)"
    )
    burst_min_score: float = Field(0.5, gt=0, le=1, description="a segment is a burst when its top type (not none) scores this")
    named_min_probability: float = Field(
        0.5, gt=0, le=1,
        description="a segment is read as its top voice emotion only when it scores this (calibrated: more likely than not); "
                    "below, the segment's reading is 'unsure'",
    )
    trend_threshold_per_min: float = Field(
        1.5, gt=0, description="slope of valence (per minute) beyond which the trend is improving/deteriorating"
    )
    trend_min_readings: int = Field(5, ge=2, description="fewer voice/word readings: trend stays stable")
    trend_min_span_s: float = Field(8.0, ge=0, description="readings spanning less time: trend stays stable")


class DefaultsConfig(_Strict):
    """The workspace defaults a call uses while emotion is unavailable (breaker open, service off)."""

    valence: float = Field(0.0, ge=-1, le=1, description="assumed valence")
    arousal: float = Field(0.35, ge=0, le=1, description="assumed arousal")


class EmotionConfig(_Strict):
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    client: ClientConfig = Field(default_factory=ClientConfig)
    window: WindowConfig = Field(default_factory=WindowConfig)
    defaults: DefaultsConfig = Field(default_factory=DefaultsConfig)
