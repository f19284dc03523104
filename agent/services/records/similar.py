"""Nearest segments by manner of speaking: the index behind ``bedside records similar`` (issue 16).

Every 2-s caller segment has a 64-d audio embedding (emotion/models/embedding.py): unit length and
trained with a cosine classifier, so the angle between two vectors says how alike two moments were
*said*, not what was said. Similarity here is cosine (inner product of unit vectors).

The call store's database is the source of truth; this index is a derived cache of it, one file that
the server and the CLI share (``save``/``load``), brought up to date by adding the rows whose id is
above ``watermark``. It is FAISS's inverted-file index with exact vectors (IVF-Flat): the vectors are
split into about sqrt(n) lists by spherical k-means and a search scans the lists nearest the query.
Chosen over HNSW (usearch, FAISS) because rebuilding a million segments from the database takes
seconds rather than minutes on two cores, segments can be removed (retention purges), and a filter is
applied inside the scan (an id bitmap) rather than after it; docs/records.md has the measurements.

Not thread-safe: the caller serialises access (one writer, or a lock)."""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import faiss

FORMAT = "bedside-segment-index"
VERSION = 1
EXACT_BELOW = 20_000  # below this many vectors one list: every search is exact (under a millisecond)
REGROW = 4  # re-cluster when the index has grown this much since it was last clustered
PROBE_SHARE = 4  # an unfiltered search scans 1/4 of the lists: ~3.5 ms at a million, recall@10 0.99+
# on clustered data, 0.89 even on uniform noise (1/16: 1 ms but 0.90 and 0.60; docs/records.md)
TRAIN_PER_LIST = 50  # k-means sample per list (FAISS warns under 39)
SEED = 1234  # k-means and its sample: the same rows give the same index


class IndexFileError(RuntimeError):
    """The index file is missing, unreadable or for another shape: rebuild it from the call store."""


@dataclass(frozen=True, slots=True)
class Neighbour:
    segment_id: int
    similarity: float  # cosine, -1..1


def _faiss() -> ModuleType:
    """FAISS, loaded on first use rather than at import: the result types of a search are imported
    by processes that must never load it. FAISS and pjsua2 are both SWIG modules sharing one type
    table per interpreter, and with both loaded ``bedside serve``'s front stopped answering calls and
    crashed (facebookresearch/faiss#2465 is the same clash with another SWIG library)."""
    import faiss

    return faiss


def _one_list(dim: int) -> faiss.IndexIVFFlat:
    """An IVF index with a single list: exact search, no training needed (the centroid is zero)."""
    faiss = _faiss()
    quantizer = faiss.IndexFlatIP(dim)
    quantizer.add(np.zeros((1, dim), np.float32))
    return faiss.IndexIVFFlat(quantizer, dim, 1, faiss.METRIC_INNER_PRODUCT)


def _bitmap(ids: np.ndarray) -> np.ndarray:
    """FAISS's IDSelectorBitmap layout: bit (id & 7) of byte (id >> 3); sized by the largest id given."""
    bits = np.zeros(int(ids[-1]) + 1, bool)
    bits[ids] = True
    return np.packbits(bits, bitorder="little")


