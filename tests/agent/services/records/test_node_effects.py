"""Which nodes callers' valence fell after, on SQLite and PostgreSQL: the reading before a reply
and the last one within the window after it, unavailable readings ignored, replies without a
reading on both sides left out, calls before ``since`` left out, worst node first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agent.services.records.entries import CallOpened, ReplyLogged, StateChanged
from agent.services.records.node_effects import node_effects
from agent.services.records.rows import RowMaker
from agent.services.records.staff import StaffDirectory
from tests.agent.services.records.test_staff import directory  # noqa: F401 - the two-backend fixture

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def add(store, call_id: str, started: datetime, replies: list[tuple[float, str]],
        states: list[tuple[float, float, bool]]) -> None:
    entries = [CallOpened(call_id, started, "host-a", 1, "g-1", "sip:+15550100@example")]
    entries += [ReplyLogged(call_id, i, at, f"turn-{i}", i, node, "calm", "default") for i, (at, node) in enumerate(replies)]
    entries += [StateChanged(call_id, i, at, v, 0.5, "stable", 0.8, ok, None) for i, (at, v, ok) in enumerate(states)]
    maker = RowMaker(store.keys, keep_transcripts=False, expire_after=timedelta(days=1))
    store.apply([row for entry in entries for row in maker.rows(entry)])


def test_valence_change_after_each_node(directory: StaffDirectory) -> None:  # noqa: F811
    store = directory.store
    add(store, "call-a", T0, [(2.0, "start"), (10.0, "billing"), (25.0, "results")],
        [(5.0, 0.1, True), (20.0, 0.1, True), (45.0, -0.4, True)])
    add(store, "call-b", T0 + timedelta(hours=1), [(1.0, "results")],
        [(0.0, -0.2, True), (15.0, -0.9, False), (30.0, 0.2, True)])
    add(store, "call-old", T0 - timedelta(days=40), [(1.0, "billing")], [(0.0, 0.5, True), (20.0, -0.5, True)])
    effects = {e.node: e for e in node_effects(store, since=T0 - timedelta(days=1))}
    assert set(effects) == {"results", "billing"}  # "start" spoke before any reading
    results, billing = effects["results"], effects["billing"]
    assert (results.replies, results.calls, results.drop_share) == (2, 2, 0.5)
    assert results.mean_change == pytest.approx((-0.5 + 0.4) / 2)
    assert (billing.replies, billing.mean_change, billing.drop_share) == (1, pytest.approx(0.0), 0.0)
    assert [e.node for e in node_effects(store, since=T0 - timedelta(days=1))] == ["results", "billing"]
    everything = {e.node: e for e in node_effects(store)}
    assert everything["billing"].replies == 2 and everything["billing"].mean_change == pytest.approx(-0.5)
    assert [e.node for e in node_effects(store)][0] == "billing"  # now the worst
