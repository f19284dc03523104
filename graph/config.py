"""Configuration of the conversation: which graph file, and its hot reload.

The graph itself (what the agent says and when) is the clinic's YAML file, validated on its own
(:mod:`graph.schema`); this is the server's side of it."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_GRAPH = Path(__file__).resolve().parents[1] / "configs" / "graphs" / "clinic.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class GraphConfig(_Strict):
    path: Path | None = Field(None, description="the conversation graph; empty = the bundled configs/graphs/clinic.yaml")
    reload: bool = Field(True, description="watch the file: a valid edit applies to new calls, an invalid one is rejected")
    reload_interval_s: float = Field(1.0, gt=0, le=60, description="how often the file is checked for changes")

    @property
    def file(self) -> Path:
        return self.path if self.path is not None else DEFAULT_GRAPH