class SegmentIndex:
    """Segment ids (the store's row ids) -> unit vectors, with the call's start time for ``since``."""

    def __init__(self, dim: int = 64) -> None:
        if dim < 1:
            raise ValueError(f"dim must be positive, not {dim}")
        self.dim = dim
        self._ids = np.empty(0, np.int64)  # sorted, aligned with _started
        self._started = np.empty(0, np.float64)
        self._watermark = 0
        self._clustered_at = 0  # how many vectors the lists were clustered for (0: one list)
        self._index = _one_list(dim)

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def watermark(self) -> int:
        """The largest id ever added (zero-vector rows included, removals not subtracted)."""
        return self._watermark

    @property
    def ids(self) -> np.ndarray:
        """The indexed ids, ascending (read-only), to reconcile with the store after a purge."""
        view = self._ids.view()
        view.flags.writeable = False
        return view

    @property
    def lists(self) -> int:
        return int(self._index.nlist)

    def add(self, ids: np.ndarray, vectors: np.ndarray, started_at: np.ndarray) -> int:
        """Index rows; returns how many were added.

        Vectors are normalised here. All-zero vectors (the embedding of a silent segment) and ids
        already indexed are skipped, so an overlapping sync does no harm, but both move the
        watermark. When the index has grown ``REGROW`` times since it was clustered (first at
        ``EXACT_BELOW`` vectors) the lists are clustered again: seconds at a million vectors."""
        ids = np.asarray(ids, np.int64)
        vectors = np.asarray(vectors, np.float32)
        started = np.asarray(started_at, np.float64)
        if ids.ndim != 1 or vectors.shape != (len(ids), self.dim) or started.shape != ids.shape:
            raise ValueError(f"want ids (n,), vectors (n, {self.dim}), started_at (n,); got {ids.shape}, {vectors.shape}, {started.shape}")
        if not len(ids):
            return 0
        if ids.min() < 0 or len(np.unique(ids)) != len(ids):
            raise ValueError("ids must be non-negative and distinct")
        if not (np.isfinite(vectors).all() and np.isfinite(started).all()):
            raise ValueError("vectors and started_at must be finite")
        self._watermark = max(self._watermark, int(ids.max()))
        norms = np.linalg.norm(vectors, axis=1)
        keep = (norms > 0) & ~self._present(ids)
        if not keep.any():
            return 0
        rows = np.flatnonzero(keep)
        rows = rows[np.argsort(ids[rows], kind="stable")]
        ids, started = ids[rows], started[rows]
        vectors = vectors[rows]
        vectors /= norms[rows, None]
        if len(self._ids) + len(ids) >= max(EXACT_BELOW, REGROW * self._clustered_at):
            if len(self._ids):
                old_ids, old_vectors = self._contents()
                order = np.argsort(np.concatenate([old_ids, ids]), kind="stable")
                ids_all, vectors = np.concatenate([old_ids, ids])[order], np.concatenate([old_vectors, vectors])[order]
                self._cluster(ids_all, vectors)
            else:
                self._cluster(ids, vectors)
        else:
            self._index.add_with_ids(vectors, ids)
        if not len(self._ids) or ids[0] > self._ids[-1]:
            self._ids, self._started = np.concatenate([self._ids, ids]), np.concatenate([self._started, started])
        else:
            all_ids = np.concatenate([self._ids, ids])
            order = np.argsort(all_ids, kind="stable")
            self._ids, self._started = all_ids[order], np.concatenate([self._started, started])[order]
        return len(ids)

    def remove(self, ids: np.ndarray | Collection[int]) -> int:
        """Drop segments (retention purged them); unknown ids are ignored. Returns how many went."""
        ids = np.unique(np.asarray(list(ids) if not isinstance(ids, np.ndarray) else ids, np.int64))
        gone = ids[self._present(ids)]
        if not len(gone):
            return 0
        self._index.remove_ids(gone)  # scans every list once: milliseconds at a million
        keep = np.ones(len(self._ids), bool)
        keep[np.searchsorted(self._ids, gone)] = False
        self._ids, self._started = self._ids[keep], self._started[keep]
        return len(gone)

    def search(
        self,
        vector: np.ndarray,
        k: int = 10,
        since: float | None = None,
        exclude: np.ndarray | Collection[int] | None = None,
    ) -> list[Neighbour]:
        """The k segments most alike ``vector``, most similar first.

        ``since`` keeps segments of calls that started at or after it (epoch seconds); ``exclude``
        leaves out these segment ids (the query call's own). Both become one bitmap that the scan
        checks before comparing a vector, so a filter never removes results after the fact:
        a filter that keeps at most 1/``PROBE_SHARE`` of the segments is answered exactly (every
        list scanned, only kept vectors compared: 3-7 ms at a million); a wider one scans
        proportionally more lists, so about as many kept vectors are compared as an unfiltered
        search compares; and if the scanned lists held fewer than k kept segments the search is
        repeated exactly. Fewer than k come back only when fewer than k are kept. A zero query
        (a silent segment) has no direction: no neighbours."""
        if k < 1:
            raise ValueError(f"k must be positive, not {k}")
        query = np.asarray(vector, np.float32).reshape(-1)
        if query.shape != (self.dim,) or not np.isfinite(query).all():
            raise ValueError(f"want a finite vector of {self.dim}, got shape {np.shape(vector)}")
        norm = float(np.linalg.norm(query))
        if norm == 0 or not len(self._ids):
            return []
        query = (query / norm)[None]
        allowed: np.ndarray | None = None
        if since is not None:
            allowed = self._started >= since
        if exclude is not None and len(exclude):
            drop = np.asarray(list(exclude) if not isinstance(exclude, np.ndarray) else exclude, np.int64)
            drop = drop[self._present(drop)]
            if allowed is None:
                allowed = np.ones(len(self._ids), bool)
            allowed[np.searchsorted(self._ids, drop)] = False
        kept = len(self._ids) if allowed is None else int(allowed.sum())
        if kept == 0:
            return []
        bitmap = None if allowed is None or kept == len(self._ids) else _bitmap(self._ids[allowed])
        faiss = _faiss()
        selector = None if bitmap is None else faiss.IDSelectorBitmap(len(bitmap), faiss.swig_ptr(bitmap))
        lists = self.lists
        probe = min(lists, math.ceil(math.ceil(lists / PROBE_SHARE) * len(self._ids) / kept))
        want = min(k, kept)
        found = self._query(query, want, probe, selector)
        if len(found) < want and probe < lists:
            found = self._query(query, want, lists, selector)
        return found

    def save(self, path: Path) -> None:
        """Write atomically (a temporary file beside it, then rename): a reader sees the old or the new."""
        path = Path(path)
        meta = {"format": FORMAT, "version": VERSION, "dim": self.dim, "watermark": self._watermark, "clustered_at": self._clustered_at}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                np.savez(f, meta=np.array(json.dumps(meta)), ids=self._ids, started=self._started, index=_faiss().serialize_index(self._index))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path, dim: int | None = None) -> SegmentIndex:
        """Read a saved index; ``dim``, when given, must match. Anything wrong raises IndexFileError
        naming the path, for the caller to rebuild from the call store."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                ids, started, blob = data["ids"], data["started"], data["index"]
            index = _faiss().deserialize_index(blob)
        except FileNotFoundError as e:
            raise IndexFileError(f"{path}: no segment index there; build it from the call store") from e
        except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile, RuntimeError) as e:
            raise IndexFileError(f"{path}: not a readable segment index ({e}); rebuild it from the call store") from e
        problem = _mismatch(meta, ids, started, index, dim)
        if problem:
            raise IndexFileError(f"{path}: {problem}; rebuild it from the call store")
        self = cls(int(meta["dim"]))
        self._ids, self._started, self._index = ids, started, index
        self._watermark, self._clustered_at = int(meta["watermark"]), int(meta["clustered_at"])
        return self

    def _present(self, ids: np.ndarray) -> np.ndarray:
        if not len(self._ids):
            return np.zeros(len(ids), bool)
        at = np.minimum(np.searchsorted(self._ids, ids), len(self._ids) - 1)
        return self._ids[at] == ids

    def _contents(self) -> tuple[np.ndarray, np.ndarray]:
        """Every (id, unit vector) held in the lists: IVF-Flat stores the float32 vectors as they are."""
        from faiss.contrib.inspect_tools import get_invlist

        parts = [get_invlist(self._index.invlists, i) for i in range(self.lists)]
        ids = np.concatenate([p[0] for p in parts])
        vectors = np.concatenate([p[1].view(np.float32).reshape(-1, self.dim) for p in parts])
        return ids, vectors

    def _cluster(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Rebuild with ~sqrt(n) lists by spherical k-means on a seeded sample."""
        n = len(ids)
        lists = max(1, min(round(math.sqrt(n)), n // TRAIN_PER_LIST))
        sample = np.sort(np.random.default_rng(SEED).choice(n, min(n, lists * TRAIN_PER_LIST), replace=False))
        faiss = _faiss()
        quantizer = faiss.IndexFlatIP(self.dim)
        index = faiss.IndexIVFFlat(quantizer, self.dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.cp.seed, index.cp.spherical = SEED, True
        index.train(vectors[sample])
        index.add_with_ids(vectors, ids)
        self._index, self._clustered_at = index, n

    def _query(self, query: np.ndarray, k: int, probe: int, selector: faiss.IDSelector | None) -> list[Neighbour]:
        faiss = _faiss()
        params = faiss.SearchParametersIVF(nprobe=probe) if selector is None else faiss.SearchParametersIVF(nprobe=probe, sel=selector)
        sims, ids = self._index.search(query, k, params=params)
        return [Neighbour(int(i), min(1.0, float(s))) for s, i in zip(sims[0], ids[0]) if i >= 0]


def _mismatch(meta: object, ids: np.ndarray, started: np.ndarray, index: faiss.Index, dim: int | None) -> str:
    """Why a loaded file cannot be used as it is ('' when it can)."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        return "not a segment index file"
    if meta.get("version") != VERSION:
        return f"format version {meta.get('version')}, this code reads {VERSION}"
    if not all(isinstance(meta.get(key), int) for key in ("dim", "watermark", "clustered_at")):
        return "metadata incomplete"
    if dim is not None and meta["dim"] != dim:
        return f"vectors of {meta['dim']} dimensions, expected {dim}"
    faiss = _faiss()
    if not isinstance(index, faiss.IndexIVFFlat) or index.d != meta["dim"] or index.metric_type != faiss.METRIC_INNER_PRODUCT:
        return "the stored index is not an inner-product IVF-Flat of that dimension"
    if ids.dtype != np.int64 or started.dtype != np.float64 or ids.ndim != 1 or started.shape != ids.shape:
        return "id and start-time arrays malformed"
    if index.ntotal != len(ids) or (len(ids) and (np.any(np.diff(ids) <= 0) or ids[-1] > meta["watermark"])):
        return f"index holds {index.ntotal} vectors but {len(ids)} ids (or ids out of order)"
    return ""
