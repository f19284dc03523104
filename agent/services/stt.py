"""Speech to text: Whisper (CTranslate2 via faster-whisper) behind one asyncio worker shared by all calls.

``WhisperTranscriber`` is the synchronous engine. faster-whisper's ``transcribe()`` always pads
to 30 s of audio, which costs ~1 s per utterance for tiny.en on two cores; an utterance is
usually 1-5 s, so the encoder is fed a shorter window (``encoder_window_s``, 10 s) and decoded
greedily, about three times faster (docs/stt.md has the numbers). Short windows sometimes make
Whisper loop ("nine nine nine ..."); such outputs are decoded again with the full 30 s window.
Audio longer than the window goes through faster-whisper's normal long-form path: nothing is
ever dropped.

Non-speech (silence, noise, tones, clicks) must give empty text, never a hallucinated
sentence: cheap gates run before the model (length, loudness after DC removal) and Whisper's
own no-speech probability / average log-probability gate the result.

``SttWorker`` owns ``workers`` transcribers, each on its own thread, and a bounded queue;
a full queue is reported at once (``SttOverloaded``) instead of making a call wait."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import ctranslate2
import numpy as np
import structlog

from agent.services.model_paths import model_dir
from agent.services.stt_config import SttConfig, SttModel
from telephony.audio import SAMPLE_RATE, pcm16_to_float

log = structlog.get_logger(component="stt")

FULL_WINDOW_S = 30.0  # what Whisper was trained on
FRAMES_PER_S = 100  # mel frames (10 ms hop)
# Generous token budget (fast speech is ~4-5 tokens/s): it stops runaway loops early, and
# hitting it marks the decode as degenerate.
MAX_TOKENS_PER_S = 8.0
MIN_NEW_TOKENS = 16
# A looping decode is redone with a longer window: 20 s loops ~1 % of the time (10 s: ~13 %,
# mostly single words) at a third of the 30 s cost; 30 s is the last resort.
RETRY_WINDOWS_S = (20.0, FULL_WINDOW_S)

# Whisper's stock outputs for non-speech (subtitle credits from its training data). Dropped
# only when the no-speech probability is raised too: a caller may really say "thank you".
HALLUCINATIONS = frozenset(
    {
        "thank you",
        "thank you very much",
        "thank you so much",
        "thanks",
        "thanks for watching",
        "thank you for watching",
        "thank you so much for watching",
        "please subscribe",
        "subscribe",
        "you",
    }
)
HALLUCINATION_FRAGMENTS = ("for watching", "next video", "subscribe", "amara org")


@dataclass(frozen=True)
class Transcript:
    text: str
    audio_s: float
    elapsed_s: float  # pure inference time in the transcriber (no queueing)
    queue_wait_s: float  # time the job waited in SttWorker's queue
    no_speech_prob: float
    avg_logprob: float
    model: str
    window_s: float = 0.0  # encoder window finally used (0: not run, 30: full/long-form path)
    # why the text was blanked: too_short, silence, no_speech, low_confidence, no_words, hallucination
    filtered: str = ""


class SttError(RuntimeError):
    """Base of the errors ``SttWorker.transcribe`` raises on its own."""


class SttOverloaded(SttError):
    """The queue is full (or a job waited past ``max_queue_wait_s``): the caller should move on."""


class SttStopped(SttError):
    """The worker is not running (not started yet, or stopping)."""


def normalize_words(text: str) -> str:
    """Lowercase words without punctuation: for hallucination and loop checks."""
    return " ".join(re.sub(r"[^\w' ]+", " ", text.lower()).replace("_", " ").split())


_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL = dict(one="first", two="second", three="third", five="fifth", eight="eighth", nine="ninth", twelve="twelfth")


def number_to_words(n: int) -> str:
    """1234 -> 'one thousand two hundred thirty four' (no 'and'; hyphen-free, as WER needs)."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            rest = n % size
            return f"{number_to_words(n // size)} {name}" + (f" {number_to_words(rest)}" if rest else "")
    raise AssertionError("unreachable")


