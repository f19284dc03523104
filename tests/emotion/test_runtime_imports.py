"""The runtime (what a call or ``bedside emotion serve``/``score`` runs) imports neither scikit-learn nor
emotion.training: scikit-learn is the ``[train]`` extra and emotion.training is not in the wheel."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNTIME = (
    "emotion.engine", "emotion.service", "emotion.client", "emotion.scorer", "emotion.cli", "emotion.yamnet",
    "emotion.models", "emotion.models.base", "emotion.models.burst", "emotion.models.burst_labels",
    "emotion.models.embedding", "emotion.models.language", "emotion.models.prosody",
)
_PROBE = """
import importlib, json, sys
for name in {modules!r}:
    importlib.import_module(name)
{then}
print(json.dumps(sorted(sys.modules)))
"""


def _modules_after(then: str = "") -> list[str]:
    code = _PROBE.format(modules=RUNTIME, then=then)
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _assert_runtime_only(modules: list[str]) -> None:
    assert "emotion.training" not in modules and not [m for m in modules if m.startswith("emotion.training.")]
    assert not [m for m in modules if m == "sklearn" or m.startswith("sklearn.")]
    assert "joblib" not in modules and "profanity_check" not in modules
    assert "emotion.data" not in modules  # the data set readers' old name: training only


def test_importing_the_runtime_imports_no_training_code() -> None:
    _assert_runtime_only(_modules_after())


@pytest.mark.slow
def test_loading_and_scoring_imports_no_training_code() -> None:
    then = """
import numpy as np
from emotion.models.language import LanguageModel
from emotion.scorer import AudioScorer
LanguageModel.load().predict("Thank you, that really helps.")
t = np.arange(32000) / 16000
AudioScorer.load().score_audio((0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32))
"""
    _assert_runtime_only(_modules_after(then))
