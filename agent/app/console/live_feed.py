"""A browser call's live state for the softphone page, taken from the call's own journal.

The call runtime already writes every fact the moment it happens (agent/services/records/
entries.py): the rolling window's state, each reply's node and expression, each turn's
latency, actions, the caller's words. :class:`LiveFeed` is that journal — it passes every entry
on to the records writer unchanged — and also sends a small JSON message per entry to the page
that placed the call. Words go to the page only with ``console.captions``, and to the records
store only when the store itself keeps transcripts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from agent.services.records.entries import (
    ActionLogged,
    CallClosed,
    Entry,
    Journal,
    ReplyLogged,
    SegmentScored,
    StateChanged,
    TranscriptLogged,
    TurnTimed,
)

Send = Callable[[dict[str, Any]], None]


def live_message(entry: Entry, captions: bool) -> dict[str, Any] | None:
    """The page's message for one journal entry (None: nothing to show)."""
    match entry:
        case StateChanged():
            return {"type": "state", "at_s": round(entry.at_s, 2), "valence": round(entry.valence, 3),
                    "arousal": round(entry.arousal, 3), "trend": entry.trend, "coherence": round(entry.coherence, 3),
                    "available": entry.available, "burst": entry.burst}
        case SegmentScored():
            return {"type": "segment", "begin_s": round(entry.begin_s, 2), "end_s": round(entry.end_s, 2),
                    "valence": round(entry.valence, 3), "arousal": round(entry.arousal, 3),
                    "burst": entry.burst, "burst_score": round(entry.burst_score, 3)}
        case ReplyLogged():
            return {"type": "reply", "at_s": round(entry.at_s, 2), "label": entry.label, "turn": entry.turn, "node": entry.node,
                    "expression": entry.expression, "why": entry.expression_why}
        case TurnTimed():
            return {"type": "turn", "turn": entry.turn, "speech_s": round(entry.speech_s, 2), "timings_ms": dict(entry.timings_ms)}
        case ActionLogged():
            # No slot values: the page shows what was decided, the review page the details.
            return {"type": "action", "kind": entry.kind, "node": entry.node, "target": entry.target,
                    "priority": entry.priority}
        case TranscriptLogged() if captions:
            return {"type": "caption", "at_s": round(entry.at_s, 2), "text": entry.text}
        case CallClosed():
            return {"type": "ended", "reason": entry.end_reason, "turns": entry.turns, "urgent": entry.urgent}
    return None


class LiveFeed:
    """A journal that is the records writer's journal plus the page's live view of the call."""

    def __init__(self, inner: Journal, send: Send, captions: bool) -> None:
        self.inner = inner
        self.send = send
        self.captions = captions
        self.keeps_transcripts = inner.keeps_transcripts or captions
        self.delivers_webhooks = inner.delivers_webhooks

    def write(self, entry: Entry) -> None:
        if not isinstance(entry, TranscriptLogged) or self.inner.keeps_transcripts:
            self.inner.write(entry)
        message = live_message(entry, self.captions)
        if message is not None:
            self.send(message)


__all__ = ["LiveFeed", "live_message"]
