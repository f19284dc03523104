"""The expression presets file a clinic may edit (``tts.expressions``), loaded with
``FILE:LINE:COL`` errors through the one YAML locator (graph/yaml_source.py).

The tts package defines the presets and reads its bundled file itself; a file a person edits
is loaded here, in the composition root, so tts does not import the layer above it."""

from __future__ import annotations

from pathlib import Path

from graph.yaml_source import load_model
from tts.expression import DEFAULT_PATH, ExpressionBook


def load_expressions(path: str | Path | None = None) -> ExpressionBook:
    # Whole-book problems (a missing expression) point at the `presets:` key.
    return load_model(path if path is not None else DEFAULT_PATH, ExpressionBook, root_key="presets")


__all__ = ["load_expressions"]
