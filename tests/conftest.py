"""Shared test fixtures: paths to ../shared data and the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("BEDSIDE_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    if not (SHARED / "data").is_dir():
        pytest.fail(f"../shared data not found at {SHARED} (set BEDSIDE_SHARED)")
    return SHARED


def noizeus_transcripts(shared: Path) -> dict[str, str]:
    rows = (shared / "data" / "noizeus" / "transcripts.tsv").read_text().strip().splitlines()
    return {name: text for name, text in (row.split("\t", 1) for row in rows)}


@pytest.fixture(scope="session")
def text_encoder():
    """The MiniLM sentence encoder (loaded once; the graph matcher and language model use it)."""
    from emotion.text_encoder import TextEncoder

    return TextEncoder.load()
