"""Where ``../shared`` is: the folder beside the repo that holds the data sets and some models.

``$BEDSIDE_SHARED`` overrides it. Torch-free and tiny, so the runtime (YAMNet's model lookup,
``bedside emotion``'s error handling) and the training data readers (emotion/training/data.py)
share it without the runtime importing training code."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_ENV = "BEDSIDE_SHARED"


class DataMissing(FileNotFoundError):
    """A data set under ../shared is not there; the message says where it was looked for."""


def shared_root() -> Path:
    root = Path(os.environ.get(SHARED_ENV, REPO.parent / "shared")).expanduser()
    if not (root / "data").is_dir():
        raise DataMissing(f"shared data not found at {root} (set {SHARED_ENV} to the folder holding data/)")
    return root
