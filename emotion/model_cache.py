"""Where prepared model files live on this machine: ``$BEDSIDE_MODEL_DIR`` or ``~/.cache/bedside/models``.

Nothing is downloaded: the directory holds what the installer derives from pip packages and
../shared (the joined Whisper base model, ONNX exports of the emotion encoders, a YAMNet copy).
It is the one place that reads the variable; STT's model locations (agent/services/model_paths.py)
use it too. Torch-free on purpose: YAMNet and the validators import it."""

from __future__ import annotations

import os
from pathlib import Path

MODEL_DIR_ENV = "BEDSIDE_MODEL_DIR"


def model_cache_dir() -> Path:
    env = os.environ.get(MODEL_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "bedside" / "models"


__all__ = ["MODEL_DIR_ENV", "model_cache_dir"]
