"""Reading Whisper's encoder out of the CTranslate2 model file."""

from __future__ import annotations

from pathlib import Path

import pytest

from emotion.ct2_weights import Ct2FormatError, read_variables
from emotion.speech_features import _tiny_en_path


def test_reads_the_tiny_en_encoder_only() -> None:
    w = read_variables(_tiny_en_path(), "encoder/")
    assert w and all(k.startswith("encoder/") for k in w)
    assert w["encoder/conv1/weight"].shape == (384, 80, 3)
    assert w["encoder/position_encodings/encodings"].shape == (1500, 384)
    assert int(w["encoder/num_heads"]) == 6
    assert sum(k.endswith("self_attention/linear_0/weight") for k in w) == 4  # four layers


def test_rejects_other_files(tmp_path: Path) -> None:
    bad = tmp_path / "model.bin"
    bad.write_bytes((99).to_bytes(4, "little") + b"\x00" * 8)
    with pytest.raises(Ct2FormatError, match="version 99"):
        read_variables(bad)
    bad.write_bytes((6).to_bytes(4, "little") + b"\x05")
    with pytest.raises(Ct2FormatError, match="truncated"):
        read_variables(bad)
