from __future__ import annotations

from pathlib import Path

import pytest

from telephony.vad import SileroModel


@pytest.fixture(scope="module")
def data(shared: Path) -> Path:
    """The shared audio (tests/conftest.py finds ../shared and fails loudly without it)."""
    return shared / "data"


@pytest.fixture(scope="module")
def model() -> SileroModel:
    return SileroModel()
