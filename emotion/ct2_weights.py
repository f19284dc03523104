"""Read variables out of a CTranslate2 ``model.bin`` without CTranslate2.

The prosody features need Whisper's *intermediate* encoder layers, which CTranslate2's API does
not expose, so the bundled tiny.en weights are read here and run by a small torch module
(:mod:`emotion.speech_features`). Format (CTranslate2 binary version 6): int32 version, the spec
name, int32 revision, uint32 variable count, then per variable: name, int8 rank, uint32 dims,
int8 dtype, uint32 byte count, raw little-endian data. Strings are uint16 length + NUL-ended."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
SUPPORTED_VERSIONS = (5, 6)


class Ct2FormatError(ValueError):
    pass


def _unpack(f: BinaryIO, fmt: str) -> tuple:
    size = struct.calcsize(fmt)
    raw = f.read(size)
    if len(raw) != size:
        raise Ct2FormatError("truncated CTranslate2 model file")
    return struct.unpack(fmt, raw)


def _string(f: BinaryIO) -> str:
    (n,) = _unpack(f, "<H")
    return f.read(n)[:-1].decode("utf-8")


def read_variables(path: str | Path, prefix: str = "") -> dict[str, np.ndarray]:
    """Variables whose name starts with ``prefix``; the others are skipped without being read."""
    out: dict[str, np.ndarray] = {}
    with open(path, "rb") as f:
        (version,) = _unpack(f, "<i")
        if version not in SUPPORTED_VERSIONS:
            raise Ct2FormatError(f"{path}: CTranslate2 binary version {version} is not supported")
        _string(f)  # spec name, e.g. WhisperSpec
        _unpack(f, "<i")  # spec revision
        (count,) = _unpack(f, "<I")
        for _ in range(count):
            name = _string(f)
            (rank,) = _unpack(f, "<b")
            dims = _unpack(f, f"<{rank}I") if rank else ()
            (dtype_id,) = _unpack(f, "<b")
            (nbytes,) = _unpack(f, "<I")
            if not name.startswith(prefix):
                f.seek(nbytes, 1)
                continue
            if dtype_id not in _DTYPES:
                raise Ct2FormatError(f"{path}: variable {name} has unsupported dtype id {dtype_id}")
            out[name] = np.frombuffer(f.read(nbytes), dtype=_DTYPES[dtype_id]).reshape(dims)
    return out