def _ordinal(words: str) -> str:
    head, _, last = words.rpartition(" ")
    last = _ORDINAL.get(last) or (last[:-1] + "ieth" if last.endswith("y") else last + "th")
    return f"{head} {last}".strip()


def _spell_number(match: re.Match[str]) -> str:
    digits, suffix = match.group(1).replace(",", ""), (match.group(2) or "").lower()
    whole, _, frac = digits.partition(".")
    words = number_to_words(int(whole)) if len(whole) <= 12 else " ".join(_ONES[int(d)] for d in whole)
    if frac:
        words += " point " + " ".join(_ONES[int(d)] for d in frac)
    return f" {_ordinal(words) if suffix else words} "


def normalize_for_wer(text: str) -> str:
    """What WER is computed on (scripts/eval_stt.py and the tests): lowercase, numbers spelled out,
    no punctuation. '2nd', '10:30' and '1,500' become 'second', 'ten thirty', 'one thousand five hundred'."""
    text = text.lower().replace("%", " percent").replace("&", " and ")
    text = re.sub(r"(\d+(?:,\d{3})*(?:\.\d+)?)(st|nd|rd|th)?\b", _spell_number, text)
    text = re.sub(r"[^a-z0-9' ]+", " ", text)  # hyphens, colons, periods -> word breaks
    return " ".join(w.strip("'") for w in text.split() if w.strip("'"))


