"""LLM wording: a node's scripted line, said in the caller's moment, sentence by sentence.

When an OpenAI-compatible endpoint is configured (``llm.base_url``), :class:`LlmWriter` asks
it to word the node's line (the prompt is :func:`graph.prompt.chat_messages`) and yields each
sentence the moment it is complete, so speech can start after the first one. The scripted
line is always the safety net, and the LLM never holds a call up:

* no complete first sentence within ``first_sentence_budget_s`` (or an error before one):
  the scripted line is yielded instead and the request is cancelled;
* an error after some sentences: stop there (what was said stays said, nothing is repeated);
* a sentence that says what Bedside must not say (:func:`graph.sensitive.violations`: a
  result, a diagnosis, record detail before identity verification ...) is never yielded;
  the stream is cancelled, and the scripted line is used if nothing was said yet;
* so is a sentence with a time, day, date or number that neither the line nor anything else in
  the prompt has (:mod:`graph.facts`: "How about tomorrow?" for "... call you back today");
  and when the reply ends without one of the line's own (a booking's "10:30"), the line's
  sentences that carry it are said after it;
* ``total_budget_s`` after the request, or after ``max_sentences`` sentences, streaming stops (the
  request is cancelled, which frees a local server for the next caller);
* ``failures_to_open`` consecutive failures (errors, first-sentence timeouts) mark the LLM
  down: every reply is scripted, at no latency cost, until a background probe -- a tiny
  request sent ``open_s`` later, not a caller's turn -- succeeds. A failed probe waits another
  ``open_s`` (the fallback-adapter pattern of LiveKit Agents; breaker: emotion/breaker.py).

Healthcare privacy: prompt and reply text are never logged at INFO (only lengths, counts,
timings and reasons); sentences go to DEBUG under ``reply_text``, which agent/app/logs.py redacts
unless ``logging.log_transcripts`` is set. The API key is read from the environment once and
never logged."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import structlog
from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent.services.metrics import Metrics
from emotion.breaker import BreakerState, BreakerTransition, CircuitBreaker
from graph.facts import facts, invented, missing, sentences_with
from graph.prompt import WordingRequest, chat_messages, scripted_only_reason
from graph.sensitive import detect_topics, violation_category, violations
from tts.sentences import SentenceBuffer, split_sentences

if TYPE_CHECKING:  # the client is imported when an LLM is configured: every CLI start skips ~1 s
    import openai

NO_KEY = "unused"
"""Sent as the API key when the key's environment variable is unset (local servers need none)."""

PROBE_INSTRUCTION = "Health check. Reply with the single word OK."
PROBE_MESSAGES: tuple[dict[str, str], ...] = (
    {"role": "system", "content": PROBE_INSTRUCTION},
    {"role": "user", "content": "ping"},
)
"""The half-open probe: no caller data, a few tokens (after the clinic's prompt prefix, once one
is known: :meth:`LlmWriter.warm`)."""


