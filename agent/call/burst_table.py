"""The burst table (``configs/burst_delivery.yaml``): how the agent answers a sigh.

Every burst type the burst model knows maps to a TTS :class:`~tts.expression.Expression` (the
voice style of the next reply) and to the valence/arousal the burst contributes to the rolling
window (:meth:`BurstTable.meanings`, handed to each call's emotion client). :func:`load_burst_table`
validates the file on load (``FILE:LINE:COL`` errors): unknown keys, unknown expressions, values
out of range, and any burst type missing or unknown to the model."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emotion.burst_meaning import BurstMeaning
from emotion.models.burst import NONE, output_labels
from graph.yaml_source import load_model
from tts.expression import Expression

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "configs" / "burst_delivery.yaml"


class BurstEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    expression: Expression = Field(description="how the agent's next reply is delivered")
    valence: float = Field(ge=-1.0, le=1.0, description="what the burst says about how the caller feels, -1..1")
    arousal: float = Field(ge=0.0, le=1.0, description="how activated the caller sounds, 0..1")


class BurstTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bursts: dict[str, BurstEntry]

    @model_validator(mode="after")
    def _covers_the_model(self) -> BurstTable:
        known = set(output_labels()) - {NONE}
        unknown = sorted(set(self.bursts) - known)
        missing = sorted(known - set(self.bursts))
        if unknown:
            raise ValueError(f"unknown burst types {unknown} (the burst model knows {sorted(known)})")
        if missing:
            raise ValueError(f"burst types without a delivery: {missing}")
        return self

    def expression(self, burst: str) -> Expression | None:
        """The expression for a burst type; None for ``none`` (no burst, no change)."""
        entry = self.bursts.get(burst)
        return entry.expression if entry else None

    def meanings(self) -> dict[str, BurstMeaning]:
        """What each burst type says about the caller, for the emotion client's window."""
        return {name: BurstMeaning(e.valence, e.arousal) for name, e in self.bursts.items()}


def load_burst_table(path: str | Path | None = None) -> BurstTable:
    # Whole-table problems (missing/unknown types) point at the `bursts:` key.
    return load_model(path if path is not None else DEFAULT_PATH, BurstTable, root_key="bursts")
