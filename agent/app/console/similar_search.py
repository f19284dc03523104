"""Where the console runs "calls that sounded like this": in its own process, or in a child.

The search is FAISS (agent/services/records/similar.py). FAISS and pjsua2 are both SWIG modules
sharing one type table per interpreter; with both loaded, ``bedside serve``'s front process
stopped answering calls and crashed. So the console inside ``bedside serve`` searches in one
child process of its own (:class:`ChildProcessSearch`: spawned, so it inherits neither pjsip's
threads nor its modules; started on the first search, restarted if it dies, stopped with the
console), while ``bedside console``, which never loads pjsua2, searches in place
(:class:`InProcessSearch`)."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Protocol

from agent.services.records.config import RecordsConfig
from agent.services.records.similar_calls import IndexKeeper, SimilarResult, similar_to_call
from agent.services.records.store import RecordStore

SEARCH_TIMEOUT_S = 60.0  # a first search may build the index from the store (seconds at a million segments)


class SimilarSearch(Protocol):
    def search(self, call_id: str, k: int, max_queries: int | None = None) -> SimilarResult:
        """NotFound for no such call, QueryError for one without scored caller audio."""
        ...

    def close(self) -> None: ...


class InProcessSearch:
    """The index loaded in this process (``bedside console``, ``bedside records api``)."""

    def __init__(self, store: RecordStore, index_path: Path) -> None:
        self.store = store
        self.keeper = IndexKeeper(store, index_path)  # loaded on the first search

    def search(self, call_id: str, k: int, max_queries: int | None = None) -> SimilarResult:
        with self.keeper.synced() as index:
            return similar_to_call(self.store, index, call_id, k=k, max_queries=max_queries)

    def close(self) -> None:
        return None


class ChildProcessSearch:
    """The index loaded in a child process with its own connection to the records store."""

    def __init__(self, records: RecordsConfig) -> None:
        self.records = records
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _started(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                where = (self.records.database_url(), str(self.records.key_path()), str(self.records.index_path()))
                self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_open,
                                                 initargs=where)
            return self._pool

    def search(self, call_id: str, k: int, max_queries: int | None = None) -> SimilarResult:
        pool = self._started()
        try:
            return pool.submit(_search, call_id, k, max_queries).result(timeout=SEARCH_TIMEOUT_S)
        except BrokenProcessPool:
            with self._lock:  # the child died (killed, out of memory): the next search starts another
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)
            raise

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


# ---- in the child ----------------------------------------------------------------------------
_SEARCH: InProcessSearch | None = None


def _open(database_url: str, key_path: str, index_path: str) -> None:
    global _SEARCH  # the child's one search, made once when it starts
    from agent.services.records.crypto import KeyRing

    store = RecordStore(database_url, KeyRing.load(Path(key_path)))
    _SEARCH = InProcessSearch(store, Path(index_path))


def _search(call_id: str, k: int, max_queries: int | None) -> SimilarResult:
    assert _SEARCH is not None, "the search child did not open the store"
    return _SEARCH.search(call_id, k, max_queries)


__all__ = ["ChildProcessSearch", "InProcessSearch", "SimilarSearch"]
