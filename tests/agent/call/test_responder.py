"""The graph responder: the clinic graph as a call's responder, scripted and LLM-worded.

The LLM path runs against tests/agent/services/openai_standin.py, a STAND-IN for a real OpenAI-compatible
endpoint (no LLM can run here): it checks what Bedside sends and how it streams and falls back,
not how a real model words things."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from agent.call.burst_table import load_burst_table
from agent.call.record import ActionKind, Callback, Priority
from agent.call.responder import AgentReply, CallerTurn, GraphResponder, GraphResponderFactory
from agent.call.voice_style import ExpressionWhy, VoiceStyleConfig
from agent.services.llm import LlmConfig, LlmWriter
from agent.services.metrics import Metrics
from emotion.events import BurstEvent, EmotionUpdate, Trend, UpdateSource
from graph.config import DEFAULT_GRAPH
from graph.navigator import CompiledGraph
from graph.validate import load_graph
from tests.agent.services.openai_standin import OpenAIStandIn, Reply
from tts.expression import Expression

NOW = datetime(2026, 12, 1, 10, 15)


@pytest.fixture(scope="module")
def clinic(text_encoder) -> CompiledGraph:
    return CompiledGraph(load_graph(DEFAULT_GRAPH), text_encoder, version="test")


def sad() -> EmotionUpdate:
    return EmotionUpdate(
        call_id="c1", at_s=40.0, valence=-0.55, arousal=0.35, trend=Trend.DETERIORATING, slope_per_min=-0.8,
        coherence=0.4, source=UpdateSource.READING, recent_bursts=(BurstEvent("sigh", 38.0, 0.9),), readings=10,
    )


def responder(clinic: CompiledGraph, wording=None) -> GraphResponder:
    return GraphResponder(clinic, "c1", load_burst_table(), VoiceStyleConfig(), Metrics(), wording, clock=lambda: NOW)


async def identify(r: GraphResponder) -> AgentReply:
    """Answer, then consent, name and date of birth."""
    if not r.steps:
        r.greeting()
    for i, line in enumerate(["Yes.", "Maria Lopez.", "March 3rd, 1985."]):
        reply = await r.respond(CallerTurn("c1", i + 1, line))
    return reply


async def drain(reply: AgentReply) -> list[str]:
    assert reply.sentences is not None
    return [s async for s in reply.sentences]


async def test_scripted_replies_follow_the_graph_with_delivery_and_actions(clinic):
    r = responder(clinic)
    greeting = r.greeting()
    assert greeting.scripted and "Riverside" in greeting.text and greeting.node == "consent"
    assert greeting.expression_why is ExpressionWhy.NOT_HEARD  # nothing heard yet: the workspace default
    menu = await identify(r)
    assert menu.node == "menu" and menu.scripted and "Thank you, Maria Lopez." in menu.text
    results = await r.respond(CallerTurn("c1", 4, "Have my test results come back?", emotion=None))
    assert results.node == "results" and results.expression is Expression.SYMPATHETIC  # topic alone
    assert results.expression_why is ExpressionWhy.SENSITIVE_TOPIC
    goodbye = await r.respond(CallerTurn("c1", 5, "#"))
    assert goodbye.node == "results"  # nothing understood: still collecting the call-back number
    r2 = responder(clinic)
    await identify(r2)
    bye = await r2.respond(CallerTurn("c1", 4, "No, that's everything, goodbye."))
    assert bye.end_call and bye.node == "goodbye" and [a.type for a in bye.actions] == ["end_call"]


async def test_a_sigh_makes_the_reply_sympathetic_before_its_first_word(clinic):
    r = responder(clinic)
    await identify(r)
    reply = await r.respond(CallerTurn("c1", 4, "What time do you close today?", emotion=sad()))
    assert reply.node == "anything_else" and reply.expression is Expression.SYMPATHETIC
    assert reply.expression_why is ExpressionWhy.BURST
    assert "anything else I can do for you today" in reply.text  # the sympathetic variant


def test_a_line_the_code_fixes_says_so_in_its_record() -> None:
    # hold message, urgent line, reprompts, goodbyes: built without a choice, so the record says "fixed"
    assert AgentReply("Please hold.").expression_why is ExpressionWhy.FIXED


def test_factory_pre_synthesizes_fixed_lines_and_each_call_gets_its_own_walk(clinic):
    factory = GraphResponderFactory(lambda: clinic, load_burst_table(), VoiceStyleConfig(), Metrics())
    lines = factory.scripted_lines()
    assert lines[0] == factory.for_call("x").greeting().text
    assert all("{" not in line for line in lines) and len(lines) == len(set(lines))
    a, b = factory.for_call("a"), factory.for_call("b")
    assert a.navigator is not b.navigator


async def test_llm_words_the_reply_streaming_with_the_emotional_context_in_the_prompt(clinic):
    with OpenAIStandIn(Reply.text("I'm sorry you're waiting on this. A clinician can call you back to go through them.",
                                  token_delay_s=0.02)) as standin:
        writer = LlmWriter(LlmConfig(base_url=standin.base_url, model="standin", first_sentence_budget_s=2.0),
                           Metrics(), environ={})
        try:
            r = responder(clinic, writer)
            await identify(r)
            reply = await r.respond(CallerTurn("c1", 4, "Have my test results come back?", emotion=sad()))
            assert reply.node == "results_gentle"
            sentences = await drain(reply)
            assert sentences[0].startswith("I'm sorry you're waiting")
            system = standin.requests[-1].system
            assert "valence -0.55" in system.replace("=", " ").replace(":", "") or "-0.55" in system
            assert "deteriorating" in system and "sigh" in system
            assert "can't share results" in system  # the scripted line is the content to convey
        finally:
            await writer.aclose()


async def test_a_slow_llm_falls_back_to_the_scripted_line_within_the_budget(clinic):
    with OpenAIStandIn(Reply.text("Too late.", first_token_delay_s=5.0)) as standin:
        writer = LlmWriter(LlmConfig(base_url=standin.base_url, model="standin", first_sentence_budget_s=0.5),
                           Metrics(), environ={})
        try:
            r = responder(clinic, writer)
            await identify(r)
            reply = await r.respond(CallerTurn("c1", 4, "Have my test results come back?"))
            started = time.monotonic()
            sentences = await drain(reply)
            assert time.monotonic() - started < 1.2
            assert " ".join(sentences) == reply.text and "can't share them on this line" in reply.text
        finally:
            await writer.aclose()


async def test_emergency_lines_are_never_reworded(clinic):
    with OpenAIStandIn(Reply.text("Hmm, maybe take an aspirin.")) as standin:
        writer = LlmWriter(LlmConfig(base_url=standin.base_url, model="standin"), Metrics(), environ={})
        try:
            r = responder(clinic, writer)
            await identify(r)
            reply = await r.respond(CallerTurn("c1", 4, "I've got crushing chest pain."))
            assert reply.node == "emergency" and reply.sentences is None and "911" in reply.text
            assert reply.expression is Expression.DIRECT and reply.end_call
            assert reply.expression_why is ExpressionWhy.EMERGENCY_TOPIC
            assert not standin.requests
        finally:
            await writer.aclose()


async def test_action_records_carry_the_included_slot_values_for_staff(clinic):
    r = responder(clinic)
    await identify(r)
    await r.respond(CallerTurn("c1", 4, "Have my test results come back?"))
    reply = await r.respond(CallerTurn("c1", 5, "It's 555 123 4567."))
    (record,) = reply.records
    assert isinstance(record, Callback) and record.kind is ActionKind.CALLBACK
    assert record.team == "clinician" and record.node == "results_callback" and record.priority is Priority.ROUTINE
    assert dict(record.slots) == {"full_name": "Maria Lopez", "date_of_birth": "1985-03-03", "callback_phone": "5551234567"}
    assert record.log_fields() == {"team": "clinician", "priority": "routine"}  # what the log gets: no slot values


async def test_a_speculated_turn_is_adopted_when_the_turn_comes_out_the_same(clinic):
    r = responder(clinic)
    r.greeting()
    await r.respond(CallerTurn("c1", 1, "Yes."))
    at_name = (r.navigator.node_id, dict(r.navigator.slots), len(r.steps), list(r.history))
    early = r.speculate(CallerTurn("c1", 2, "Maria Lopez."))
    assert early is not None and "Maria Lopez" in early.text
    # nothing changed yet: no step taken, no slot filled, nothing in the LLM's context
    assert (r.navigator.node_id, dict(r.navigator.slots), len(r.steps), list(r.history)) == at_name
    reply = await r.respond(CallerTurn("c1", 2, "Maria Lopez."))
    assert reply is early and r.metrics.counter("speculations_used") == 1
    assert r.navigator.slots and len(r.steps) == 3 and r.history[-2:] == [("caller", "Maria Lopez."), ("agent", reply.text)]
    # the walk goes on from the adopted fork
    menu = await r.respond(CallerTurn("c1", 3, "March 3rd, 1985."))
    assert menu.node == "menu"


async def test_a_speculation_is_discarded_when_the_words_or_the_reading_differ(clinic):
    r = responder(clinic)
    r.greeting()
    await r.respond(CallerTurn("c1", 1, "Yes."))
    plain = await responder_after_consent(clinic)
    r.speculate(CallerTurn("c1", 2, "Maria"))  # the pause came mid-name
    reply = await r.respond(CallerTurn("c1", 2, "Maria Lopez."))
    assert r.metrics.counter("speculations_discarded") == 1
    assert reply.text == (await plain.respond(CallerTurn("c1", 2, "Maria Lopez."))).text
    r.speculate(CallerTurn("c1", 3, "March 3rd, 1985."))
    assert (await r.respond(CallerTurn("c1", 3, "March 3rd, 1985.", emotion=sad()))).expression is not None
    assert r.metrics.counter("speculations_discarded") == 2  # a new emotional reading since


async def responder_after_consent(clinic: CompiledGraph) -> GraphResponder:
    r = responder(clinic)
    r.greeting()
    await r.respond(CallerTurn("c1", 1, "Yes."))
    return r
