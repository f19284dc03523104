"""agent/services/llm.py: LLM wording with the scripted line as the safety net.

No LLM can run here, so the endpoint is a STAND-IN for a real OpenAI-compatible server
(tests/agent/services/openai_standin.py): real HTTP on 127.0.0.1, real ``chat.completion.chunk``
Server-Sent Events, read by the real ``openai`` client, with scripted tokens, delays, errors
and dropped connections. What it cannot show is how a real model words things; the prompt it
receives is asserted instead."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import openai
import pytest
import structlog

from agent.services.llm import PROBE_MESSAGES, LlmConfig, LlmWriter, Worded
from agent.services.metrics import Metrics
from emotion.breaker import BreakerState
from emotion.events import BurstEvent, Channel, EmotionScore, EmotionUpdate, Trend, UpdateSource
from graph.prompt import WordingRequest
from graph.schema import ClinicFacts, Node, Say, Slot, SlotKind, Topic
from tests.agent.services.openai_standin import OpenAIStandIn, Reply
from tts.expression import Expression
from tts.sentences import split_sentences

CLINIC = ClinicFacts(name="Riverside Family Clinic", phone="555 010 2030", address="120 River Street",
                     hours={"monday": "08:00-18:00", "sunday": "closed"})
BOOKING = Node(id="booking", say=Say(neutral="Let's find you a time. I have Tuesday at nine thirty. Would that suit you?"))
BOOKING_LINE = "Let's find you a time. I have Tuesday at nine thirty. Would that suit you?"
RESULTS = Node(
    id="results_gentle",
    topics=[Topic.TEST_RESULTS],
    instructions="The caller sounds upset. Acknowledge that first. Never say or hint at what any result shows.",
    say=Say(neutral="I can't share results on this line. A clinician will call you back today."),
    collect=[Slot(name="callback_phone", kind=SlotKind.PHONE, ask=Say(neutral="What's the best number?"))],
)
RESULTS_LINE = "I can't share results on this line. A clinician will call you back today."
UPSET = EmotionUpdate(
    call_id="call-7", at_s=42.0, valence=-0.62, arousal=0.71, trend=Trend.DETERIORATING, slope_per_min=-0.4,
    coherence=0.35, source=UpdateSource.READING,
    top_emotions=(EmotionScore(Channel.PROSODY, "sad", 0.61),),
    recent_bursts=(BurstEvent("sigh", 30.0, 0.8), BurstEvent("cry", 38.0, 0.7)),
)
GOOD_REPLY = "I'm sorry to hear that. Let me find you a time. Would Tuesday at nine thirty suit you?"


def request(node: Node = BOOKING, scripted: str = BOOKING_LINE, **kw: object) -> WordingRequest:
    fields: dict[str, object] = {
        "call_id": "call-7", "node": node, "clinic": CLINIC, "scripted": scripted,
        "expression": Expression.SYMPATHETIC, "slots": {"full_name": "Maria Lopez"}, "identity_verified": True,
        "emotion": UPSET, "caller_text": "I need to see someone this week.",
    }
    fields.update(kw)
    return WordingRequest(**fields)  # type: ignore[arg-type]


@pytest.fixture
def server() -> OpenAIStandIn:
    with OpenAIStandIn(Reply.text(GOOD_REPLY)) as standin:
        yield standin


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
async def make_writer(server: OpenAIStandIn, metrics: Metrics) -> AsyncIterator[Callable[..., LlmWriter]]:
    writers: list[LlmWriter] = []

    def make(environ: dict[str, str] | None = None, **overrides: object) -> LlmWriter:
        settings: dict[str, object] = {"base_url": server.base_url, "model": "standin-model",
                                       "first_sentence_budget_s": 1.0, "total_budget_s": 5.0}
        settings.update(overrides)
        writer = LlmWriter(LlmConfig(**settings), metrics, environ={} if environ is None else environ)
        writers.append(writer)
        return writer

    yield make
    for writer in writers:
        await writer.aclose()


async def collect(writer: LlmWriter, req: WordingRequest) -> list[tuple[Worded, float]]:
    """Every sentence with the monotonic time it arrived."""
    return [(worded, time.monotonic()) async for worded in writer.sentences(req)]


async def texts(writer: LlmWriter, req: WordingRequest) -> list[Worded]:
    return [worded for worded, _ in await collect(writer, req)]


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# ---- config --------------------------------------------------------------------------------


def test_config_defaults_are_scripted() -> None:
    config = LlmConfig()
    assert config.base_url is None and not config.enabled
    assert (config.first_sentence_budget_s, config.total_budget_s, config.max_tokens) == (1.5, 8.0, 160)
    assert (config.failures_to_open, config.open_s, config.api_key_env) == (2, 30.0, "BEDSIDE_LLM_API_KEY")


@pytest.mark.parametrize(
    "bad",
    [
        {"base_url": "http://127.0.0.1:1/v1"},  # no model
        {"base_url": "ftp://x", "model": "m"},
        {"first_sentence_budget_s": 3.0, "total_budget_s": 2.0},
        {"temprature": 0.3},  # a typo is an error, not a silent default
    ],
)
def test_config_rejects(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        LlmConfig(**bad)


async def test_no_base_url_means_scripted(metrics: Metrics) -> None:
    writer = LlmWriter(LlmConfig(), metrics)
    assert not writer.enabled
    words = [w async for w in writer.sentences(request())]
    assert words == [Worded(s, "scripted", "disabled") for s in split_sentences(BOOKING_LINE)]
    assert metrics.counter("llm_fallbacks") == 0
    await writer.aclose()


# ---- streaming -----------------------------------------------------------------------------


async def test_sentences_arrive_one_by_one_before_the_stream_ends(server: OpenAIStandIn, make_writer, metrics) -> None:
    server.set_default(Reply.text(GOOD_REPLY, token_delay_s=0.06))
    got = await collect(make_writer(), request())
    assert [w.text for w, _ in got] == split_sentences(GOOD_REPLY)
    assert all(w.source == "llm" and w.reason == "" for w, _ in got)
    sent = server.tokens_sent(0)
    first_at, last_at = got[0][1], got[-1][1]
    assert first_at < sent[-1].at - 0.3  # the first sentence was out well before the last token was sent
    assert got[0][1] < got[1][1] < got[2][1]
    assert last_at >= sent[-1].at
    assert metrics.percentiles("llm_first_sentence_ms")["n"] == 1
    assert metrics.percentiles("llm_total_ms")["n"] == 1
    assert metrics.counter("llm_fallbacks") == 0


async def test_request_parameters_and_key(server: OpenAIStandIn, make_writer) -> None:
    await texts(make_writer(environ={"BEDSIDE_LLM_API_KEY": "sk-secret-key"}, max_tokens=99, temperature=0.2), request())
    (received,) = server.requests
    assert received.headers["authorization"] == "Bearer sk-secret-key"
    assert received.body["model"] == "standin-model" and received.body["stream"] is True
    assert received.body["max_tokens"] == 99 and received.body["temperature"] == 0.2


async def test_no_key_sends_unused(server: OpenAIStandIn, make_writer) -> None:
    await texts(make_writer(environ={}), request())
    assert server.requests[0].headers["authorization"] == "Bearer unused"


async def test_prompt_carries_emotion_guardrails_and_the_line(server: OpenAIStandIn, make_writer) -> None:
    await texts(make_writer(), request(node=RESULTS, scripted=RESULTS_LINE,
                                       slots={"full_name": "Maria Lopez", "callback_phone": "555 123 4567"}))
    (received,) = server.requests
    system = received.system
    # the emotional context: numbers, named bursts and emotions, and the note on tone
    for part in ("valence -0.62", "arousal 0.71", "trend deteriorating (-0.40 per minute)", "coherence 0.35",
                 "Recent sounds: sigh, cry.", "sad (voice)", "acknowledge how they feel first, slow down",
                 "don't take 'I'm fine' at face value"):
        assert part in system, part
    # guardrails, the node, the line, the delivery
    for part in ("Never diagnose", "Never read out or hint at test results", "Identity: VERIFIED",
                 "hang up and call 911", f'Convey this, in your own words: "{RESULTS_LINE}"',
                 "Never say or hint at what any result shows", "SENSITIVE HERE: test results",
                 "spoken in a sympathetic voice"):
        assert part in system, part
    assert received.messages[-1] == {"role": "user", "content": "I need to see someone this week."}
    assert "555 123 4567" not in str(received.body)


async def test_a_reply_stops_after_max_sentences(server: OpenAIStandIn, make_writer) -> None:
    server.set_default(Reply.text("One. Two. Three. Four. Five.", token_delay_s=0.01))
    got = await texts(make_writer(max_sentences=2), request(scripted="Let's find you a time. Would that suit you?"))
    assert [w.text for w in got] == ["One.", "Two."] and all(w.source == "llm" for w in got)


async def test_a_fact_the_wording_drops_is_said_from_the_line(server: OpenAIStandIn, make_writer, metrics) -> None:
    line = "You're booked for Tuesday at 10:30 AM. Is there anything else?"
    server.set_default(Reply.text("Lovely, you're all booked in. Anything else I can do?"))
    got = await texts(make_writer(), request(scripted=line))
    assert got == [Worded("Lovely, you're all booked in.", "llm"), Worded("Anything else I can do?", "llm"),
                   Worded("You're booked for Tuesday at 10:30 AM.", "scripted", "kept_facts")]
    assert metrics.counter("llm_facts_restored") == 1
    server.set_default(Reply.text("Lovely, you're all set for Tuesday, 10:30 am. Anything else?"))
    assert {w.source for w in await texts(make_writer(), request(scripted=line))} == {"llm"}  # kept: nothing added


async def test_a_sentence_with_an_invented_day_is_not_said(server: OpenAIStandIn, make_writer, metrics) -> None:
    server.set_default(Reply.text("I'm so sorry. How about tomorrow? A clinician will call."))
    got = await texts(make_writer(), request(node=RESULTS, scripted=RESULTS_LINE))
    assert got == [Worded("I'm so sorry.", "llm"), Worded("A clinician will call you back today.", "scripted", "kept_facts")]
    assert metrics.counter("llm_invented_facts") == 1
    server.set_default(Reply.text("How about tomorrow at 3 pm?"))
    got = await texts(make_writer(), request(node=RESULTS, scripted=RESULTS_LINE))
    assert [(w.source, w.reason) for w in got] == [("scripted", "invented_fact")] * 2  # nothing of it was said


async def test_a_brief_prompt_keeps_the_tone_notes_and_two_turns(server: OpenAIStandIn, make_writer) -> None:
    history = (("agent", "Hello."), ("caller", "Hi."), ("agent", "How can I help?"), ("caller", "My results."),
               ("agent", "I see."))
    await texts(make_writer(prompt_detail="brief"), request(node=RESULTS, scripted=RESULTS_LINE, history=history))
    (received,) = server.requests
    assert "TONE: They are getting more upset" in received.system and "valence" not in received.system
    assert f'Convey this, in your own words: "{RESULTS_LINE}"' in received.system
    assert [m["content"] for m in received.messages[1:]] == ["My results.", "I see.", "I need to see someone this week."]


async def test_the_warm_up_reads_the_shared_prefix_and_the_probe_starts_with_it(server: OpenAIStandIn, make_writer,
                                                                               metrics) -> None:
    writer = make_writer(failures_to_open=1, open_s=0.2)
    writer.warm("You are Bedside. RULES: none here.")
    for _ in range(100):
        if server.requests:
            break
        await asyncio.sleep(0.02)
    (warm,) = server.requests
    assert warm.system.startswith("You are Bedside. RULES: none here.\n\nHealth check.")
    server.set_default(Reply.error(500))
    await texts(writer, request())  # fails: the breaker opens, a probe follows
    server.set_default(Reply.text("OK."))
    for _ in range(100):
        if writer.breaker_state is BreakerState.CLOSED:
            break
        await asyncio.sleep(0.02)
    probe = server.requests[-1]
    assert probe.system.startswith("You are Bedside. RULES: none here.\n\n") and probe.body["max_tokens"] == 4
    assert metrics.counter("llm_requests") == 1  # neither the warm-up nor the probe is a caller's request


# ---- falling back to the script ------------------------------------------------------------


@pytest.mark.parametrize("delay", ["first_token_delay_s", "headers_delay_s"])
async def test_slow_first_sentence_falls_back_within_the_budget(server: OpenAIStandIn, make_writer, metrics,
                                                                delay: str) -> None:
    server.set_default(Reply.text(GOOD_REPLY, **{delay: 3.0}))
    budget = 0.5
    started = time.monotonic()
    got = await collect(make_writer(first_sentence_budget_s=budget), request())
    assert got[0][1] - started < budget + 0.5
    assert [w for w, _ in got] == [Worded(s, "scripted", "first_sentence_budget") for s in split_sentences(BOOKING_LINE)]
    assert metrics.counter("llm_fallbacks") == 1
    await asyncio.sleep(0.2)
    assert server.sent == []  # the request was cancelled: the slow reply never streamed


async def test_a_sentence_cut_by_the_budget_is_not_late(server: OpenAIStandIn, make_writer) -> None:
    # tokens arrive in time, but the first sentence is only complete after the budget
    server.set_default(Reply.text(GOOD_REPLY, token_delay_s=0.2))
    got = await texts(make_writer(first_sentence_budget_s=0.5), request())
    assert {w.source for w in got} == {"scripted"} and got[0].reason == "first_sentence_budget"


async def test_http_500_falls_back(server: OpenAIStandIn, make_writer, metrics) -> None:
    server.set_default(Reply.error(500))
    got = await texts(make_writer(), request())
    assert [w.text for w in got] == split_sentences(BOOKING_LINE)
    assert {w.source for w in got} == {"scripted"}
    assert got[0].reason == "error: InternalServerError 500"
    assert metrics.counter("llm_errors") == 1 and metrics.counter("llm_fallbacks") == 1


async def test_unreachable_endpoint_falls_back(metrics: Metrics) -> None:
    with OpenAIStandIn() as gone:
        url = gone.base_url
    writer = LlmWriter(LlmConfig(base_url=url, model="m"), metrics, environ={})
    got = [w async for w in writer.sentences(request())]
    assert {w.source for w in got} == {"scripted"} and got[0].reason == "error: APIConnectionError"
    await writer.aclose()


async def test_drop_mid_stream_stops_without_repeating(server: OpenAIStandIn, make_writer, metrics) -> None:
    first = "I'm sorry to hear that."
    server.set_default(Reply.text(GOOD_REPLY, token_delay_s=0.02, drop_after=9))  # 7 tokens make the first sentence
    got = await texts(make_writer(), request())
    # Said once, not repeated; the line's day the stream never reached is said from the line.
    assert got == [Worded(first, "llm"), Worded("I have Tuesday at nine thirty.", "scripted", "kept_facts")]
    assert metrics.counter("llm_errors") == 1 and metrics.counter("llm_fallbacks") == 0


async def test_empty_reply_falls_back(server: OpenAIStandIn, make_writer) -> None:
    server.set_default(Reply(tokens=()))
    got = await texts(make_writer(), request())
    assert {w.source for w in got} == {"scripted"} and got[0].reason == "empty_reply"


async def test_total_budget_stops_streaming(server: OpenAIStandIn, make_writer, metrics) -> None:
    long = " ".join(["This is one more sentence."] * 29)
    server.set_default(Reply.text(long, token_delay_s=0.03))
    started = time.monotonic()
    got = await collect(make_writer(first_sentence_budget_s=0.5, total_budget_s=1.0, max_sentences=20),
                        request(scripted="Let's find you a time. Would that suit you?"))
    assert 1 <= len(got) < 29 and all(w.source == "llm" for w, _ in got)
    assert got[-1][1] - started < 1.5
    assert metrics.counter("llm_truncated") == 1


async def test_phone_readback_is_never_sent_to_the_llm(server: OpenAIStandIn, make_writer) -> None:
    line = "Thank you. A clinician will call you on 555 123 4567 today."
    got = await texts(make_writer(), request(node=RESULTS, scripted=line, slots={"callback_phone": "555 123 4567"}))
    assert [w.text for w in got] == split_sentences(line) and got[0].reason == "phone_number"
    assert server.requests == []


# ---- sensitive content ---------------------------------------------------------------------


async def test_result_sentence_is_never_yielded(server: OpenAIStandIn, make_writer, metrics) -> None:
    server.set_default(Reply.text("Your results came back positive. A clinician will call you today."))
    got = await texts(make_writer(), request(node=RESULTS, scripted=RESULTS_LINE))
    assert all("positive" not in w.text for w in got)
    assert got == [Worded(s, "scripted", "sensitive: test_results") for s in split_sentences(RESULTS_LINE)]
    assert metrics.counter("llm_violations") == 1


async def test_violation_after_a_good_sentence_stops_there(server: OpenAIStandIn, make_writer, metrics) -> None:
    server.set_default(Reply.text("I know waiting is hard. Your biopsy was clear. A clinician will call."))
    got = await texts(make_writer(), request(node=RESULTS, scripted=RESULTS_LINE))
    assert got == [Worded("I know waiting is hard.", "llm"),  # and the line's "today", which it never said
                   Worded("A clinician will call you back today.", "scripted", "kept_facts")]
    assert metrics.counter("llm_violations") == 1


async def test_record_detail_before_verification_is_not_said(server: OpenAIStandIn, make_writer) -> None:
    server.set_default(Reply.text("Your appointment is on Tuesday at three. Shall I move it?"))
    got = await texts(make_writer(), request(identity_verified=False))
    assert {w.source for w in got} == {"scripted"} and got[0].reason == "sensitive: appointment"


async def test_condolences_allowed_when_the_caller_raised_a_loss(server: OpenAIStandIn, make_writer) -> None:
    server.set_default(Reply.text("I'm so sorry for your loss. I have Tuesday at nine thirty."))
    got = await texts(make_writer(), request(caller_text="My husband passed away, I need to change things."))
    assert [w.source for w in got] == ["llm", "llm"]
    got = await texts(make_writer(), request(caller_text="I need an appointment."))
    assert got[0].reason == "sensitive: bereavement"


# ---- the breaker ---------------------------------------------------------------------------


async def test_breaker_opens_then_a_background_probe_recovers(server: OpenAIStandIn, make_writer, metrics) -> None:
    writer = make_writer(failures_to_open=2, open_s=0.3)
    server.queue(Reply.error(500), Reply.error(503), Reply.error(500))  # two turns, then the first probe
    for _ in range(2):
        got = await texts(writer, request())
        assert got[0].source == "scripted" and got[0].reason.startswith("error:")
    assert writer.breaker_state is BreakerState.OPEN

    # open: scripted at once, nothing sent
    started = time.monotonic()
    got = await texts(writer, request())
    assert time.monotonic() - started < 0.1
    assert got[0].reason == "breaker_open" and len(server.requests) == 2

    # the first probe fails (request 3): open again; the second succeeds (request 4): closed
    await wait_until(lambda: len(server.requests) >= 3)
    await wait_until(lambda: writer.breaker_state is BreakerState.CLOSED)
    assert len(server.requests) == 4
    assert [r.messages for r in server.requests[2:]] == [list(PROBE_MESSAGES)] * 2  # no caller data in probes
    assert metrics.counter("llm_probes") == 2 and metrics.counter("llm_breaker_opened") == 2

    got = await texts(writer, request())
    assert [w.source for w in got] == ["llm"] * 3


async def test_probe_that_is_too_slow_fails(server: OpenAIStandIn, make_writer) -> None:
    writer = make_writer(failures_to_open=1, open_s=0.2, first_sentence_budget_s=0.3)
    server.queue(Reply.error(500), Reply.text("OK", first_token_delay_s=2.0))
    await texts(writer, request())
    await wait_until(lambda: len(server.requests) >= 2)
    await asyncio.sleep(0.4)  # the probe's budget runs out: open again
    assert writer.breaker_state is not BreakerState.CLOSED
    await wait_until(lambda: writer.breaker_state is BreakerState.CLOSED)  # the next probe gets the default


async def test_aclose_cancels_a_pending_probe(server: OpenAIStandIn, make_writer) -> None:
    writer = make_writer(failures_to_open=1, open_s=0.2)
    server.queue(Reply.error(500))
    await texts(writer, request())
    await writer.aclose()
    await asyncio.sleep(0.4)
    assert len(server.requests) == 1


# ---- barge-in and privacy ------------------------------------------------------------------


async def test_closing_the_reply_cancels_the_stream(server: OpenAIStandIn, make_writer) -> None:
    long = "First sentence here. " + " ".join(f"More words number {n}." for n in range(40))
    server.set_default(Reply.text(long, token_delay_s=0.02))
    words = make_writer().sentences(request())
    first = await anext(words)
    assert first.text == "First sentence here."
    await words.aclose()  # the caller barged in
    await asyncio.sleep(0.15)
    count = len(server.sent)
    await asyncio.sleep(0.3)
    assert len(server.sent) == count < 100


async def test_no_text_or_key_logged_at_info(server: OpenAIStandIn, make_writer) -> None:
    server.set_default(Reply.text("Your results came back positive. I'm sorry."))
    with structlog.testing.capture_logs() as logs:
        writer = make_writer(environ={"BEDSIDE_LLM_API_KEY": "sk-secret-key"})
        await texts(writer, request(node=RESULTS, scripted=RESULTS_LINE))
        server.set_default(Reply.text(GOOD_REPLY))
        await texts(writer, request())
    assert logs, "expected log events"
    assert all(entry.get("call_id") == "call-7" for entry in logs if entry["event"].startswith("llm_") and
               entry["event"] not in ("llm_no_api_key", "llm_breaker"))
    for entry in logs:
        flat = str(entry)
        assert "sk-secret-key" not in flat
        if entry["log_level"] != "debug":
            for private in ("positive", "Maria", "sorry to hear", "see someone this week", "clinician will call"):
                assert private not in flat, (private, entry)


async def test_injected_client_is_used_and_left_open(server: OpenAIStandIn, metrics: Metrics) -> None:
    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="injected", max_retries=0)
    writer = LlmWriter(LlmConfig(model="standin-model"), metrics, client=client)
    got = await texts(writer, request())
    assert [w.source for w in got] == ["llm"] * 3
    assert server.requests[0].headers["authorization"] == "Bearer injected"
    await writer.aclose()
    assert not client.is_closed()  # the owner closes it
    await client.close()
