"""Configuration of the conversation: which graph file, hot reload, and how replies are delivered.

The graph itself (what the agent says and when) is the clinic's YAML file, validated on its own
(:mod:`graph.schema`); this is the server's side of it."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from tts.expression import Expression

DEFAULT_GRAPH = Path(__file__).resolve().parents[1] / "configs" / "graphs" / "clinic.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeliveryConfig(_Strict):
    """How the expression of a reply is chosen from its topics and the caller's state
    (:mod:`agent.call.voice_style`; the rule and its numbers are in docs/expressions.md)."""

    sad_valence: float = Field(-0.3, ge=-1, le=0, description="caller valence below this: sympathetic")
    tense_arousal: float = Field(0.65, ge=0, le=1, description="arousal above this with negative valence: calm")
    happy_valence: float = Field(0.45, ge=0, le=1, description="valence above this (and nothing sensitive): enthusiastic")
    low_coherence: float = Field(
        0.35, ge=0, le=1, description="words and voice disagree below this coherence: a low voice then means concerned")
    burst_recent_s: float = Field(10.0, gt=0, le=60, description="a burst this recent sets the delivery (burst table)")
    default_expression: Expression = Field(
        Expression.NEUTRAL, description="the workspace default: used when there is no emotional reading (service down, breaker open)")


class GraphConfig(_Strict):
    path: Path | None = Field(None, description="the conversation graph; empty = the bundled configs/graphs/clinic.yaml")
    reload: bool = Field(True, description="watch the file: a valid edit applies to new calls, an invalid one is rejected")
    reload_interval_s: float = Field(1.0, gt=0, le=60, description="how often the file is checked for changes")
    delivery: DeliveryConfig = Field(default_factory=lambda: DeliveryConfig(), description="how replies are delivered")

    @property
    def file(self) -> Path:
        return self.path if self.path is not None else DEFAULT_GRAPH
