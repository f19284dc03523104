"""``telemetry.*``: the node's HTTP port (``/health``, ``/metrics``) and OpenTelemetry traces.

Traces are off by default: no SDK tracer provider is made and calls get the API's no-op tracer,
so a call pays one attribute check per turn. ``console`` writes finished spans to stderr (never
stdout: a SIP worker's stdout is its load pipe to the front); ``otlp`` sends them over OTLP/HTTP
to ``otlp_endpoint``. Each process (the front and every SIP worker) has its own provider, never
installed as the global one. A call is one span (``call``: call id, node, worker, outcome) and
each caller turn a child span (turn number, input kind, reply source, stage timings in ms); no
attribute carries what a caller said, keyed or is called (agent/app/logs.py's PHI rule)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from opentelemetry.trace import NoOpTracer, Tracer
from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

SERVICE_NAME = "bedside"


class TraceExport(StrEnum):
    OFF = "off"
    CONSOLE = "console"
    OTLP = "otlp"


class TelemetryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    http: bool = Field(
        True, description="`bedside serve` answers /health and /metrics on console.host:console.port (also with "
        "console.enabled false); false: no HTTP port unless the console is enabled",
    )
    traces: TraceExport = Field(TraceExport.OFF, description="OpenTelemetry traces, a span per call and per turn: off, "
                                "console (stderr) or otlp (OTLP/HTTP to otlp_endpoint)")
    otlp_endpoint: str = Field("http://127.0.0.1:4318/v1/traces", description="where traces: otlp sends spans "
                               "(an OpenTelemetry collector's OTLP/HTTP traces URL)")


@dataclass(frozen=True)
class Tracing:
    """A process's tracer and, when traces are on, the provider to flush at exit."""

    tracer: Tracer
    provider: TracerProvider | None = None

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()  # exports what is still batched


def start_tracing(config: TelemetryConfig, host: str, worker: int, exporter: SpanExporter | None = None) -> Tracing:
    """The tracer for this process; ``exporter``: given instead of the configured one (tests)."""
    if config.traces is TraceExport.OFF and exporter is None:
        return Tracing(NoOpTracer())
    import sys

    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    resource = Resource.create({"service.name": SERVICE_NAME, "host.name": host, "bedside.worker": worker})
    provider = TracerProvider(resource=resource)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif config.traces is TraceExport.CONSOLE:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=config.otlp_endpoint)))
    return Tracing(provider.get_tracer("bedside"), provider)


__all__ = ["TelemetryConfig", "TraceExport", "Tracing", "start_tracing"]
