"""Pre-synthesized sentences shared by a node's processes through one memory-mapped file.

The node's model host (the front process, agent/services/model_host.py) appends every sentence
its ``PhraseCache`` makes to a file in its private runtime directory and tells each SIP worker
where it lies (``PhraseEntry``); the workers map the file read-only, so the audio is in memory
once per node instead of once per process. Entries are only ever appended: the cache stops
warming at its size bound, and the file has the same bound (``tts.cache_mb``)."""

from __future__ import annotations

import mmap
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tts.phrase_cache import normalize_phrase
from tts.synthesizer import VoiceParams


@dataclass(frozen=True, slots=True)
class PhraseEntry:
    text: str  # normalized (tts.phrase_cache.normalize_phrase)
    params: VoiceParams
    offset: int
    length: int

    def fields(self) -> dict[str, Any]:
        return {"text": self.text, "params": asdict(self.params), "offset": self.offset, "length": self.length}

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> PhraseEntry:
        return cls(str(fields["text"]), VoiceParams(**fields["params"]), int(fields["offset"]), int(fields["length"]))


class PhraseFileWriter:
    """The host's side: appends PCM, remembers where (for workers that connect later)."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._file = open(path, "wb", buffering=0)  # noqa: SIM115 - kept open for the host's life
        os.chmod(path, 0o600)
        self._size = 0
        self.entries: dict[tuple[str, VoiceParams], PhraseEntry] = {}

    def append(self, text: str, params: VoiceParams, pcm: bytes) -> PhraseEntry | None:
        """The entry for ``pcm``, or None when it is already there or the file is at its bound."""
        key = (normalize_phrase(text), params)
        if key in self.entries or not pcm or self._size + len(pcm) > self.max_bytes:
            return None
        self._file.write(pcm)  # unbuffered: on disk (page cache) before a worker is told
        entry = PhraseEntry(key[0], params, self._size, len(pcm))
        self._size += len(pcm)
        self.entries[key] = entry
        return entry

    @property
    def bytes(self) -> int:
        return self._size

    def close(self) -> None:
        self._file.close()


class SharedPhrases:
    """A worker's side: the phrase cache's ``get`` over the host's file (agent/call/speaker.py's
    ``PhraseSource``). ``add`` is told each entry the host announces."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._index: dict[tuple[str, VoiceParams], PhraseEntry] = {}
        self._map: mmap.mmap | None = None
        self._lock = threading.Lock()  # get() may run off the event loop (speaker tasks do not, tests may)

    def add(self, entry: PhraseEntry) -> None:
        self._index[(entry.text, entry.params)] = entry

    def get(self, text: str, params: VoiceParams | None = None) -> bytes | None:
        if params is None:
            return None  # the host always names the expression's params; None never matches an entry
        entry = self._index.get((normalize_phrase(text), params))
        if entry is None:
            return None
        end = entry.offset + entry.length
        with self._lock:
            if self._map is None or len(self._map) < end:
                self._remap()
            assert self._map is not None
            if len(self._map) < end:
                return None  # announced but not readable (a truncated file): synthesize instead
            return bytes(self._map[entry.offset:end])

    def _remap(self) -> None:
        if self._map is not None:
            self._map.close()  # get() returned copies: nothing refers to the old map
            self._map = None
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size:
                self._map = mmap.mmap(f.fileno(), size, prot=mmap.PROT_READ)

    def __len__(self) -> int:
        return len(self._index)

    def close(self) -> None:
        with self._lock:
            if self._map is not None:
                self._map.close()
                self._map = None


__all__ = ["PhraseEntry", "PhraseFileWriter", "SharedPhrases"]
