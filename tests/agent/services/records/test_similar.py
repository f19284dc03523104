"""The segment index: answers checked against exact (brute-force) cosine search on the same data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.services.records import similar
from agent.services.records.similar import EXACT_BELOW, IndexFileError, Neighbour, SegmentIndex

DIM = 64
IVF_SIZE = EXACT_BELOW + 4_000  # large enough to be split into lists


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def clustered(n: int, seed: int = 0, clusters: int = 12, noise: float = 0.15) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = unit(rng.standard_normal((clusters, DIM)))
    return unit(centres[rng.integers(0, clusters, n)] + rng.standard_normal((n, DIM)) * noise)


def exact_top(ids: np.ndarray, vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    sims = vectors @ unit(query)
    return ids[np.argsort(-sims, kind="stable")[:k]].tolist()


def build(vectors: np.ndarray, started: np.ndarray | None = None) -> tuple[SegmentIndex, np.ndarray, np.ndarray]:
    ids = np.arange(1, len(vectors) + 1, dtype=np.int64)
    started = np.arange(len(vectors), dtype=np.float64) if started is None else started
    index = SegmentIndex(DIM)
    assert index.add(ids, vectors, started) == len(vectors)
    return index, ids, started


@pytest.fixture(scope="module")
def big() -> tuple[SegmentIndex, np.ndarray, np.ndarray, np.ndarray]:
    vectors = clustered(IVF_SIZE)
    index, ids, started = build(vectors)
    assert index.lists > 1
    return index, ids, vectors, started


def queries(n: int, vectors: np.ndarray, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return unit(vectors[rng.integers(0, len(vectors), n)] + rng.standard_normal((n, DIM)) * 0.05)


def found_ids(found: list[Neighbour]) -> list[int]:
    return [n.segment_id for n in found]


def test_a_small_index_answers_exactly() -> None:
    vectors = unit(np.random.default_rng(3).standard_normal((3_000, DIM)))  # unclustered: the hard case
    index, ids, _ = build(vectors)
    assert index.lists == 1
    for query in unit(np.random.default_rng(4).standard_normal((20, DIM))):
        found = index.search(query, k=10)
        assert found_ids(found) == exact_top(ids, vectors, query, 10)
        sims = [n.similarity for n in found]
        assert sims == sorted(sims, reverse=True)
        np.testing.assert_allclose(sims, np.sort(vectors @ query)[::-1][:10], rtol=1e-5)


def test_vectors_and_queries_are_normalised() -> None:
    vectors = clustered(500, seed=5)
    scale = np.random.default_rng(6).uniform(0.1, 100.0, (500, 1)).astype(np.float32)
    index, ids, _ = build(vectors * scale)
    found = index.search(vectors[42] * 7.0, k=3)
    assert found[0].segment_id == ids[42]
    assert found[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert found[1].similarity == pytest.approx(float(np.sort(vectors @ vectors[42])[-2]), abs=1e-5)


def test_the_clustered_index_finds_the_nearest(big) -> None:
    index, ids, vectors, _ = big
    hits = 0
    for query in queries(50, vectors):
        hits += len(set(found_ids(index.search(query, k=10))) & set(exact_top(ids, vectors, query, 10)))
    assert hits / 500 >= 0.95
    stored = index.search(vectors[123], k=1)[0]
    assert stored.segment_id == ids[123] and stored.similarity == pytest.approx(1.0, abs=1e-5)


def test_a_wide_since_filter_keeps_later_calls_and_k_of_them(big) -> None:
    index, ids, vectors, started = big
    since = float(np.quantile(started, 0.7))
    kept = started >= since
    hits = 0
    for query in queries(30, vectors, seed=2):
        found = index.search(query, k=10, since=since)
        assert len(found) == 10
        assert all(started[n.segment_id - 1] >= since for n in found)
        hits += len(set(found_ids(found)) & set(exact_top(ids[kept], vectors[kept], query, 10)))
    assert hits / 300 >= 0.95


def test_a_selective_since_filter_is_answered_exactly(big) -> None:
    index, ids, vectors, started = big
    since = float(started[-24])  # the 24 most recent segments: 0.1%
    for query in queries(20, vectors, seed=3):
        found = index.search(query, k=10, since=since)
        assert found_ids(found) == exact_top(ids[-24:], vectors[-24:], query, 10)


def test_a_filter_whose_segments_lie_far_from_the_query_falls_back_to_exact(monkeypatch) -> None:
    """10% of the segments are kept, all in the direction opposite the query. With 1/16 of the lists
    scanned unfiltered, a 10% filter scans the 63% of lists nearest the query, which hold none of
    them, so the first scan comes back short and the search repeats exactly."""
    monkeypatch.setattr(similar, "PROBE_SHARE", 16)
    rng = np.random.default_rng(7)
    vectors = clustered(IVF_SIZE, seed=8)
    query = vectors[0]
    far = int(IVF_SIZE * 0.1)
    vectors[-far:] = unit(-query + rng.standard_normal((far, DIM)) * 0.15)
    index, ids, started = build(vectors)
    probes: list[int] = []
    original = SegmentIndex._query

    def spy(self, q, k, probe, selector):
        probes.append(probe)
        return original(self, q, k, probe, selector)

    monkeypatch.setattr(SegmentIndex, "_query", spy)
    found = index.search(query, k=10, since=float(started[-far]))
    assert found_ids(found) == exact_top(ids[-far:], vectors[-far:], query, 10)
    assert probes[0] < index.lists and probes[-1] == index.lists


def test_a_filter_keeping_fewer_than_k_returns_them_all(big) -> None:
    index, ids, vectors, started = big
    found = index.search(vectors[0], k=10, since=float(started[-3]))
    assert sorted(found_ids(found)) == ids[-3:].tolist()
    assert index.search(vectors[0], k=10, since=float(started[-1]) + 1.0) == []


def test_exclude_leaves_out_the_query_calls_own_segments() -> None:
    vectors = clustered(2_000, seed=9)
    own = np.arange(100, 110)  # rows of the query's call: near copies of the query
    vectors[own] = unit(vectors[100] + np.random.default_rng(10).standard_normal((10, DIM)) * 0.01)
    index, ids, _ = build(vectors)
    query = vectors[100]
    assert set(found_ids(index.search(query, k=10))) == set(ids[own].tolist())
    found = index.search(query, k=10, exclude=ids[own])
    rest = np.setdiff1d(np.arange(len(ids)), own)
    assert found_ids(found) == exact_top(ids[rest], vectors[rest], query, 10)
    assert found_ids(index.search(query, k=10, exclude=set(ids[own].tolist()) | {10**9})) == found_ids(found)


@pytest.mark.parametrize("n", [3_000, IVF_SIZE])
def test_removed_segments_are_not_found(n: int) -> None:
    vectors = clustered(n, seed=11)
    index, ids, _ = build(vectors)
    query = vectors[7]
    before = found_ids(index.search(query, k=10))
    gone = before[::2]
    assert index.remove(np.asarray(gone + [10**9])) == 5
    assert len(index) == n - 5 and index.watermark == n
    after = found_ids(index.search(query, k=10))
    keep = ~np.isin(ids, gone)
    assert not set(after) & set(gone)
    truth = exact_top(ids[keep], vectors[keep], query, 10)
    assert after == truth if index.lists == 1 else len(set(after) & set(truth)) >= 9
    assert index.remove(gone) == 0
    assert gone[0] not in index.ids.tolist()


def test_watermark_follows_the_largest_id_and_add_is_idempotent() -> None:
    vectors = clustered(10, seed=12)
    index = SegmentIndex(DIM)
    assert index.watermark == 0 and len(index) == 0
    assert index.search(vectors[0]) == []
    assert index.add(np.arange(1, 6), vectors[:5], np.zeros(5)) == 5
    assert index.watermark == 5
    silent = np.zeros((1, DIM), np.float32)  # the embedding of a silent segment
    assert index.add(np.array([3, 4, 9]), np.vstack([vectors[2:4], silent]), np.zeros(3)) == 0
    assert index.watermark == 9 and len(index) == 5
    assert index.add(np.array([7]), vectors[7:8], np.zeros(1)) == 1  # late row below the watermark
    assert index.watermark == 9 and index.ids.tolist() == [1, 2, 3, 4, 5, 7]
    assert index.search(silent[0]) == []
    assert found_ids(index.search(vectors[7], k=1)) == [7]


def test_add_rejects_what_it_cannot_index() -> None:
    index = SegmentIndex(DIM)
    v = clustered(3, seed=13)
    with pytest.raises(ValueError):
        index.add(np.arange(3), v[:, :32], np.zeros(3))
    with pytest.raises(ValueError):
        index.add(np.array([1, 1, 2]), v, np.zeros(3))
    with pytest.raises(ValueError):
        index.add(np.array([-1, 1, 2]), v, np.zeros(3))
    with pytest.raises(ValueError):
        index.add(np.arange(3), v, np.zeros(2))
    with pytest.raises(ValueError):
        index.add(np.arange(3), np.where(np.eye(3, DIM) > 0, np.nan, v), np.zeros(3))
    with pytest.raises(ValueError):
        index.search(v[0], k=0)
    assert len(index) == 0 and index.watermark == 0


def test_growing_past_the_exact_size_keeps_every_row() -> None:
    vectors = clustered(IVF_SIZE, seed=14)
    ids = np.arange(1, IVF_SIZE + 1)
    index = SegmentIndex(DIM)
    half = EXACT_BELOW - 5_000
    index.add(ids[:half], vectors[:half], np.zeros(half))
    assert index.lists == 1
    index.add(ids[half:], vectors[half:], np.zeros(IVF_SIZE - half))
    assert index.lists > 1 and len(index) == IVF_SIZE
    for row in (0, half - 1, half, IVF_SIZE - 1):
        assert index.search(vectors[row], k=1)[0].segment_id == ids[row]


def test_the_same_rows_give_the_same_index(tmp_path: Path) -> None:
    vectors = clustered(IVF_SIZE, seed=15)
    a, _, _ = build(vectors)
    b, _, _ = build(vectors)
    for query in queries(20, vectors, seed=16):
        assert a.search(query, k=10) == b.search(query, k=10)
    a.save(tmp_path / "a")
    b.save(tmp_path / "b")
    with np.load(tmp_path / "a") as fa, np.load(tmp_path / "b") as fb:
        assert fa.files == fb.files and all(np.array_equal(fa[name], fb[name]) for name in fa.files)


@pytest.mark.parametrize("n", [500, IVF_SIZE])
def test_save_and_load_round_trip(tmp_path: Path, n: int) -> None:
    vectors = clustered(n, seed=17)
    index, ids, started = build(vectors)
    index.remove(ids[:3])
    path = tmp_path / "segments.index"
    index.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["segments.index"]
    loaded = SegmentIndex.load(path, dim=DIM)
    assert len(loaded) == len(index) and loaded.watermark == index.watermark == n and loaded.lists == index.lists
    assert loaded.ids.tolist() == index.ids.tolist()
    since = float(started[n // 2])
    for query in queries(10, vectors, seed=18):
        assert loaded.search(query, k=10) == index.search(query, k=10)
        assert loaded.search(query, k=10, since=since) == index.search(query, k=10, since=since)
    extra = clustered(5, seed=19)
    assert loaded.add(np.arange(n + 1, n + 6), extra, np.full(5, 1e12)) == 5
    assert loaded.search(extra[0], k=1, since=1e12)[0].segment_id == n + 1


def test_save_replaces_the_file_whole_or_not_at_all(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "segments.index"
    first, _, _ = build(clustered(100, seed=20))
    first.save(path)
    second, _, _ = build(clustered(200, seed=21))
    second.save(path)
    assert len(SegmentIndex.load(path)) == 200

    def broken(index):
        raise RuntimeError("disk full")

    monkeypatch.setattr(similar._faiss(), "serialize_index", broken)  # the faiss module itself (loaded on first use)
    with pytest.raises(RuntimeError):
        first.save(path)
    assert len(SegmentIndex.load(path)) == 200
    assert [p.name for p in tmp_path.iterdir()] == ["segments.index"]


def test_a_bad_file_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    good = tmp_path / "good.index"
    build(clustered(300, seed=22))[0].save(good)
    data = good.read_bytes()
    truncated = tmp_path / "truncated.index"
    truncated.write_bytes(data[: len(data) // 2])
    flipped = tmp_path / "flipped.index"
    middle = len(data) // 2
    flipped.write_bytes(data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :])
    empty = tmp_path / "empty.index"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.index"
    garbage.write_bytes(b"not an index at all" * 10)
    other = tmp_path / "other.index"
    with open(other, "wb") as f:
        np.savez(f, meta=np.array('{"format": "something else"}'), ids=np.zeros(1))
    for path in (truncated, flipped, empty, garbage, other, tmp_path / "missing.index"):
        with pytest.raises(IndexFileError, match=str(path)):
            SegmentIndex.load(path)
    with pytest.raises(IndexFileError, match=f"{good}.*32"):
        SegmentIndex.load(good, dim=32)
    assert len(SegmentIndex.load(good, dim=DIM)) == 300
