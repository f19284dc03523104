"""Which turns upset callers: for each graph node, how the caller's valence moved after the agent
spoke from it, across the stored calls (the first design document's "which turn caused the
agitation").

For every reply spoken from a node, the caller's valence *before* is the last available window
state at or before the reply, and *after* the last available state within ``window_s`` after it
(the window needs a few segments to move: the default 30 s is the rolling window's length). A
reply with no state on either side is not counted. Per node: how many replies and calls, the mean
change, and the share of replies followed by a drop of more than ``drop`` (0.1: about a tenth of
the distance from neutral to the strongest negative reading). Nothing here is PHI: node names,
counts and valences."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

from sqlalchemy import select

from agent.services.records import schema
from agent.services.records.store import RecordStore

WINDOW_S = 30.0
DROP = 0.1


@dataclass(frozen=True)
class NodeEffect:
    node: str
    replies: int  # replies from this node with a reading before and after
    calls: int
    mean_change: float  # valence after - before, mean over those replies (-2..2)
    drop_share: float  # share of those replies followed by a drop of more than DROP

    def as_dict(self) -> dict[str, object]:
        return {"node": self.node, "replies": self.replies, "calls": self.calls,
                "mean_change": round(self.mean_change, 4), "drop_share": round(self.drop_share, 4)}


def node_effects(store: RecordStore, since: datetime | None = None, window_s: float = WINDOW_S,
                 drop: float = DROP) -> list[NodeEffect]:
    """Every node that has spoken in calls started from ``since``, worst mean change first."""
    c, r, e = schema.calls, schema.replies, schema.emotion_states
    in_range = select(c.c.id).where(c.c.started_at >= since) if since is not None else select(c.c.id)
    changes: dict[str, list[tuple[str, float]]] = {}
    with store.reading() as conn:
        replies = conn.execute(select(r.c.call_id, r.c.at_s, r.c.node).where(r.c.call_id.in_(in_range), r.c.node.is_not(None))
                               .order_by(r.c.call_id, r.c.seq)).all()
        states = conn.execute(select(e.c.call_id, e.c.at_s, e.c.valence).where(e.c.call_id.in_(in_range), e.c.available)
                              .order_by(e.c.call_id, e.c.at_s)).all()
    by_call = {call: ([s.at_s for s in rows], [s.valence for s in rows])
               for call, rows in ((k, list(g)) for k, g in groupby(states, key=lambda s: s.call_id))}
    for reply in replies:
        times, valences = by_call.get(reply.call_id, ([], []))
        before = bisect_right(times, reply.at_s) - 1
        after = bisect_right(times, reply.at_s + window_s) - 1
        if before < 0 or after <= before:
            continue
        changes.setdefault(reply.node, []).append((reply.call_id, valences[after] - valences[before]))
    effects = [
        NodeEffect(node, len(rows), len({call for call, _ in rows}), sum(d for _, d in rows) / len(rows),
                   sum(1 for _, d in rows if d < -drop) / len(rows))
        for node, rows in changes.items()
    ]
    return sorted(effects, key=lambda n: (n.mean_change, -n.replies, n.node))


__all__ = ["DROP", "WINDOW_S", "NodeEffect", "node_effects"]