def has_repeat(text: str) -> bool:
    """True when some word n-gram is immediately repeated ("nine nine", "test, test, test")."""
    words = normalize_words(text).split()
    for n in range(1, len(words) // 2 + 1):
        for i in range(len(words) - 2 * n + 1):
            if words[i : i + n] == words[i + n : i + 2 * n]:
                return True
    return False


@dataclass
class _Decoded:
    text: str
    no_speech_prob: float
    avg_logprob: float
    window_s: float
    degenerate: bool  # looped or ran out of tokens
    filtered: str = ""  # already judged non-speech (long-form path skipped every window)


class WhisperTranscriber:
    """One CTranslate2 Whisper model. Synchronous and NOT thread safe: one thread per instance."""

    def __init__(self, config: SttConfig, path: Path | None = None, warmup: bool = True) -> None:
        # Here, not at the top: a SIP worker that uses its front's Whisper imports this module for
        # its types and errors only, and faster-whisper's imports cost it ~23 MB (docs/benchmarks.md).
        from faster_whisper import WhisperModel
        from faster_whisper.tokenizer import Tokenizer
        from faster_whisper.transcribe import get_suppressed_tokens

        self.config = config
        self.name = SttModel(config.model).value
        self.model = WhisperModel(
            str(path or model_dir(config.model)),
            device="cpu",
            compute_type=config.compute_type,
            cpu_threads=config.cpu_threads,
            num_workers=1,
        )
        multilingual = self.model.model.is_multilingual
        # English-only models have no language token; multilingual ones are forced to config.language.
        self.language = config.language if multilingual else "en"
        if not multilingual and config.language != "en":
            log.warning("stt_language_ignored", model=self.name, language=config.language)
        self.tokenizer = Tokenizer(self.model.hf_tokenizer, multilingual, task="transcribe", language=self.language)
        self.prompt_tokens = self._build_prompt(config.prompt)
        self._prompt_words = set(normalize_words(config.prompt).split())
        self._suppress = list(get_suppressed_tokens(self.tokenizer, [-1]))
        self._window_s = min(config.encoder_window_s, FULL_WINDOW_S)
        if warmup:  # first CTranslate2 call allocates; keep that off the first caller's clock
            self._decode(np.zeros((self.model.feature_extractor.mel_filters.shape[0], 100), np.float32), 1.0, 1.0)

    def _build_prompt(self, prompt: str) -> list[int]:
        """<|startofprev|> clinic vocabulary <|startoftranscript|> [<|en|><|transcribe|>] <|notimestamps|>."""
        tokens: list[int] = []
        if prompt.strip():
            vocab = self.tokenizer.encode(" " + prompt.strip())
            tokens = [self.tokenizer.sot_prev, *vocab[-(self.model.max_length // 2 - 1) :]]
        return [*tokens, *self.tokenizer.sot_sequence, self.tokenizer.no_timestamps]

    def transcribe(self, pcm16k: bytes) -> Transcript:
        """16 kHz int16 mono PCM -> Transcript. Never raises on odd audio; blanks non-speech."""
        started = time.perf_counter()
        pcm16k = pcm16k[: len(pcm16k) // 2 * 2]  # tolerate a stray odd byte
        audio = pcm16_to_float(pcm16k)
        audio_s = audio.size / SAMPLE_RATE

        def done(text: str, nsp: float, avg: float, window_s: float, filtered: str = "") -> Transcript:
            return Transcript(
                text, audio_s, time.perf_counter() - started, 0.0, nsp, avg, self.name, window_s, filtered
            )

        if audio_s < self.config.min_audio_s:
            return done("", 1.0, 0.0, 0.0, "too_short")
        audio = audio - audio.mean()  # DC offset carries no speech but skews the mel floor
        rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
        if 20.0 * np.log10(max(rms, 1e-9)) < self.config.silence_dbfs:
            return done("", 1.0, 0.0, 0.0, "silence")

        if audio_s <= self._window_s:
            result = self._short(audio, audio_s)
        else:
            result = self._long_form(audio)
        text, filtered = self._filter(result)
        return done(text, result.no_speech_prob, result.avg_logprob, result.window_s, filtered)

    def _short(self, audio: np.ndarray, audio_s: float) -> _Decoded:
        features = self.model.feature_extractor(audio)[:, :-1]
        result = self._decode(features, self._window_s, audio_s)
        # Short windows sometimes loop on short audio; longer ones rarely do (docs/stt.md).
        for window_s in (w for w in RETRY_WINDOWS_S if w > self._window_s):
            if not result.degenerate:
                break
            result = self._decode(features, window_s, audio_s)
        return result

    def _decode(self, features: np.ndarray, window_s: float, audio_s: float) -> _Decoded:
        frames = int(round(window_s * FRAMES_PER_S))
        # Pad like faster-whisper's pad_or_trim (zeros in log-mel space).
        padded = np.zeros((features.shape[0], frames), dtype=np.float32)
        padded[:, : min(frames, features.shape[1])] = features[:, :frames]
        encoded = self.model.model.encode(ctranslate2.StorageView.from_array(padded[None]), to_cpu=False)
        max_new = int(MAX_TOKENS_PER_S * audio_s) + MIN_NEW_TOKENS
        out = self.model.model.generate(
            encoded,
            [self.prompt_tokens],
            beam_size=self.config.beam_size,
            max_length=min(len(self.prompt_tokens) + max_new, self.model.max_length),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self._suppress,
        )[0]
        tokens = [t for t in out.sequences_ids[0] if t < self.tokenizer.eot]
        # Same as faster-whisper: scores are length-normalised; +1 counts the end token.
        avg_logprob = out.scores[0] * len(tokens) / (len(tokens) + 1) if tokens else out.scores[0]
        text = self.tokenizer.decode(tokens).strip()
        degenerate = len(out.sequences_ids[0]) >= max_new or has_repeat(text)
        return _Decoded(text, float(out.no_speech_prob), float(avg_logprob), window_s, degenerate)

    def _long_form(self, audio: np.ndarray) -> _Decoded:
        """Longer than the window: faster-whisper's 30 s sliding windows (it skips silent ones itself)."""
        segments, _info = self.model.transcribe(
            audio,
            language=self.language if self.model.model.is_multilingual else None,
            beam_size=self.config.beam_size,
            initial_prompt=self.config.prompt or None,
            condition_on_previous_text=False,  # no error feedback loops between windows
            no_speech_threshold=self.config.no_speech_threshold,
            log_prob_threshold=self.config.log_prob_threshold,
            vad_filter=False,
        )
        segments = list(segments)
        if not segments:
            return _Decoded("", 1.0, 0.0, FULL_WINDOW_S, False, "no_speech")
        weights = np.array([max(s.end - s.start, 0.01) for s in segments])
        return _Decoded(
            " ".join(s.text.strip() for s in segments).strip(),
            float(np.average([s.no_speech_prob for s in segments], weights=weights)),
            float(np.average([s.avg_logprob for s in segments], weights=weights)),
            FULL_WINDOW_S,
            False,
        )

    def _filter(self, result: _Decoded) -> tuple[str, str]:
        """(text, reason): blank the text when it is most likely not speech."""
        cfg = self.config
        if result.filtered:
            return "", result.filtered
        if result.no_speech_prob > cfg.no_speech_threshold and result.avg_logprob < cfg.log_prob_threshold:
            return "", "no_speech"
        if result.avg_logprob < cfg.min_avg_logprob:
            return "", "low_confidence"
        words = normalize_words(result.text)
        if not words:
            return "", "no_words"
        if result.no_speech_prob > cfg.hallucination_no_speech_threshold and (
            words in HALLUCINATIONS
            or any(f in words for f in HALLUCINATION_FRAGMENTS)
            or set(words.split()) <= self._prompt_words  # echoing the clinic prompt ("Dr.,")
        ):
            return "", "hallucination"
        return result.text, ""


class Transcriber(Protocol):
    def transcribe(self, pcm16k: bytes) -> Transcript: ...


class MetricsHook(Protocol):
    """What SttWorker needs from agent.services.metrics.Metrics."""

    def inc(self, name: str, amount: int = 1) -> None: ...

    def observe_ms(self, stage: str, ms: float) -> None: ...


@dataclass
class _Job:
    pcm: bytes
    call_id: str
    future: asyncio.Future[Transcript]
    enqueued_at: float = field(default_factory=time.monotonic)


class SttWorker:
    """One per process, shared by every call: a bounded queue in front of ``workers`` transcribers."""

    def __init__(
        self,
        config: SttConfig,
        metrics: MetricsHook | None = None,
        transcriber_factory: Callable[[SttConfig], Transcriber] = WhisperTranscriber,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self._factory = transcriber_factory  # tests swap in a fake; production loads Whisper
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=config.queue_size)
        self._executors: list[ThreadPoolExecutor] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._active: set[asyncio.Future[Transcript]] = set()
        self._running = False
        self.jobs = 0  # completed
        self.rejected = 0  # queue full
        self.expired = 0  # waited past max_queue_wait_s
        self.failed = 0  # transcriber raised
        self.inference_s = 0.0

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    @property
    def idle(self) -> bool:
        """Nothing queued and no transcriber busy: a decode now delays no one."""
        return self._queue.empty() and not self._active

    @property
    def running(self) -> bool:
        return self._running

    def stats(self) -> dict[str, float | int]:
        return {
            "queue_depth": self.queue_depth,
            "jobs": self.jobs,
            "rejected": self.rejected,
            "expired": self.expired,
            "failed": self.failed,
            "inference_s": round(self.inference_s, 3),
        }

    async def start(self) -> None:
        """Load every transcriber on its own thread (seconds of CPU work, kept off the event loop)."""
        if self._running:
            return
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        self._executors = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"stt-{i}") for i in range(self.config.workers)
        ]
        try:
            transcribers = await asyncio.gather(
                *(loop.run_in_executor(ex, self._factory, self.config) for ex in self._executors)
            )
        except BaseException:
            for ex in self._executors:
                ex.shutdown(wait=False, cancel_futures=True)
            self._executors = []
            raise
        self._tasks = [
            asyncio.create_task(self._work(t, ex), name=f"stt-worker-{i}")
            for i, (t, ex) in enumerate(zip(transcribers, self._executors, strict=True))
        ]
        self._running = True
        log.info(
            "stt_started",
            model=self.config.model.value,
            workers=self.config.workers,
            queue_size=self.config.queue_size,
            encoder_window_s=self.config.encoder_window_s,
            load_ms=round((time.perf_counter() - started) * 1000),
        )

    async def transcribe(self, pcm: bytes, call_id: str) -> Transcript:
        """Queue one utterance (16 kHz int16 mono) and wait for its transcript.

        Raises SttOverloaded at once when the queue is full, never blocking the caller."""
        if not self._running:
            raise SttStopped("STT worker is not running")
        job = _Job(pcm, call_id, asyncio.get_running_loop().create_future())
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            self.rejected += 1
            self._inc("stt_rejected")
            log.warning("stt_rejected", call_id=call_id, queue_depth=self.queue_depth)
            raise SttOverloaded(f"STT queue full ({self.config.queue_size} utterances waiting)") from None
        return await job.future  # a caller cancelled here cancels the job too; the worker skips it

    async def _work(self, transcriber: Transcriber, executor: ThreadPoolExecutor) -> None:
        loop = asyncio.get_running_loop()
        while True:
            job = await self._queue.get()
            try:
                if job.future.done():  # the call hung up while this was queued
                    continue
                wait_s = time.monotonic() - job.enqueued_at
                if wait_s > self.config.max_queue_wait_s:
                    self.expired += 1
                    self._inc("stt_expired")
                    log.bind(call_id=job.call_id).warning("stt_expired", queue_wait_ms=round(wait_s * 1000))
                    job.future.set_exception(SttOverloaded(f"waited {wait_s:.1f} s for STT"))
                    continue
                await self._run(loop, transcriber, executor, job, wait_s)
            finally:
                self._queue.task_done()

    async def _run(
        self,
        loop: asyncio.AbstractEventLoop,
        transcriber: Transcriber,
        executor: ThreadPoolExecutor,
        job: _Job,
        wait_s: float,
    ) -> None:
        jlog = log.bind(call_id=job.call_id)
        self._active.add(job.future)  # stop() waits for these to be answered
        try:
            result = await loop.run_in_executor(executor, transcriber.transcribe, job.pcm)
        except asyncio.CancelledError:  # stop() past its grace period
            if not job.future.done():
                job.future.set_exception(SttStopped("STT worker stopped"))
            raise
        except Exception as exc:  # noqa: BLE001 - the caller gets the error; the worker lives on
            self.failed += 1
            self._inc("stt_failed")
            jlog.exception("stt_failed")
            if not job.future.done():
                job.future.set_exception(exc)
            return
        finally:
            self._active.discard(job.future)
        result = replace(result, queue_wait_s=wait_s)
        self.jobs += 1
        self.inference_s += result.elapsed_s
        self._inc("stt_jobs")
        if self.metrics is not None:
            self.metrics.observe_ms("stt_queue_wait_ms", wait_s * 1000)
        jlog.info(
            "stt_done",
            audio_s=round(result.audio_s, 2),
            inference_ms=round(result.elapsed_s * 1000),
            queue_wait_ms=round(wait_s * 1000),
            window_s=result.window_s,
            no_speech_prob=round(result.no_speech_prob, 3),
            avg_logprob=round(result.avg_logprob, 3),
            filtered=result.filtered or None,
            empty=not result.text,
        )
        jlog.debug("stt_text", transcript=result.text)  # text only ever under `transcript` (redacted)
        if not job.future.done():
            job.future.set_result(result)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Refuse new work, fail queued jobs, let running ones finish (up to grace_s), release threads."""
        if not self._running and not self._tasks:
            return
        self._running = False
        dropped = 0
        while not self._queue.empty():
            job = self._queue.get_nowait()
            self._queue.task_done()
            if not job.future.done():
                job.future.set_exception(SttStopped("STT worker stopped"))
                dropped += 1
        if self._active:
            await asyncio.wait(set(self._active), timeout=grace_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        executors, self._executors = self._executors, []
        # An inference past the grace period cannot be interrupted; wait for it off the loop.
        await asyncio.gather(*(asyncio.to_thread(ex.shutdown, wait=True) for ex in executors))
        log.info("stt_stopped", dropped=dropped, **self.stats())

    def _inc(self, name: str) -> None:
        if self.metrics is not None:
            self.metrics.inc(name)


__all__ = [
    "HALLUCINATIONS",
    "HALLUCINATION_FRAGMENTS",
    "SttError",
    "SttOverloaded",
    "SttStopped",
    "SttWorker",
    "Transcriber",
    "Transcript",
    "WhisperTranscriber",
    "has_repeat",
    "normalize_words",
]
