"""The burst table (``configs/burst_delivery.yaml``): how the agent answers a sigh.

Every burst type the burst model knows maps to a TTS :class:`~tts.expression.Expression` (the
voice style of the next reply) and to the valence/arousal the burst contributes to the rolling
window (:meth:`BurstTable.meanings`, handed to each call's emotion client). The ``meanings`` map
answers what a burst *meant* (the burst model's affect over EmoGator's categories): when a burst's
top meaning scores at least ``meaning_min_score`` and is listed, its expression wins over the
type's -- a groan of pain is answered with concern, a sigh of relief warmly. :func:`load_burst_table`
validates the file on load (``FILE:LINE:COL`` errors): unknown keys, unknown expressions, values
out of range, any burst type missing or unknown to the model, and meanings the model cannot name."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from emotion.burst_meaning import BurstMeaning
from emotion.models.burst_labels import EMOGATOR_CATEGORIES, NONE, output_labels  # torch-free: every SIP process loads this
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
    meaning_min_score: float = Field(0.35, gt=0, le=1, description="a burst's top meaning must score this to pick the expression")
    meaning_expressions: dict[str, Expression] = Field(
        default_factory=dict, alias="meanings", description="EmoGator category -> expression, overriding the type's"
    )

    @field_validator("meaning_expressions")
    @classmethod
    def _known_meanings(cls, value: dict[str, Expression]) -> dict[str, Expression]:
        unknown = sorted(set(value) - set(EMOGATOR_CATEGORIES))
        if unknown:
            raise ValueError(f"unknown burst meanings {unknown} (the burst model names {list(EMOGATOR_CATEGORIES)})")
        return value

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

    def expression(self, burst: str, meaning: str | None = None, meaning_score: float = 0.0) -> Expression | None:
        """The expression for a burst: its meaning's when listed and heard clearly enough, else
        its type's; None for ``none`` (no burst, no change)."""
        entry = self.bursts.get(burst)
        if entry is None:
            return None
        if meaning is not None and meaning_score >= self.meaning_min_score and meaning in self.meaning_expressions:
            return self.meaning_expressions[meaning]
        return entry.expression

    def meanings(self) -> dict[str, BurstMeaning]:
        """What each burst type says about the caller, for the emotion client's window."""
        return {name: BurstMeaning(e.valence, e.arousal) for name, e in self.bursts.items()}


def load_burst_table(path: str | Path | None = None) -> BurstTable:
    # Whole-table problems (missing/unknown types) point at the `bursts:` key.
    return load_model(path if path is not None else DEFAULT_PATH, BurstTable, root_key="bursts")
