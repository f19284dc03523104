"""Traces: a span per call, a child span per turn with its timings, and never what was said."""

from __future__ import annotations

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracer

from agent.app.config import load_config
from agent.app.telemetry import TelemetryConfig, TraceExport, start_tracing
from agent.call.call_agent import CallState
from telephony.frames import DtmfDigit
from tests.agent.call.test_call_agent import make_call, started


def test_traces_are_off_by_default_and_cost_no_provider() -> None:
    config = load_config(environ={}).telemetry
    assert config.traces is TraceExport.OFF and config.http
    tracing = start_tracing(config, "host", 0)
    assert isinstance(tracing.tracer, NoOpTracer) and tracing.provider is None
    tracing.shutdown()


async def test_a_call_span_has_its_turns_as_children_with_timings_and_no_words() -> None:
    exporter = InMemorySpanExporter()
    tracing = start_tracing(TelemetryConfig(traces=TraceExport.CONSOLE), "node-a", 2, exporter=exporter)
    call = make_call()
    call.agent.tracer = tracing.tracer
    with tracing.tracer.start_as_current_span("call", attributes={"bedside.call_id": "c-1"}):
        await started(call)  # the call's task is made here, inside the call span's context
    call.push(call.utterance())
    await call.settle(lambda: call.speaker.lines() == ["greeting", "turn-1"])
    await call.settle(lambda: call.agent.state is CallState.LISTENING)
    await call.session.hangup("caller")
    call.push(DtmfDigit("1", 0.0))  # wakes the loop, which sees the hang-up
    await call.ended()
    tracing.shutdown()

    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"call", "turn 1"}
    turn, parent = spans["turn 1"], spans["call"]
    assert turn.parent is not None and turn.parent.span_id == parent.context.span_id
    assert turn.context.trace_id == parent.context.trace_id
    attributes = dict(turn.attributes)
    assert attributes["bedside.turn"] == 1 and attributes["bedside.turn.input"] == "voice"
    assert {"bedside.turn.vad_ms", "bedside.turn.reply_ready_ms", "bedside.turn.first_audio_ms"} <= set(attributes)
    assert turn.start_time <= turn.end_time
    said = call.responder.turns[0].transcript
    assert said == "I need a refill"
    for span in spans.values():
        for value in span.attributes.values():
            assert "refill" not in str(value)  # the caller's words are PHI: never an attribute
    assert spans["call"].resource.attributes["host.name"] == "node-a"
    assert spans["call"].resource.attributes["bedside.worker"] == 2