class LlmConfig(BaseModel):
    """``llm:`` in bedside.yaml. Without ``base_url`` every reply is the node's scripted line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str | None = Field(
        None,
        pattern=r"^https?://",
        description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (None: no LLM, scripted replies)",
    )
    model: str = Field("", description="model name sent with each request (required with base_url)")
    api_key_env: str = Field(
        "BEDSIDE_LLM_API_KEY",
        min_length=1,
        description="environment variable holding the API key, read at startup, never logged "
        f"(unset: '{NO_KEY}' is sent, fine for a local server)",
    )
    first_sentence_budget_s: float = Field(
        1.5, gt=0, le=10, description="no complete first sentence by then: the scripted line is used instead"
    )
    total_budget_s: float = Field(8.0, gt=0, le=60, description="streaming stops this long after the request")
    max_tokens: int = Field(160, ge=8, le=4096, description="reply length cap (a spoken reply is 2-3 sentences)")
    max_sentences: int = Field(
        3, ge=1, le=20,
        description="the reply stops after this many sentences and the request is cancelled (a small model "
        "ignores 'two or three at most' and would hold the server for the rest)",
    )
    prompt_detail: Literal["full", "brief"] = Field(
        "full",
        description="full: the emotional context with its numbers and the last 6 turns; brief: its tone notes and "
        "the last 2 turns, for a small local model that reads every prompt token per reply (docs/benchmarks.md)",
    )
    temperature: float = Field(0.3, ge=0, le=2, description="low: the content is fixed, only the wording varies")
    failures_to_open: int = Field(
        2, ge=1, le=100, description="consecutive failures (errors, first-sentence timeouts) that mark the LLM down"
    )
    open_s: float = Field(
        30.0, gt=0, le=3600, description="while down, replies are scripted; a background probe is sent after this"
    )

    @model_validator(mode="after")
    def _consistent(self) -> LlmConfig:
        if self.base_url and not self.model.strip():
            raise ValueError("llm.model is required when llm.base_url is set")
        if self.total_budget_s < self.first_sentence_budget_s:
            raise ValueError("llm.total_budget_s must be at least llm.first_sentence_budget_s")
        return self

    @property
    def enabled(self) -> bool:
        return self.base_url is not None


Source = Literal["llm", "scripted"]


@dataclass(frozen=True)
class Worded:
    """One sentence to speak, and where it came from."""

    text: str
    source: Source
    reason: str = ""  # why scripted: "first_sentence_budget", "error: ...", "breaker_open", "sensitive: ..."


# ---- what the streaming task tells the reader ----------------------------------------------


@dataclass(frozen=True)
class _Sentence:
    text: str


@dataclass(frozen=True)
class _End:
    truncated: bool = False  # the total budget ran out


@dataclass(frozen=True)
class _Failure:
    reason: str  # "error: <kind>", no message text


_Item = _Sentence | _End | _Failure


def describe_error(exc: BaseException) -> str:
    """A loggable error kind: class and status, never the message (it may echo the request)."""
    status = getattr(exc, "status_code", None)
    return f"error: {type(exc).__name__}" + (f" {status}" if status is not None else "")


class LlmWriter:
    """Words replies with an LLM, falling back to the script. One per server, shared by calls
    (the breaker is about the endpoint, not a call). Call :meth:`aclose` at shutdown."""

    def __init__(
        self,
        config: LlmConfig,
        metrics: Metrics,
        client: openai.AsyncOpenAI | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._metrics = metrics
        self._clock = clock
        self._log = structlog.get_logger(component="llm")
        self._owns_client = client is None
        self._client = client if client is not None else self._make_client(config, environ)
        self._breaker = CircuitBreaker(
            failure_threshold=config.failures_to_open,
            open_s=config.open_s,
            clock=clock,
            on_transition=self._on_breaker,
        )
        self._probes: set[asyncio.Task[None]] = set()  # the breaker's probes and the warm-up
        self._prefix = ""  # the start every reply's system prompt shares (warm)
        self._closed = False

    def _make_client(self, config: LlmConfig, environ: Mapping[str, str] | None) -> openai.AsyncOpenAI | None:
        if config.base_url is None:
            return None
        env = os.environ if environ is None else environ
        key = env.get(config.api_key_env, "")
        if not key:
            self._log.info("llm_no_api_key", env=config.api_key_env, sent=NO_KEY)
        # No retries: a retry would blow the first-sentence budget; the breaker handles outages.
        import openai

        return openai.AsyncOpenAI(
            base_url=config.base_url,
            api_key=key or NO_KEY,
            max_retries=0,
            timeout=config.total_budget_s + 2.0,
        )

    @property
    def enabled(self) -> bool:
        return self._client is not None

    @property
    def breaker_state(self) -> BreakerState:
        return self._breaker.state

    # ---- the reply -----------------------------------------------------------------------

    async def sentences(self, req: WordingRequest) -> AsyncIterator[Worded]:
        """The reply to ``req``, sentence by sentence (LLM-worded, or the scripted line)."""
        log = self._log.bind(call_id=req.call_id, node=req.node.id)
        if self._client is None or self._closed:
            for sentence in split_sentences(req.scripted):
                yield Worded(sentence, "scripted", "disabled")
            return
        reason = scripted_only_reason(req) or ("breaker_open" if self._breaker.is_open else "")
        if reason:
            async for worded in self._scripted(req, reason, log):
                yield worded
            return
        async with contextlib.aclosing(self._worded(req, log)) as worded_sentences:
            async for worded in worded_sentences:  # closed at once if the caller barges in
                yield worded

    async def _scripted(self, req: WordingRequest, reason: str, log: Any) -> AsyncIterator[Worded]:
        self._metrics.inc("llm_fallbacks")
        log.info("llm_fallback", reason=reason, scripted_chars=len(req.scripted))
        for sentence in split_sentences(req.scripted):
            yield Worded(sentence, "scripted", reason)

    async def _worded(self, req: WordingRequest, log: Any) -> AsyncIterator[Worded]:
        brief = self._config.prompt_detail == "brief"
        messages = chat_messages(req, max_history=2 if brief else 6, brief=brief)
        allowed = set(req.node.topics)
        caller_raised = detect_topics(" ".join([req.caller_text or "", *(t for s, t in req.history if s == "caller")]))
        known = facts(" ".join(m["content"] for m in messages))  # the line's, the clinic's, the conversation's
        said: list[str] = []
        started = self._clock()
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._metrics.inc("llm_requests")
        log.info("llm_request", model=self._config.model, prompt_chars=sum(len(m["content"]) for m in messages))
        task = asyncio.create_task(self._stream(messages, queue))
        yielded = 0
        received = 0
        first_sentence_ms: float | None = None
        outcome = "closed"  # the reader stopped early (a barge-in) unless set below
        try:
            while True:
                item = await self._next(queue, started if received == 0 else None)
                if item is None:  # the first-sentence budget ran out
                    self._breaker.record_failure("first_sentence_budget")
                    outcome = "first_sentence_budget"
                    break
                if isinstance(item, _Failure):
                    self._metrics.inc("llm_errors")
                    self._breaker.record_failure(item.reason)
                    outcome = item.reason
                    break
                if isinstance(item, _End):
                    if received == 0:
                        outcome = "empty_reply"
                    elif item.truncated:
                        outcome = "total_budget"
                        self._metrics.inc("llm_truncated")
                    else:
                        outcome = "complete"
                    break
                received += 1
                if received == 1:
                    self._breaker.record_success()
                    first_sentence_ms = (self._clock() - started) * 1000
                    self._metrics.observe_ms("llm_first_sentence_ms", first_sentence_ms)
                found = violations(item.text, allowed, req.identity_verified, caller_raised)
                if found:
                    self._metrics.inc("llm_violations")
                    outcome = "sensitive: " + violation_category(found[0])
                    log.warning("llm_violation", categories=[violation_category(v) for v in found], sentence=received)
                    break
                new_facts = invented(item.text, known)
                if new_facts:
                    self._metrics.inc("llm_invented_facts")
                    outcome = "invented_fact"
                    log.warning("llm_invented_fact", facts=len(new_facts), sentence=received)
                    break
                log.debug("llm_sentence", reply_text=item.text, sentence=received)
                yield Worded(item.text, "llm")
                said.append(item.text)
                yielded += 1
                if yielded >= self._config.max_sentences:
                    outcome = "max_sentences"
                    break
        finally:
            await _cancel(task)
            self._metrics.observe_ms("llm_total_ms", (self._clock() - started) * 1000)
            log.info("llm_reply", outcome=outcome, sentences=yielded, ms=round((self._clock() - started) * 1000, 1),
                     first_sentence_ms=None if first_sentence_ms is None else round(first_sentence_ms, 1))
        if yielded == 0:
            async for worded in self._scripted(req, outcome, log):
                yield worded
            return
        lost = missing(req.scripted, " ".join(said))
        if lost:  # a time, day or number of the line the wording left out: the line's own sentence says it
            restored = sentences_with(split_sentences(req.scripted), lost)
            self._metrics.inc("llm_facts_restored")
            log.info("llm_facts_restored", facts=len(lost), sentences=len(restored))
            for sentence in restored:
                yield Worded(sentence, "scripted", "kept_facts")

    async def _next(self, queue: asyncio.Queue[_Item], started: float | None) -> _Item | None:
        """The next item; None when ``started`` is given and the first-sentence budget ran out."""
        with contextlib.suppress(asyncio.QueueEmpty):
            return queue.get_nowait()
        if started is None:
            return await queue.get()
        remaining = started + self._config.first_sentence_budget_s - self._clock()
        if remaining <= 0:
            return None
        try:
            return await asyncio.wait_for(queue.get(), remaining)
        except TimeoutError:
            return None

    async def _stream(self, messages: list[dict[str, str]], queue: asyncio.Queue[_Item]) -> None:
        """Request, read deltas, cut sentences into ``queue``; always ends with _End or _Failure."""
        assert self._client is not None
        buffer = SentenceBuffer()
        try:
            async with asyncio.timeout(self._config.total_budget_s) as budget:
                stream = await self._client.chat.completions.create(
                    model=self._config.model,
                    messages=messages,  # type: ignore[arg-type]
                    stream=True,
                    max_tokens=self._config.max_tokens,
                    temperature=self._config.temperature,
                )
                try:
                    async for chunk in stream:
                        delta = getattr(chunk.choices[0].delta, "content", None) if chunk.choices else None
                        for sentence in buffer.push(delta or ""):
                            queue.put_nowait(_Sentence(sentence))
                finally:
                    await stream.close()
        except TimeoutError:
            if not budget.expired():
                queue.put_nowait(_Failure("error: TimeoutError"))
                return
            queue.put_nowait(_End(truncated=True))  # a half sentence is not said
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of the endpoint falls back to the script
            queue.put_nowait(_Failure(describe_error(exc)))
            return
        for sentence in buffer.flush():
            queue.put_nowait(_Sentence(sentence))
        queue.put_nowait(_End())

    # ---- the prompt prefix ---------------------------------------------------------------

    def warm(self, prefix: str) -> None:
        """Have the server read ``prefix`` now, in the background: the start that every reply's
        system prompt shares (graph.prompt.static_prefix: the role, the rules, the clinic's facts).

        A server with a prompt-prefix cache (llama.cpp keeps the last request's tokens) then
        reads only the reply's own part at the first caller's turn: with SmolLM2-135M on one core
        the prefix alone is about 2.5 s of reading. The breaker's probe starts with it too, so a
        probe does not push it out of the cache. A failed warm-up is logged, not counted: the
        first caller's turn is the real test."""
        if self._client is None or self._closed or not prefix:
            return
        self._prefix = prefix
        task = asyncio.get_running_loop().create_task(self._warm())
        self._probes.add(task)
        task.add_done_callback(self._probes.discard)

    def _probe_messages(self) -> list[dict[str, str]]:
        if not self._prefix:
            return list(PROBE_MESSAGES)
        return [{"role": "system", "content": f"{self._prefix}\n\n{PROBE_INSTRUCTION}"}, *PROBE_MESSAGES[1:]]

    async def _warm(self) -> None:
        started = self._clock()
        try:
            await asyncio.wait_for(self._probe(), self._config.total_budget_s)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the LLM may be down at start: calls fall back as usual
            reason = "timeout" if isinstance(exc, TimeoutError) else describe_error(exc)
            self._log.info("llm_warm", outcome=reason, ms=round((self._clock() - started) * 1000, 1))
            return
        self._log.info("llm_warm", outcome="ok", prefix_chars=len(self._prefix),
                       ms=round((self._clock() - started) * 1000, 1))

    # ---- the breaker and its probe -------------------------------------------------------

    def _on_breaker(self, transition: BreakerTransition) -> None:
        self._log.info("llm_breaker", before=str(transition.before), after=str(transition.after), reason=transition.reason)
        if transition.after is BreakerState.OPEN:
            self._metrics.inc("llm_breaker_opened")
            if not self._closed:
                task = asyncio.get_running_loop().create_task(self._probe_when_due())
                self._probes.add(task)
                task.add_done_callback(self._probes.discard)

    async def _probe_when_due(self) -> None:
        """Wait out the open period, then send one small request; its result closes or reopens
        the breaker (reopening schedules the next probe)."""
        while self._breaker.state is BreakerState.OPEN:
            remaining = self._breaker.opened_at + self._config.open_s - self._clock()
            if remaining <= 0:
                break
            await asyncio.sleep(remaining + 0.001)
        # Closed meanwhile (a call that was already streaming succeeded), or someone else probes.
        if self._breaker.state is BreakerState.CLOSED or not self._breaker.allow():
            return
        self._metrics.inc("llm_probes")
        try:
            await asyncio.wait_for(self._probe(), self._config.first_sentence_budget_s)
        except asyncio.CancelledError:
            self._breaker.probe_in_flight = False
            raise
        except Exception as exc:  # noqa: BLE001 - a failed probe reopens the breaker
            self._breaker.record_failure("probe " + ("timeout" if isinstance(exc, TimeoutError) else describe_error(exc)))
            return
        self._breaker.record_success()

    async def _probe(self) -> None:
        """Succeeds once the first token (or the end of the reply) arrives."""
        assert self._client is not None
        stream = await self._client.chat.completions.create(
            model=self._config.model,
            messages=self._probe_messages(),  # type: ignore[arg-type]
            stream=True,
            max_tokens=4,
            temperature=0.0,
        )
        try:
            async for chunk in stream:
                choice = chunk.choices[0] if chunk.choices else None
                if choice is not None and (getattr(choice.delta, "content", None) or choice.finish_reason):
                    return
        finally:
            await stream.close()

    async def aclose(self) -> None:
        """Cancel pending probes and close the HTTP client (if this writer made it)."""
        self._closed = True
        for task in list(self._probes):
            await _cancel(task)
        if self._owns_client and self._client is not None:
            await self._client.close()


async def _cancel(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait for it, without letting its end raise here."""
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


__all__ = ["LlmConfig", "LlmWriter", "Worded", "describe_error"]
